"""Monte Carlo validation (experiments.validate, analysis.designs): known-truth properties at small R."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

from analysis.designs import get_design
from analysis.designs.psm_selection import population_att
from analysis.designs.staggered_cohort_effects import staggered_panel, twfe_weights
from analysis.fixed_effects import TwoWayFE
from experiments.validate import ValidationError, coverage_band, validate, write


def band(reps: int, prob: float = 0.999) -> tuple[float, float]:
    lo, hi = stats.binom.interval(prob, reps, 0.95)
    return lo / reps, hi / reps


def row(v, spec_start: str, estimand: str) -> pd.Series:
    s = v.summary
    hit = s[s["spec"].str.startswith(spec_start) & (s["estimand"] == estimand)]
    assert len(hit) == 1, (spec_start, estimand, list(s["spec"]))
    return hit.iloc[0]


def test_cs_unbiased_and_twfe_biased_on_cohort_effects():
    v = validate("twfe,csdid", reps=40, design="cohort_effects", sizes={"n": 300}, seed=11)
    cs, tw, tw_own = (row(v, "Callaway", "att"), row(v, "Two-way FE vs the ATT", "att"),
                      row(v, "Two-way FE vs its weighted", "twfe_weighted"))
    assert abs(cs["bias_z"]) < 3, f"CS bias {cs['bias']:.4f} is {cs['bias_z']:.2f} MC SE from the ATT"
    lo, hi = band(40)
    assert lo <= cs["coverage"] <= hi, f"CS coverage {cs['coverage']:.3f} outside [{lo:.3f}, {hi:.3f}]"
    assert tw["bias"] < 0 and abs(tw["bias_z"]) > 10, f"TWFE should be biased down: z = {tw['bias_z']:.1f}"
    assert tw["coverage"] < lo
    # the weighted estimand is what TWFE estimates: centred on it although far from the ATT
    assert abs(tw_own["bias_z"]) < 3, f"TWFE vs its weighted estimand: z = {tw_own['bias_z']:.2f}"
    assert (v.replications.loc[v.replications["estimand"] == "att", "truth"] == cs["truth"]).all()


def test_twfe_weighted_estimand_is_the_exact_fwl_identity():
    """On a balanced panel TWFE = sum(w y) / sum(w D) with w the two-way-demeaned D (FWL), so with
    y = FE + tau D + noise its expectation given D is sum(w tau) / sum(w D), the design's estimand."""
    rng = np.random.default_rng(3)
    n, t = 200, 7
    df, tau, G, per = staggered_panel(rng, n, (0, 2, 4, 6), (0.4, 0.2, 0.2, 0.2), T=t)
    D = ((G > 0) & (per >= G)).astype(float)
    w = twfe_weights(D, n, t)
    df["D"] = D
    b = TwoWayFE(df, "y", ["D"], "id", "year").fit().params["D"]
    assert abs(b - (w * df["y"]).sum() / (w * D).sum()) < 1e-10
    assert abs(w.reshape(n, t).sum(axis=1)).max() < 1e-12 and abs(w.reshape(n, t).sum(axis=0)).max() < 1e-12


def test_correctly_specified_fe_covers_and_pooled_does_not():
    v = validate("twfe", reps=60, design="fe_panel", sizes={"n": 120, "t": 6}, seed=5)
    lo, hi = band(60)
    for p in ("x1", "x2"):
        r = row(v, "Two-way FE", p)
        assert lo <= r["coverage"] <= hi, f"{p}: coverage {r['coverage']:.3f} outside [{lo:.3f}, {hi:.3f}]"
        assert abs(r["bias_z"]) < 3, f"{p}: bias z = {r['bias_z']:.2f}"
        assert 0.7 < r["se_ratio"] < 1.4, f"{p}: mean SE / MC SD = {r['se_ratio']:.2f}"
    pooled = row(v, "Pooled OLS", "x1")
    assert pooled["coverage"] < 0.2 and pooled["bias_z"] > 10


