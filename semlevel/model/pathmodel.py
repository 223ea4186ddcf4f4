"""PathModel: the wide-form path model of a multilevel model, with its equality labels.

Every parameter occurrence carries a *label*; occurrences that share a label are
constrained equal (the mixed model's assumptions). The structure is held in compact
arrays over slots and latents, from which the parameter table (one row per occurrence,
lavaan style) and the ``networkx`` graph are derived on demand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..columns import ColumnTable, FrameField, columns_of, replace_fields
from ..data.wide import WideData, slot_name
from ..services import service
from .info import ModelInfo, as_info
from .label_kinds import LabelKind

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from ..results import Fit

__all__ = ["PathModel", "LABEL_KINDS"]

#: kinds of label: fixed-effect coefficient, latent variance / covariance,
#: residual variance / covariance
#: every label kind (:class:`~.label_kinds.LabelKind`; roles and CI scales there)
LABEL_KINDS = tuple(kind.value for kind in LabelKind)

@dataclass(frozen=True, eq=False, repr=False)
class PathModel:
    """A constrained SEM on wide data.

    Attributes
    ----------
    data : WideData
        The observations arranged by top-level row and slot.
    labels : DataFrame
        One row per label (index = label name as the user sees it) with columns
        ``kind`` (one of :data:`LABEL_KINDS`), ``free`` (bool), ``value`` (start value,
        or the fixed value when not free), ``block`` (display group, e.g. ``id: Unstructured``).
    terms : list[str]
        Fixed-effect terms; ``X[:, t]`` is the covariate of term ``t`` in every slot.
    X : ndarray (n_obs, n_terms)
        Covariate values of the observations (sorted as ``data``).
    path_label : ndarray (n_slots, n_terms) of int
        Label (row of ``labels``) of the path from term ``t`` to the outcome in slot ``s``.
    resid_label : ndarray (n_slots,) of int
        Label of the residual variance of each slot.
    latents : DataFrame
        One row per latent variable: ``name``, ``level``, ``key`` (slot-key prefix),
        ``effect`` (random-effect label, e.g. ``_cons`` or ``week``), ``equation``.
    effects : DataFrame
        One row per random effect of the mixed specification (``level``, ``equation``,
        ``effect``, ``variable`` of its definition-variable loading or None).
    Z : ndarray (n_obs, n_effects)
        Loading values: 1 for intercepts, the definition variable's value for slopes.
    effect_latent : ndarray (n_slots, n_effects) of int
        Latent on which effect ``e`` loads in slot ``s``.
    phi : DataFrame
        Latent (co)variances: columns ``a``, ``b`` (latent rows, a <= b), ``label``.
    theta : DataFrame
        Residual covariances between slots: columns ``s``, ``t`` (slots, s < t), ``label``
        (empty for the mixed model: independent errors).
    obs_resid_label : ndarray (n_obs,) of int, optional
        Residual-variance label of each observation, when it depends on more than the slot
        (labels by a grouping variable: ``relax(..., by=)``, ``residuals(..., by())``).
    obs_group : ndarray (n_obs,) of int, optional
        Code of each observation's group of that variable (``info["by"]`` names it);
        ``phi`` and ``theta`` rows with a ``group`` column apply only within that group
        (-1: every group).
    """

    data: WideData
    labels: pd.DataFrame = FrameField()
    terms: list[str]
    X: np.ndarray
    path_label: np.ndarray
    resid_label: np.ndarray
    latents: pd.DataFrame = FrameField()
    effects: pd.DataFrame = FrameField()
    Z: np.ndarray
    effect_latent: np.ndarray
    phi: pd.DataFrame = FrameField()
    theta: pd.DataFrame = FrameField(default=ColumnTable(
        {"s": np.zeros(0, np.int64), "t": np.zeros(0, np.int64),
         "label": np.zeros(0, np.int64)}))
    obs_resid_label: np.ndarray | None = None
    obs_group: np.ndarray | None = None
    reml: bool = False
    title: str = "Mixed-effects"
    info: ModelInfo = field(default_factory=ModelInfo)

    def __post_init__(self) -> None:
        # typed state (model/info.py); a mapping of its field names is converted
        if not isinstance(self.info, ModelInfo):
            object.__setattr__(self, "info", as_info(self.info))

    def __repr__(self) -> str:
        """One screen: outcome, rows, observations, levels and labels (the arrays are
        ``data``, ``labels``, ``table``)."""
        levels = ", ".join(self.data.hierarchy.levels)
        return (f"<semlevel PathModel: {self.outcome} on {self.data.n_obs} observations in "
                f"{self.data.n_rows} rows ({levels}); {len(self.label_table)} labels, "
                f"{self.n_free} "
                f"free; {'REML' if self.reml else 'ML'}>")

    # ---- derived views -------------------------------------------------------------
    @property
    def outcome(self) -> str:
        return self.data.outcome

    @property
    def n_free(self) -> int:
        """Number of free parameters (what AIC and BIC count)."""
        return int(self.label_table["free"].sum())

    # the tables as columns (what the engine reads; the attributes are their DataFrames)
    label_table = columns_of("labels")
    latent_table = columns_of("latents")
    effect_table = columns_of("effects")
    phi_table = columns_of("phi")
    theta_table = columns_of("theta")

    @cached_property
    def _label_rows(self) -> dict[str, int]:
        return {str(n): i for i, n in enumerate(self.label_table.index)}

    def label_positions(self, names) -> np.ndarray:
        """Rows of ``names`` in ``labels`` (-1 for a name that is not a label), as
        ``labels.index.get_indexer(names)``."""
        rows = self._label_rows
        return np.array([rows.get(n, -1) for n in names], dtype=np.int64)

    def resid_of_obs(self) -> np.ndarray:
        """Residual-variance label of every observation."""
        if self.obs_resid_label is not None:
            return self.obs_resid_label
        return self.resid_label[self.data.slot]

    def group_of(self, table: "pd.DataFrame | ColumnTable") -> np.ndarray:
        """The ``group`` column of a phi/theta table (-1, every group, when absent)."""
        if "group" in table:
            return np.asarray(table["group"], dtype=np.int64)
        return np.full(len(table), -1, dtype=np.int64)

    def label_index(self, name: str) -> int:
        """Row of a label in ``labels``; a clear error names unknown labels."""
        if not isinstance(name, str):
            raise TypeError(f"a label is a string such as 'var(Residual)', not "
                            f"{type(name).__name__} ({name!r})")
        try:
            return self._label_rows[name]
        except KeyError:
            import difflib
            close = difflib.get_close_matches(name, list(self._label_rows), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise KeyError(f"no label {name!r} in this model{hint}") from None

    @cached_property
    def table(self) -> pd.DataFrame:
        """Parameter table: one row per parameter occurrence (lavaan's ``parTable``).

        Columns: ``lhs``, ``op`` (``~`` regression path, ``=~`` loading, ``~~``
        (co)variance), ``rhs``, ``label``, ``free``, ``value`` (fixed value or start),
        ``estimate`` (filled after a fit).
        """
        lab = self.labels
        names = lab.index.to_numpy()
        slot_y = np.array(self.data.slot_names())
        rows: list[pd.DataFrame] = []
        p, k = self.path_label.shape
        if k:
            s_idx, t_idx = np.divmod(np.arange(p * k), k)
            terms = np.array(self.terms, dtype=object)
            rhs = [slot_name(t, self.data.slot_keys(s)) if t != "_cons" else "_cons"
                   for s, t in zip(s_idx, terms[t_idx])] if p * k <= 200_000 else terms[t_idx]
            rows.append(pd.DataFrame({"lhs": slot_y[s_idx], "op": "~", "rhs": rhs,
                                      "label": names[self.path_label.ravel()]}))
        lat_names = self.latents["name"].to_numpy()
        for e, eff in self.effects.iterrows():
            lat = self.effect_latent[:, e]
            ok = lat >= 0
            var = eff["variable"]
            rows.append(pd.DataFrame({"lhs": lat_names[lat[ok]], "op": "=~",
                                      "rhs": slot_y[ok], "label": "",
                                      "fixed_value": 1.0 if pd.isna(var) else np.nan,
                                      "definition": var}))
        if len(self.phi):
            a, b = self.phi["a"].to_numpy(), self.phi["b"].to_numpy()
            rows.append(pd.DataFrame({"lhs": lat_names[a], "op": "~~", "rhs": lat_names[b],
                                      "label": names[self.phi["label"].to_numpy()]}))
        err = np.array([f"e.{n}" for n in slot_y])
        rows.append(pd.DataFrame({"lhs": err, "op": "~~", "rhs": err,
                                  "label": names[self.resid_label]}))
        if len(self.theta):
            s_, t_ = self.theta["s"].to_numpy(), self.theta["t"].to_numpy()
            rows.append(pd.DataFrame({"lhs": err[s_], "op": "~~", "rhs": err[t_],
                                      "label": names[self.theta["label"].to_numpy()]}))
        out = pd.concat(rows, ignore_index=True)
        labelled = out["label"] != ""
        idx = lab.index.get_indexer(out["label"].where(labelled, names[0]))
        out["free"] = np.where(labelled, lab["free"].to_numpy()[idx], False)
        val = np.where(labelled, lab["value"].to_numpy()[idx], np.nan)
        if "fixed_value" in out:
            val = np.where(out["fixed_value"].notna(), out["fixed_value"], val)
            out = out.drop(columns="fixed_value")
        out["value"] = val
        if "estimate" in lab:
            out["estimate"] = np.where(labelled, lab["estimate"].to_numpy()[idx], out["value"])
        return out

    @cached_property
    def graph(self) -> "nx.DiGraph":
        """The path diagram as a ``networkx.DiGraph``.

        Nodes carry ``kind`` (``observed``, ``covariate``, ``latent``, ``error``);
        directed edges are paths (``label``, ``value``, ``definition`` for definition-
        variable loadings); (co)variances are edges with ``two_headed=True``.
        """
        import networkx as nx          # imported here: 0.13 s that most fits never need
        g = nx.DiGraph()
        tab = self.table
        for _, r in tab.iterrows():
            lhs, rhs, op = r["lhs"], r["rhs"], r["op"]
            if op == "~":
                g.add_node(lhs, kind="observed")
                g.add_node(rhs, kind="covariate")
                g.add_edge(rhs, lhs, label=r["label"], value=r["value"], two_headed=False)
            elif op == "=~":
                g.add_node(lhs, kind="latent")
                g.add_node(rhs, kind="observed")
                g.add_edge(lhs, rhs, label="", value=r["value"],
                           definition=r.get("definition"), two_headed=False)
            else:
                kind = "error" if str(lhs).startswith("e.") else "latent"
                g.add_node(lhs, kind=kind)
                g.add_node(rhs, kind=kind)
                if kind == "error":
                    g.add_edge(lhs, lhs[2:], label="", value=1.0, two_headed=False)
                g.add_edge(lhs, rhs, label=r["label"], value=r["value"], two_headed=True)
        return g

    # ---- operations ----------------------------------------------------------------
    def with_labels(self, labels: pd.DataFrame, **changes) -> "PathModel":
        """A copy of this model with a new label table (and other fields replaced)."""
        return self.replace(labels=labels, **changes)

    def replace(self, **changes) -> "PathModel":
        """A copy of this model with fields replaced (``dataclasses.replace``, without
        making the DataFrames of the tables it keeps)."""
        return replace_fields(self, **changes)

    def members(self, label: str) -> pd.DataFrame:
        """The parameter occurrences that share ``label`` (see :mod:`.relax`)."""
        from .relax import members
        return members(self, label)

    def relax(self, label: str, groups: dict | None = None, by: str | None = None
              ) -> "PathModel":
        """New model with ``label`` released: one free parameter per member (or group of
        members, or value of the variable ``by``)."""
        from .relax import relax
        return relax(self, label, groups, by)

    def correlate(self, a: str, b: str, label: str | None = None) -> "PathModel":
        """New model with a free (or ``label``-shared) covariance between latents a and b."""
        from .relax import correlate
        return correlate(self, a, b, label)

    def constrain(self, *labels: str, name: str | None = None) -> "PathModel":
        """New model in which ``labels`` are one parameter."""
        from .relax import constrain
        return constrain(self, *labels, name=name)

    def fix(self, label: str, value: float) -> "PathModel":
        """New model with ``label`` fixed at ``value``."""
        from .relax import fix
        return fix(self, label, value)

    def free(self, label: str) -> "PathModel":
        """New model with ``label`` estimated."""
        from .relax import free
        return free(self, label)

    def regress(self, var: str, on, correlated: bool = False):
        """A general model in which covariate ``var`` is regressed on ``on`` (endogenous
        covariate; see :mod:`.sem`), fitted by FIML with dense RAM algebra."""
        from .sem import sem_model
        on = [on] if isinstance(on, str) else list(on)
        return sem_model(self, {var: on}, correlated)

    def path(self, target: str, source: str, label: str | None = None):
        """A general model with the outcome of slot ``target`` regressed on that of slot
        ``source`` (e.g. ``"y[obs=2]"`` on ``"y[obs=1]"``); see :mod:`.sem`."""
        from .sem import sem_model
        return sem_model(self, {}, False, [(target, source, label or f"{target} <- {source}")])

    def implied(self, row: int = 0, symbolic: bool = True):
        """The implied mean vector and covariance matrix of wide row ``row`` in the
        labels' symbols (sympy): ``.mean``, ``.cov``, ``.to_latex()``, ``.pattern()``
        (which entries share which parameters) and ``.numeric(values)``. See
        :mod:`semlevel.model.implied`."""
        if not symbolic:
            raise ValueError("implied(symbolic=False): use fit.wcorrelation(row, "
                             "correlation=False) for the numeric implied covariance")
        from .implied import implied_moments
        return implied_moments(self, row)

    def fit(self, log: bool = False, **options) -> "Fit":
        """Fit this model by FIML (ML, or REML when ``self.reml``) with the one engine.

        ``log=True`` prints the iteration log (:mod:`semlevel.output.iterlog`)."""
        if log and options.get("callback") is None:
            options["callback"] = service("iteration_log")(self.reml)
        return service("fit")(self, **options)

    def fit_at(self, values: dict[str, float]) -> "Fit":
        """Evaluate (without optimising) at given variance-parameter values by label."""
        return service("fit_at")(self, values)

    def diagram(self, **options):
        """Path diagram (a ``graphviz.Digraph``); options: ``semlevel.diagram.DiagramOptions``."""
        return service("diagram")(self, **options)
