"""Check that a change to the evaluation leaves its numbers to the bit (a refactoring of
the engine that claims "the same bits" is checked with this).

    python benchmarks/same_bits.py dump after.npz          # in the changed tree
    (copy this file into a checkout of the earlier commit, run it there)
    python benchmarks/same_bits.py dump before.npz
    python benchmarks/same_bits.py compare before.npz after.npz

The dump holds, for five of the manual's pig models at three perturbed starts each: the
ML and REML deviance and gradient, a complex-step gradient, the expected information,
and the fitted label values of the whole fit (95 arrays).
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

SPECS = ("weight week || id:", "weight week || id: week", "weight week || id: week, cov(un)",
         "weight week || id:, reml", "weight week || id: week, cov(exch)")


def dump(path: str) -> None:
    import semlevel as sl
    from semlevel.engine import deviance
    from semlevel.engine import fitting as F
    info = getattr(deviance, "information_at", None) or deviance.expected_information
    warnings.simplefilter("ignore")
    pig = sl.datasets.load("pig")
    out = {}
    for i, spec in enumerate(SPECS):
        m = sl.mixed_model(spec, data=pig)
        st = F._statistics(m, None)
        s = F._start(m, st)
        rng = np.random.default_rng(i)
        for j in range(3):
            v = s * (1 + 0.2 * rng.random(len(s)))
            for reml in (False, True):
                e = deviance.evaluate(v, st, reml, True, True)
                out[f"{i}_{j}_{reml}_dev"] = np.array([e.deviance])
                out[f"{i}_{j}_{reml}_grad"] = e.gradient
            vc = v.astype(complex)
            vc[-1] += 1e-20j
            out[f"{i}_{j}_cgrad"] = deviance.evaluate(vc, st, False, True, False).gradient
            out[f"{i}_{j}_info"] = info(v, st)
        out[f"{i}_fit"] = sl.mixed(spec, data=pig).values
    np.savez(path, **out)
    print(f"{len(out)} arrays written to {path}")


def compare(a: str, b: str) -> int:
    x, y = np.load(a), np.load(b)
    differ = [k for k in x.files if k not in y.files or x[k].tobytes() != y[k].tobytes()]
    print(f"{len(x.files)} arrays; {len(differ)} differ" + (f": {differ}" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