def test_nvar_common_trend_pooled_estimates_its_pseudo_truth():
    v = validate("nvar", reps=30, design="nvar_common_trend", seed=2)
    structural = row(v, "NVAR pooled (seed 000) vs structural", "beta1")
    pseudo = row(v, "NVAR pooled (seed 000) vs its pseudo", "beta1_pooled")
    years = row(v, "NVAR with year effects", "beta1")
    assert structural["bias_z"] > 5 and structural["coverage"] < 0.6
    assert abs(pseudo["bias_z"]) < 3 and abs(years["bias_z"]) < 3
    assert band(30)[0] <= pseudo["coverage"]
    text = v.report()
    assert "Why coverage is off 0.95" in text and "centred" in text


def test_backends_give_identical_replications():
    kw = dict(estimators="nvar", reps=4, design="nvar_spillover", sizes={"n": 12, "t": 5}, seed=9)
    serial = validate(**kw).replications
    procs = validate(**kw, backend="processes", workers=2).replications
    pd.testing.assert_frame_equal(serial, procs, check_exact=True)
    other = validate(**{**kw, "seed": 10}).replications
    assert not np.allclose(serial["estimate"], other["estimate"])
    first = validate(**{**kw, "reps": 2}).replications
    pd.testing.assert_frame_equal(first, serial[serial["rep"] < 2].reset_index(drop=True), check_exact=True)


def test_outputs_are_complete_and_byte_identical(tmp_path):
    kw = dict(estimators="threshold", reps=2, design="threshold", sizes={"n": 60, "t": 4}, seed=1)
    v = validate(**kw)
    a, b = write(v, tmp_path / "a"), write(validate(**kw), tmp_path / "b")
    names = {"replications.parquet", "replications.csv", "summary.parquet", "summary.csv", "report.md",
             "sampling_distribution.png"}
    assert {p.name for p in a.iterdir()} == names
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    back = pd.read_parquet(a / "summary.parquet")
    pd.testing.assert_frame_equal(back, v.summary)
    assert len(pd.read_csv(a / "replications.csv")) == 2 * 5
    text = (a / "report.md").read_text()
    for e in ("x_r1", "gamma2"):
        assert f"`{e}`" in text
    assert (a / "sampling_distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_psm_population_att_and_coverage_band():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2_000_000))
    p = expit(-0.5 + 0.8 * x[0] - 0.6 * x[1])
    mc = 1 + 0.5 * np.sum(p * x[0]) / p.sum()
    assert abs(population_att() - mc) < 2e-3
    lo, hi = coverage_band(200)
    assert stats.binom.cdf(lo * 200 - 1, 200, 0.95) <= 0.025 and stats.binom.sf(hi * 200, 200, 0.95) <= 0.025
    assert (lo, hi) == (0.92, 0.98)


def test_bad_options_are_one_line_errors(capsys):
    from experiments.cli import main

    with pytest.raises(ValidationError, match="--estimator = 'ols'"):
        validate("ols", reps=3)
    with pytest.raises(ValidationError, match="design cohort_effects validates twfe, csdid"):
        validate("nvar", reps=3, design="cohort_effects")
    with pytest.raises(ValidationError, match="unknown size"):
        validate("psm", reps=3, sizes={"t": 4})
    assert main(["validate", "--estimator", "sfa", "--n", "30x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n = '30x'" in err[0] and "NxT" in err[0]
    assert main(["validate", "--estimator", "sfa", "--reps", "1"]) == 2
    assert "--reps = 1" in capsys.readouterr().err


def test_designs_document_every_truth_key():
    from analysis.designs import DESIGNS

    for name, cls in DESIGNS.items():
        if name == "model":
            continue
        d = get_design(name, cls.estimators[0], **{k: max(6, min(v, 40)) for k, v in cls.sizes.items()})
        draw = d.draw(np.random.default_rng(0))
        assert set(draw.truth) <= set(d.estimands), (name, set(draw.truth) - set(d.estimands))
        for est in d.estimators:
            for s in d.specs(est):
                assert s.estimand in draw.truth and s.note, (name, s.label)
