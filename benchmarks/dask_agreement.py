"""How closely fits on Dask reproduce the in-memory fits: the numbers docs/dask.md quotes.

The cases of tests/test_distributed.py (manual examples 1-5, the 3-level random-slope
model), each fitted in memory, in memory with the rows reversed, and on a LocalCluster
(2 workers) in both modes (pooled statistics brought to the client; map-reduce). Prints
per case the largest differences, relative to each column's largest value (log
likelihood: relative), where the test asserts bounds only.

    python benchmarks/dask_agreement.py
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    import dask.dataframe as dd
    import distributed

    import semlevel as sl
    import semlevel.distributed  # noqa: F401
    from test_distributed import CASES, PROD, scaled_diff, slope_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    prod = sl.datasets.load("productivity")
    prod[PROD] = prod[PROD].astype(np.float32).astype(float)
    frames = {"pig": sl.datasets.load("pig"), "prod": prod, "sim": slope_data()}
    print(f"{'case':14} {'compared with':22} {'loglik':>8} {'estimate':>9} {'coef':>9} "
          f"{'coef se':>9} {'var se':>9}")
    modes = {"rows reversed": None, "Dask pooled": sl.distributed.POOL_LIMIT,
             "Dask map-reduce": 0.0}
    for name, (data, spec, *_) in CASES.items():
        df = frames[data]
        f1 = sl.mixed(spec, data=df)
        m2 = sl.mixed_model(spec, data=dd.from_pandas(df, npartitions=3))
        for label, limit in modes.items():
            f2 = sl.mixed(spec, data=df.iloc[::-1]) if limit is None else m2.fit(
                pool_limit=limit)
            row = [abs(f1.loglik - f2.loglik) / abs(f1.loglik),
                   scaled_diff(f1.random, f2.random, ["estimate"]),
                   scaled_diff(f1.fixed, f2.fixed, ["coef"]),
                   scaled_diff(f1.fixed, f2.fixed, ["se"]),
                   scaled_diff(f1.random, f2.random, ["se"])]
            print(f"{name:14} {label:22} " + " ".join(f"{x:9.1e}" for x in row), flush=True)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
