"""The article's second story, end to end: children in schools in counties.

Run after ``python -m pip install -e .``::

    python examples/article_story.py

The article (``seeds/001``) draws five counties, three northern (N1-N3) and two southern
(S1, S2), each with two schools: four public (pub1-pub4), three private (prv1-prv3) and
three church schools (chr1-chr3). Once the mixed model is written as a path model on the
wide data, the county and school names are the *slot keys*: every region (the wide row)
has the same ten school columns, and "county N1" or "school pub2" means the same position
in every row. The mixed model's assumptions are then equality labels, and the story asks
the article's three questions with score tests (no refit) and modification indices:

* are the effects within a grouping homoskedastic? (northern vs southern counties)
* are effects or sets of effects uncorrelated? (northern counties, public schools)
* then relaxes what they flag and compares the fits by LR tests and AIC/BIC.

The data are simulated here with exactly those departures: county effects with variance
0.8 in the north and 0.2 in the south, northern counties correlated 0.5 with each other,
and public schools' effects correlated 0.5 with each other (the article's "correlated
public-school errors": with several children per school, the school's own deviation is its
latent effect, and the children's residuals stay independent). Residual covariances between
slots are available too (``correlate("e.y[...]", "e.y[...]")``); they take the dense
per-row evaluation path, so this example keeps to the latent effects.
"""
import time

import numpy as np
import pandas as pd

import semlevel as sl

pd.set_option("display.width", 110)
pd.set_option("display.max_columns", 12)
start = time.perf_counter()

COUNTIES = {"N1": ["pub1", "prv1"], "N2": ["pub2", "chr1"], "N3": ["pub3", "prv2"],
            "S1": ["pub4", "chr2"], "S2": ["prv3", "chr3"]}
NORTH = ["county=N1", "county=N2", "county=N3"]
SOUTH = ["county=S1", "county=S2"]


def simulate(seed=2013, n_regions=200):
    """Long data: region, county, school, kid, x, y (8% of y missing, 1-4 kids a school).

    y = 50 + 2 x + region + county + school + e, with Var(region) = 0.3, county variance
    0.8 (north) / 0.2 (south), corr 0.5 between northern counties, school variance 0.3,
    corr 0.5 between public schools, Var(e) = 1.
    """
    rng = np.random.default_rng(seed)
    counties = list(COUNTIES)
    schools = [s for c in counties for s in COUNTIES[c]]
    north = np.array([c.startswith("N") for c in counties])
    sd = np.where(north, np.sqrt(0.8), np.sqrt(0.2))
    R = np.where(np.outer(north, north), 0.5, 0.0)
    np.fill_diagonal(R, 1.0)
    public = np.array([s.startswith("pub") for s in schools])
    P = np.where(np.outer(public, public), 0.5, 0.0)
    np.fill_diagonal(P, 1.0)
    U = rng.normal(0.0, np.sqrt(0.3), n_regions)
    V = rng.standard_normal((n_regions, 5)) @ np.linalg.cholesky(R * np.outer(sd, sd)).T
    W = rng.standard_normal((n_regions, 10)) @ np.linalg.cholesky(0.3 * P).T
    rows = []
    for r in range(n_regions):
        for ci, county in enumerate(counties):
            for school in COUNTIES[county]:
                si = schools.index(school)
                for kid in range(1, rng.integers(2, 6)):
                    x = rng.normal()
                    y = 50 + 2 * x + U[r] + V[r, ci] + W[r, si] + rng.normal()
                    rows.append((r + 1, county, school, kid, x, y))
    df = pd.DataFrame(rows, columns=["region", "county", "school", "kid", "x", "y"])
    df.loc[rng.random(len(df)) < 0.08, "y"] = np.nan
    return df


def show(title, table, **formats):
    """Print a table under a title; p-values as 0.0000, other numbers to 4 digits."""
    fmt = {c: (lambda v: f"{v:.4f}") for c in table.columns if c == "p"}
    fmt.update(formats)
    print(f"\n--- {title}")
    print(table.to_string(formatters=fmt, float_format=lambda v: f"{v:.4g}", na_rep=""))


def lr_line(big, small):
    return str(big.lrtest(small)).splitlines()[0]


