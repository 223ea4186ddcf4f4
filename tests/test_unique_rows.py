"""engine.unique_rows returns exactly what np.unique(axis=0, return_index=True,
return_inverse=True) returns (the pooled statistics and the Dask pools rely on the same
numbering, hence the same order of every later sum)."""
import numpy as np
import pytest

from semlevel.engine.unique_rows import unique_rows


@pytest.mark.parametrize("shape,dtype", [((500, 7), float), ((300, 3), np.int64),
                                         ((1, 4), float), ((50, 1), float),
                                         ((1, 361), np.int64), ((20, 5), np.int64)])
def test_same_as_numpy(shape, dtype):
    rng = np.random.default_rng(7)
    base = rng.integers(-2, 3, (max(shape[0] // 10, 1), shape[1])).astype(dtype)
    if shape == (20, 5):
        base = base[:1]                     # every row the same
    a = base[rng.integers(0, len(base), shape[0])]
    if dtype is float:
        a = a / 4.0
        a[a == 0] = -0.0 if shape[0] > 10 else 0.0     # negative zeros equal zeros
    first, inv = unique_rows(a)
    _, f2, i2 = np.unique(a, axis=0, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(first, f2)
    np.testing.assert_array_equal(inv, i2.ravel())


@pytest.mark.parametrize("weights", ["colliding", "splitting"])
def test_the_hash_neither_merges_different_rows_nor_splits_equal_ones(monkeypatch, weights):
    """Rows are grouped by a hash first: where two different rows share a hash the rows
    themselves decide, and equal rows given different hashes (a product that rounds
    differently by position) still come out as one."""
    from semlevel.engine import unique_rows as module
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, (400, 6)).astype(float)
    if weights == "colliding":                  # equal weights: permuted rows collide
        monkeypatch.setattr(module, "_WEIGHTS", np.ones(4096))
        assert module._by_hash(a) is None
    else:                                       # equal rows, different hashes
        real = module._by_hash

        def split(x):
            first, inv = real(x)
            extra = np.flatnonzero(np.bincount(inv) > 1)[:3]     # groups of >1 row
            for g in extra:                     # move each one's last row to a group
                last = np.flatnonzero(inv == g)[-1]              # of its own
                inv = inv.copy()
                inv[last] = len(first)
                first = np.r_[first, last]
            return first, inv
        monkeypatch.setattr(module, "_by_hash", split)
    first, inv = unique_rows(a)
    _, f2, i2 = np.unique(a, axis=0, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(first, f2)
    np.testing.assert_array_equal(inv, i2.ravel())


def test_mixed_signed_zeros_are_one_row():
    a = np.array([[0.0, 1.0], [-0.0, 1.0], [2.0, 1.0]])
    first, inv = unique_rows(a)
    assert first.tolist() == [0, 2] and inv.tolist() == [0, 0, 1]


def test_unique_is_numpys():
    """semlevel.arrays.unique returns what np.unique(a) returns (values, dtype, shape;
    NaNs as one), for integers, floats with NaNs, complex, strings, booleans, 2-D input
    (flattened) and empty input."""
    from semlevel.arrays import unique
    rng = np.random.default_rng(1)
    cases = [rng.integers(0, 5, 100), rng.integers(-3, 10**6, 5000), rng.normal(size=50),
             np.r_[np.nan, 1.0, np.nan, 0.0, 1.0, -0.0], np.zeros(0), np.zeros(0, np.int64),
             np.array(["b", "a", "b"], dtype=object), np.array([[3, 1], [1, 2]]),
             np.array([1 + 1j, np.nan, 1 + 1j, complex(np.nan, 0)]),
             np.array([True, False, True])]
    for x in cases:
        a, b = unique(x), np.unique(x)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=x.dtype.kind in "fc")


def test_unique_inverse_is_numpys():
    """semlevel.arrays.unique_inverse returns np.unique(keys, return_inverse=True)'s
    answer on both of its routes (a table of a small span, pandas' factorize of a wide
    one) and for negative, unsigned, repeated and empty keys."""
    from semlevel.arrays import unique_inverse
    rng = np.random.default_rng(2)
    cases = [rng.integers(0, 12000, 20000), rng.integers(-50, 50, 300),
             rng.integers(0, 10**12, 500), np.full(70, 3), np.zeros(0, np.int64),
             rng.integers(0, 200, 100).astype(np.uint16), rng.integers(0, 9, 40).astype(np.int32)]
    for x in cases:
        u1, i1 = unique_inverse(x)
        u2, i2 = np.unique(x, return_inverse=True)
        assert u1.dtype == u2.dtype
        np.testing.assert_array_equal(u1, u2)
        np.testing.assert_array_equal(i1, i2.reshape(-1))


@pytest.mark.parametrize("contiguous", [True, False])
def test_group_sums_are_each_groups_own_sums(contiguous):
    """semlevel.arrays.group_sums: the sums by code (empty groups zero), along the first
    or the last axis, and each group's sum bit-identical wherever its rows lie (the
    same rows in another data set, another order of the other groups)."""
    from semlevel.arrays import group_sums
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 40, 600)
    codes[codes == 5] = 6                                   # group 5 empty
    if contiguous:
        codes = np.sort(codes)
    x = rng.normal(size=(600, 3)) * 10.0 ** rng.integers(-8, 8, (600, 1))
    got = group_sums(codes, x, 40)
    ref = np.array([x[codes == g].sum(axis=0) if (codes == g).any() else np.zeros(3)
                    for g in range(40)])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(x).max())
    assert not got[5].any()
    last = group_sums(codes, np.ascontiguousarray(x.T), 40, axis=-1)
    np.testing.assert_allclose(last.T, ref, rtol=1e-12, atol=1e-12 * np.abs(x).max())
    # group 6's rows alone, or after other groups' rows: the same bits
    rows6 = x[codes == 6]
    alone = group_sums(np.zeros(len(rows6), dtype=np.int64), rows6, 1)[0]
    assert np.array_equal(alone, got[6])
    alone_t = group_sums(np.zeros(len(rows6), dtype=np.int64),
                         np.ascontiguousarray(rows6.T), 1, axis=-1)[:, 0]
    assert np.array_equal(alone_t, last[:, 6])
    assert group_sums(np.zeros(0, dtype=np.int64), np.zeros((0, 3)), 4).shape == (4, 3)


def test_cross_products_at_once_or_pair_by_pair_are_the_same_bits(monkeypatch):
    """The pooled statistics sum the cross-products W_i W_j in one call for small data
    and pair by pair for large (memory): the two give the same bits."""
    import semlevel as sl
    from semlevel.engine import stats
    model = sl.mixed_model("weight week || id: week, cov(un)", data=sl.datasets.load("pig"))
    at_once = stats.pool_statistics(model)
    monkeypatch.setattr(stats, "PRODUCTS_AT_ONCE", 0)
    by_pair = stats.pool_statistics(model)
    assert np.array_equal(at_once.C, by_pair.C) and np.array_equal(at_once.T, by_pair.T)
