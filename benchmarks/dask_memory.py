"""Fit on Dask data several times larger than a worker's memory limit.

A LocalCluster of worker processes with a small memory limit; the data are simulated on
the workers, partition by partition (``dask.dataframe.from_map``), so neither the client
nor any worker ever holds them whole, and they are not persisted: every pass over the
partitions generates them anew (as a pass over Parquet files would read them again).
Prints the time of each step and the peak resident memory of every worker process.

    python benchmarks/dask_memory.py                      # 50M rows, 2 workers x 500 MB
    python benchmarks/dask_memory.py --rows 2e6 --memory-limit 300MB   # a quick run
    python benchmarks/dask_memory.py --jitter --pool-limit 0 --rows 4e6  # map-reduce mode
    python benchmarks/dask_memory.py --shuffle            # rows of a unit in any partition

Model: ``y x t || id: t, cov(un)``, 10 observations per id, t = 0..9 (``--jitter``: plus
U(0,1) per observation, so that no two ids pool and the statistics stay on the workers),
10% of y missing. Truth: y = 1 + 0.5 x + 0.8 t + u0 + u1 t + e, Var(u0) = 1,
Var(u1) = 0.25, Cov = 0, Var(e) = 0.49. The fit is checked against the truth and, on the
first partition's ids alone, against the in-memory engine.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

T_OBS = 10


def rows_of(c: int, t: int, per: int, n_ids: int, jitter: bool) -> pd.DataFrame:
    """Observation ``t`` of the ids of block ``c`` (ids c*per .. ), generated from seeds of
    (c) for the random effects and (c, t) for the rest: any pass regenerates them alike."""
    lo, hi = c * per, min((c + 1) * per, n_ids)
    n = hi - lo
    u = np.random.default_rng(1000 + c).normal(0.0, 1.0, (n, 2)) * [1.0, 0.5]
    rng = np.random.default_rng((1000 + c, t))
    tt = np.full(n, float(t)) + (rng.random(n) if jitter else 0.0)
    x = rng.standard_normal(n)
    y = 1.0 + 0.5 * x + 0.8 * tt + u[:, 0] + u[:, 1] * tt + rng.normal(0.0, 0.7, n)
    y[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"id": np.arange(lo, hi), "t": tt, "x": x, "y": y})


def simulate(block: tuple[int, int, int, int, bool, bool]) -> pd.DataFrame:
    """Partition ``b``: the ids of block b, indexed and sorted by id; or (``shuffled``)
    observation t of the ids of block (b - t) mod nb, so that each unit's rows are spread
    over ten partitions and the fit has to shuffle them."""
    b, nb, per, n_ids, jitter, shuffled = block
    if shuffled:
        return pd.concat([rows_of((b - t) % nb, t, per, n_ids, jitter) for t in range(T_OBS)],
                         ignore_index=True)
    frame = pd.concat([rows_of(b, t, per, n_ids, jitter) for t in range(T_OBS)])
    return frame.sort_values(["id", "t"], kind="stable").set_index("id")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=5e7, help="observations (default 5e7)")
    ap.add_argument("--partition-rows", type=float, default=1e5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="500MB", help="per worker")
    ap.add_argument("--jitter", action="store_true", help="continuous t: no pooling")
    ap.add_argument("--shuffle", action="store_true",
                    help="data not partitioned by id: semlevel shuffles them")
    ap.add_argument("--pool-limit", type=float, default=None,
                    help="bytes of merged statistics brought to the client")
    ap.add_argument("--check-rows", type=float, default=2e5,
                    help="rows of the in-memory cross-check")
    args = ap.parse_args(argv)

    import dask
    import dask.dataframe as dd
    from dask.utils import parse_bytes
    from distributed import Client, LocalCluster

    import semlevel as sl
    from semlevel.distributed import POOL_LIMIT

    warnings.simplefilter("ignore", UserWarning)
    n_ids = int(args.rows) // T_OBS
    per = max(int(args.partition_rows) // T_OBS, 1)
    nb = -(-n_ids // per)
    blocks = [(b, nb, per, n_ids, args.jitter, args.shuffle) for b in range(nb)]
    data_bytes = n_ids * T_OBS * 4 * 8
    limit = parse_bytes(args.memory_limit)
    spec = "y x t || id: t, cov(un)"
    print(f"data: {n_ids * T_OBS:,} rows x 4 float64/int64 columns = {data_bytes / 1e6:,.0f} MB"
          f" in {len(blocks)} partitions; {args.workers} workers x {args.memory_limit}"
          f" ({data_bytes / limit:.1f}x a worker's limit); model {spec!r}"
          + (", jittered t" if args.jitter else "") + (", shuffled" if args.shuffle else ""))
    dask.config.set({"distributed.worker.memory.target": 0.6,
                     "distributed.worker.memory.spill": 0.7})
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           memory_limit=args.memory_limit, dashboard_address=None)
    client = Client(cluster)
    base = client.run(peak_rss_mb)
    meta = simulate((0, 1, 1, 1, args.jitter, args.shuffle)).iloc[:0]
    if args.shuffle:
        ddf = dd.from_map(simulate, blocks, meta=meta, enforce_metadata=False)
    else:
        divisions = [b * per for b in range(nb)] + [n_ids - 1]
        ddf = dd.from_map(simulate, blocks, meta=meta, divisions=divisions,
                          enforce_metadata=False)
    t0 = time.perf_counter()
    model = sl.mixed_model(spec, data=ddf, persist=False)
    t1 = time.perf_counter()
    fit = model.fit(pool_limit=POOL_LIMIT if args.pool_limit is None else args.pool_limit)
    t2 = time.perf_counter()
    peak = client.run(peak_rss_mb)
    print(f"build (first pass: counts, slots; second: moments) {t1 - t0:8.1f} s")
    print(f"fit (statistics pass + optimisation)                {t2 - t1:8.1f} s "
          f"[{type(fit.stats).__name__}, {fit.optimization.evaluations} evaluations, "
          f"{fit.optimization.iterations} iterations, converged={fit.converged}]")
    print(f"client peak RSS {peak_rss_mb():.0f} MB")
    for w, mb in peak.items():
        print(f"worker {w}: peak RSS {mb:.0f} MB (at start {base.get(w, float('nan')):.0f} MB;"
              f" limit {limit / 2**20:.0f} MiB)")
    print(fit.summary())
    ok = fit.converged
    truth = {"t": 0.8, "x": 0.5, "_cons": 1.0}
    for term, value in truth.items():
        z = (fit.fixed.loc[term, "coef"] - value) / fit.fixed.loc[term, "se"]
        ok &= abs(z) < 5
    for lab, value in {"id: var(t)": 0.25, "id: var(_cons)": 1.0, "var(Residual)": 0.49,
                       "id: cov(t,_cons)": 0.0}.items():
        est, se = fit.random.loc[lab, "estimate"], fit.random.loc[lab, "se"]
        ok &= abs(est - value) < 5 * se
    # the in-memory engine on a part of the data (whole ids), against Dask on that part
    k = min(max(int(args.check_rows) // (per * T_OBS), 1), nb)
    part = pd.concat([rows_of(c, t, per, n_ids, args.jitter) for c in range(k)
                      for t in range(T_OBS)]).sort_values(["id", "t"], kind="stable")
    mem = sl.mixed(spec, data=part)
    on_dask = sl.mixed(spec, data=dd.from_pandas(part, npartitions=4), persist=False)
    diff = abs(mem.loglik - on_dask.loglik) / abs(mem.loglik)
    print(f"cross-check on {len(part):,} rows: log likelihood in memory {mem.loglik:.6f}, "
          f"on Dask {on_dask.loglik:.6f} (relative difference {diff:.1e})")
    ok &= diff < 1e-10
    client.close()
    cluster.close()
    print("check:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
