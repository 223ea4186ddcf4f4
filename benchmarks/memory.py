"""Peak memory of a fit relative to the data's size.

Run: python benchmarks/memory.py 3level 10000   (10^6 rows: 10,000 x 10 x 10)
     python benchmarks/memory.py slopes 100000  (10^6 rows: 100,000 groups x 10, random slopes)
Each run is a fresh process, so ru_maxrss measures this fit alone (the simulated data
have no school effect / no slope variance: the fits end at the boundary, as they should).
"""
import sys, resource, numpy as np, pandas as pd, semlevel as sl
kind, n_top = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
if kind == "3level":
    J, I = 10, 10
    n = n_top * J * I
    df = pd.DataFrame({"k": np.repeat(np.arange(n_top), J * I),
                       "j": np.tile(np.repeat(np.arange(1, J + 1), I), n_top),
                       "x": rng.normal(size=n)})
    df["y"] = 1 + 0.5 * df.x + np.repeat(rng.normal(size=n_top), J * I) + rng.normal(size=n)
    spec = "y x || k: || j:"
else:
    I = 10
    n = n_top * I
    df = pd.DataFrame({"id": np.repeat(np.arange(n_top), I), "t": rng.uniform(0, 9, n),
                       "x": rng.normal(size=n)})
    df["y"] = 1 + 0.5 * df.x + rng.normal(size=n)
    spec = "y x t || id: t, cov(un)"
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data_mb = df.memory_usage(deep=True).sum() / 2**20
fit = sl.mixed(spec, data=df)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{kind} rows={n} data={data_mb:.1f} MiB peak_rss_increase={(peak-base)/1024:.1f} MiB "
      f"ratio={(peak-base)/1024/data_mb:.1f} loglik={fit.loglik:.4f}")
