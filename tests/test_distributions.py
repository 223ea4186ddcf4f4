"""semlevel.distributions against scipy.stats: the normal tail and quantile and the
chi-squared tail are computed without scipy.special (its import costs every command
~0.1 s), so they are checked here over the ranges the tests of the package reach and
beyond (far tails, large degrees of freedom)."""
import numpy as np
import pytest
from scipy import stats

from semlevel.distributions import chi2_sf, f_sf, norm_ppf, norm_sf, t_ppf, t_sf


def test_normal_tail_and_quantile():
    x = np.r_[-40, -10, -3.3, -1.96, -0.1, 0.0, 1e-8, 0.5, 1.6448536, 2.5, 6, 12, 37.0]
    # (beyond x = 12 both erfc's carry ~1e-13 relative error, from rounding x / sqrt(2))
    np.testing.assert_allclose(norm_sf(x), stats.norm.sf(x), rtol=5e-13, atol=0)
    p = np.r_[1e-300, 1e-100, 1e-20, 1e-9, 0.001, 0.0242, 0.02425, 0.0243, 0.025, 0.3,
              0.5, 0.7, 0.975, 0.9757, 0.999, 1 - 1e-9, 1 - 1e-15]
    np.testing.assert_allclose(norm_ppf(p), stats.norm.ppf(p), rtol=1e-13, atol=1e-15)
    assert norm_ppf(0.0) == -np.inf and norm_ppf(1.0) == np.inf
    assert np.isnan(norm_ppf(1.5)) and np.isnan(norm_ppf(np.nan))
    assert isinstance(norm_ppf(0.975), float) and norm_ppf([0.5]).shape == (1,)
    assert norm_sf(np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 10, 25, 101, 400, 2001])
def test_chi2_tail_at_whole_degrees_of_freedom(df):
    x = np.r_[0.0, 1e-10, 1e-3, 0.5, 1, 3.84, df / 2, df, 2 * df, df + 10 * np.sqrt(2 * df),
              500, 1500, 3000]
    np.testing.assert_allclose(chi2_sf(x, df), stats.chi2.sf(x, df), rtol=1e-12, atol=1e-300)
    assert chi2_sf(-1.0, df) == 1.0 and chi2_sf(np.inf, df) == 0.0
    assert np.isnan(chi2_sf(np.nan, df))


def test_fractional_degrees_of_freedom_use_scipy():
    np.testing.assert_allclose(chi2_sf(3.2, 2.5), stats.chi2.sf(3.2, 2.5), rtol=1e-13)
    np.testing.assert_allclose(t_sf(2.1, 7.3), stats.t.sf(2.1, 7.3), rtol=1e-13)
    np.testing.assert_allclose(t_ppf(0.975, 7.3), stats.t.ppf(0.975, 7.3), rtol=1e-12)
    np.testing.assert_allclose(f_sf(2.5, 3, 17.4), stats.f.sf(2.5, 3, 17.4), rtol=1e-12)
    np.testing.assert_allclose(chi2_sf([1.0, 2.0], [1, 2]), stats.chi2.sf([1.0, 2.0], [1, 2]),
                               rtol=1e-13)
