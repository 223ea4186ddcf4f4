"""Regenerate the article's path diagrams as SVG: ``python diagrams/make_figures.py``.

The models are the article's (seeds/001): the 2x2 model ``y x || k: || j:`` with two
schools j per county k and two pupils per school, before and after estimation; the
county model with ten schools (five counties j of two schools each) and its relaxed
variants; a collapsed view of a 100-slot model; the compact multilevel notation of a
random-slope model; the default (auto) view of the pig random-slope model and the 2x2
model's standardized solution. Data are simulated (the pig data are shipped) (tests/simulate.py), so the figures are the same on
every run; rendering is deterministic (same model, same bytes).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import semlevel as sl  # noqa: E402
from simulate import article, two_level  # noqa: E402

#: the article's short labels
ARTICLE_LABELS = {"x": "B", "_cons": "c", "j: var(_cons)": "S_v", "var(Residual)": "S_e",
                  "k: var(_cons)": "S_u"}
SCHOOLS = ["pub1", "pub2", "prv1", "pub3", "prv2", "chr1", "pub4", "prv3", "chr2", "chr3"]
COUNTIES = ["N1", "N2", "N3", "S1", "S2"]


def article_2x2():
    return sl.mixed_model("y x || k: || j:", data=article(2013, K=100, J=2, I=2))


def county_model():
    """Ten schools: five counties (j) of two schools each, the wide row is k."""
    return sl.mixed_model("y x || k: || j:", data=article(2013, K=200, J=5, I=2))


def county_names(model) -> dict:
    names = {"k": "U"}
    names.update({f"j{i + 1}": c for i, c in enumerate(COUNTIES)})
    for slot, school in zip(model.data.slot_names(), SCHOOLS):
        names[slot] = school
        names["e." + slot] = f"ε{SCHOOLS.index(school) + 1}"
    for slot, school in zip(model.data.slot_names("x"), SCHOOLS):
        names[slot] = f"x.{school}"
    return names


def figures() -> dict:
    out = {}
    m = article_2x2()
    names = {"k": "U", "j1": "V1", "j2": "V2"}
    out["article_2x2_labels"] = m.diagram(labels=ARTICLE_LABELS, names=names)
    fit = m.fit()
    out["article_2x2_estimates"] = fit.diagram(names=names, se=True)

    c = county_model()
    cn = county_names(c)
    out["county_10_schools"] = c.diagram(labels=ARTICLE_LABELS, names=cn)
    north = c
    for a, b in [("j[1]", "j[2]"), ("j[1]", "j[3]"), ("j[2]", "j[3]"), ("j[4]", "j[5]")]:
        north = north.correlate(a, b)
    out["county_correlated_counties"] = north.diagram(
        labels={**ARTICLE_LABELS, "cov(j[1],j[2])": "c12", "cov(j[1],j[3])": "c13",
                "cov(j[2],j[3])": "c23", "cov(j[4],j[5])": "c45"}, names=cn)
    ns = c.relax("j: var(_cons)", groups={"j=1": "N", "j=2": "N", "j=3": "N",
                                          "j=4": "S", "j=5": "S"})
    out["county_north_south_variances"] = ns.diagram(labels=ARTICLE_LABELS, names=cn)
    # the article's last figure: N/S variances and correlated errors of the public schools
    slots = c.data.slot_names()
    public = [f"e.{slots[i]}" for i, s in enumerate(SCHOOLS) if s.startswith("pub")]
    pe = ns
    for i, a in enumerate(public):
        for b in public[i + 1:]:
            pe = pe.correlate(a, b)
    out["county_ns_public_errors"] = pe.diagram(labels=ARTICLE_LABELS, names=cn)

    big = sl.mixed_model("y x || k: || j:", data=article(7, K=40, J=25, I=4))
    out["collapsed_100_slots"] = big.diagram(labels=ARTICLE_LABELS)
    slope = sl.mixed("y x || id: t, cov(un)", data=two_level(1)).diagram
    out["random_slope_multilevel"] = slope(view="multilevel", se=True)
    out["random_slope_collapsed"] = slope(view="collapsed", se=True, stars=True)
    # what a user gets first: the default (auto) view of a random slope, and the
    # standardized solution (fit.standardized(): std.all with delta-method SEs)
    pig = sl.datasets.load("pig")
    pig_slope = sl.mixed("weight week || id: week", data=pig)
    out["pig_random_slope_default"] = pig_slope.diagram()
    out["article_2x2_standardized"] = fit.diagram(names=names, standardized=True, se=True)
    return out


def main() -> None:
    for name, g in figures().items():
        path = HERE / f"{name}.svg"
        sl.render(g, path)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