def main():
    df = simulate()
    print(f"{df['region'].nunique()} regions x 5 counties x 2 schools, {len(df)} children "
          f"({df['y'].isna().sum()} scores missing)")

    # 1. The mixed model: one variance per level, everything uncorrelated ---------------------
    spec = "y x || region: || county: || school:"
    mixed = sl.mixed(spec, data=df)
    print(f"\n. mixed {spec}\n")
    print(mixed.summary())
    m = mixed.model
    print("latents of one wide row:", ", ".join(m.latents["name"]))

    # 2. Score tests: is each equality label of the variances true? (no refit) ---------------
    #    Joint test of releasing the label (df = members - 1), one row per member with
    #    univariate=True, and generalized tests of any release through `releases=`.
    publics = [n for n in m.latents["name"] if "pub" in n]


    def north_south(model):
        return model.relax("county: var(_cons)", groups={"N": NORTH, "S": SOUTH})


    def correlate_all(model, names, label=None):
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                model = model.correlate(a, b, label=label)
        return model


    northern = ["county[N1]", "county[N2]", "county[N3]"]
    score = mixed.scoretests(
        labels=["county: var(_cons)", "school: var(_cons)"], univariate=True,
        releases={"N/S variances": north_south,
                  "northern counties correlated": lambda mm: correlate_all(mm, northern),
                  "public schools equally correlated":
                      lambda mm: correlate_all(mm, publics, label="rho(pub)")})
    show("score tests of the mixed model's constraints (expected information)",
         score[["chi2", "df", "p"]])
    # (fixed-effect and residual labels are tested the same way, e.g. labels=["x"]; each
    # releases one parameter per slot, so with 10 schools x 4 children they are large tests)

    # 3. Relax what they flag: northern and southern counties get their own variance --------
    fit_ns = north_south(m).fit()
    print("\nN/S variances vs mixed:", lr_line(fit_ns, mixed))

    # 4. Modification indices of the N/S model: which covariances fixed at 0 would help? ----
    #    One df-1 score test per pair of latents that share a row (120 pairs here), with the
    #    expected change of the covariance (epc) and that change scaled by the two SDs (sepc,
    #    not a fitted correlation, so it can exceed 1). With 120 candidates a few indices
    #    near 7-10 are expected by chance: read the pattern (northern pairs, public pairs) and
    #    test the family as one release, as the generalized score tests above did.
    mi = fit_ns.modindices()
    show("largest modification indices of the N/S model (score tests, df 1; epc = expected "
         "covariance, sepc = as a correlation)",
         mi.sort_values("mi", ascending=False).head(8).reset_index(drop=True))

    # 5. Correlate the northern counties (three free covariances), then ask whether one
    #    correlation would do, and correlate the public schools equally (one shared label) ----
    fit_corr = correlate_all(north_south(m), northern).fit()
    print("\n+ northern counties correlated vs N/S:", lr_line(fit_corr, fit_ns))
    fit_eq = correlate_all(north_south(m), northern, label="cov(north)").fit()
    print("one northern covariance vs three:", lr_line(fit_corr, fit_eq))
    fit_pub = correlate_all(fit_eq.model, publics, label="rho(pub)").fit()
    print("+ public schools equally correlated:", lr_line(fit_pub, fit_eq))

    # 6. Model comparison: LR tests between consecutive nested fits and AIC/BIC ---------------
    table = sl.compare(mixed, fit_ns, fit_eq, fit_pub,
                       names=["mixed", "N/S variances", "+ corr. north (1 label)",
                              "+ corr. public (1 label)"])
    show("AIC/BIC (LR test against the previous row)",
         table[["n_params", "loglik", "aic", "bic", "delta_aic", "delta_bic", "lr", "df", "p"]],
         **{c: (lambda v: f"{v:.2f}") for c in ["loglik", "aic", "bic", "delta_aic", "delta_bic"]},
         lr=lambda v: "" if np.isnan(v) else f"{v:.2f}", df=lambda v: "" if np.isnan(v) else f"{v:.0f}",
         p=lambda v: "" if np.isnan(v) else f"{v:.4f}")

    # 7. The final model: estimates next to the truth, and its own remaining constraints -----
    est = fit_pub.random["estimate"]
    sd = fit_pub.random_sd["estimate"]
    truth = pd.DataFrame({
        "estimate": [est["region: var(_cons)"], est["N"], est["S"], est["cov(north)"],
                     est["school: var(_cons)"], est["rho(pub)"], est["var(Residual)"]],
        "truth": [0.3, 0.8, 0.2, 0.4, 0.3, 0.15, 1.0]},
        index=["var(region)", "var(north county)", "var(south county)", "cov(northern counties)",
               "var(school)", "cov(public schools)", "var(Residual)"])
    show("final model vs the simulation", truth)
    left = fit_pub.scoretests(labels=["N", "S", "school: var(_cons)"])
    show("score tests of the final model's remaining equality labels", left[["chi2", "df", "p"]])
    print(f"\n(done in {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
