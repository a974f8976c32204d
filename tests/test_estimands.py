"""The estimands written beside a run's truths: each equals an independent computation of its definition,
each firm estimator reports its estimand exactly when its identifying assumption holds, and (slow) the
estimators are centred on them on the model's own panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import estimands as E
from analysis.replicate import P1_CONTROLS, P2_CONTROLS, P3_CONTROLS, province_weights
from sim.outputs import study_tables
from sim.studies import cities, firms, provinces


@pytest.fixture(scope="module")
def tables(default_run):
    return study_tables(default_run)


def _dummies(codes: pd.Series, drop_first: bool = True) -> np.ndarray:
    return pd.get_dummies(codes.astype(str), drop_first=drop_first, dtype=float).to_numpy()


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _row(table: pd.DataFrame, spec: str, param: str) -> pd.Series:
    hit = table[(table["spec"] == spec) & (table["param"] == param)]
    assert len(hit) == 1, (spec, param)
    return hit.iloc[0]


def test_province_estimands_are_least_squares_on_the_noise_free_panel(tables):
    """NVAR (pooled and two-way) and SFA estimands from dense dummy-variable least squares built here."""
    t = E.study_estimands("provinces", tables["study_provinces"], tables["latent_provinces"], tables["truth_provinces"])
    d = provinces.study_sample(tables["study_provinces"]).merge(
        tables["latent_provinces"][["province", "year", "eps", "v", "u"]], on=["province", "year"])
    d = d.sort_values(["province", "year"]).reset_index(drop=True)
    codes = sorted(d["province"].unique())
    W = province_weights("geo", codes).loc[codes, codes].to_numpy()
    wide = d.pivot(index="year", columns="province", values="DF_qty")[codes]
    net = pd.DataFrame(wide.to_numpy() @ W.T, index=wide.index, columns=codes).stack()
    d["net"] = net.reindex(pd.MultiIndex.from_frame(d[["year", "province"]])).to_numpy()
    d["lag"] = d.groupby("province")["lnTFP"].shift()
    s = d.dropna(subset=["lag"]).reset_index(drop=True)
    X = np.column_stack([np.ones(len(s)), s["net"], s["lag"], s["DF_qty"], s[list(P1_CONTROLS)]])
    y = (s["lnTFP"] - s["eps"]).to_numpy()
    pooled = _lstsq(X, y)
    fe = _lstsq(np.column_stack([X, _dummies(s["province"]), _dummies(s["year"])]), y)
    for spec, b in (("p1_table2_col8", pooled), ("nvar_two_way", fe)):
        for j, p in enumerate(("beta1", "beta2", "alpha"), start=1):
            r = _row(t, spec, p)
            assert r["value"] == pytest.approx(b[j], abs=1e-9), (spec, p)
            assert r["n_obs"] == len(s)
    assert _row(t, "p1_table2_col8", "beta1")["structural"] == "province_economy.beta1_qty"
    trend = d["year"] - d["year"].min() + 1
    frontier = _lstsq(np.column_stack([np.ones(len(d)), np.log(d["K"]), np.log(d["L"]), trend]),
                      (np.log(d["Y"]) - d["v"]).to_numpy())
    assert _row(t, "p1_sfa_cd_bc92", "K")["value"] == pytest.approx(frontier[1], abs=1e-9)
    assert _row(t, "p1_sfa_cd_bc92", "L")["value"] == pytest.approx(frontier[2], abs=1e-9)
    # the estimand is not the structural value: pooled NVAR loads the national paths on W·DF
    r = _row(t, "p1_table2_col8", "beta1")
    assert abs(r["value"] - r["structural_value"]) > 0.02


def test_threshold_estimand_is_the_regime_slope_of_the_compute_part_at_the_true_thresholds(tables):
    t = E.study_estimands("cities", tables["study_cities"], tables["latent_cities"], tables["truth_cities"])
    truth = tables["truth_cities"].set_index("name")["value"]
    lat = tables["latent_cities"][["city_id", "year", "logpot", "regime"]]
    d = cities.study_sample(tables["study_cities"]).merge(lat, on=["city_id", "year"])
    g = (truth["city_economy.threshold_low_yi"], truth["city_economy.threshold_high_yi"])
    reg = (d["pGDP"] > g[0]).astype(int) + (d["pGDP"] > g[1]).astype(int)
    assert (reg == d["regime"]).all(), "the true regime is the one the thresholds give on pGDP"
    X = np.column_stack([d["logcomputing"] * (reg == j) for j in range(3)]
                        + [d[list(P2_CONTROLS)], _dummies(d["city_id"], drop_first=False), _dummies(d["year"])])
    b = _lstsq(X, (d["loggdp"] - d["logpot"]).to_numpy())
    for j in range(3):
        assert _row(t, "p2_threshold", f"logcomputing_r{j + 1}")["value"] == pytest.approx(b[j], abs=1e-9)


def _firm_subset(tables, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    panel, latent = tables["study_firms"], tables["latent_firms"]
    keep = np.sort(panel.loc[panel["year"] == 2017, "firm_id"].unique())[:n]
    return panel[panel["firm_id"].isin(keep)], latent[latent["firm_id"].isin(keep)]


def test_twfe_estimand_is_the_fwl_weighted_average_of_the_realised_effects(tables):
    """TWFE's estimand = sum over deployed firm-years of w tau / sum of w, w = IDC residualised on firm and
    year dummies and the controls, tau = the effect on the winsorised EXPY (its untreated value clipped at
    the same 1 % bounds); computed here with dense least squares on 300 firms."""
    panel, latent = _firm_subset(tables, 300)
    t = E.study_estimands("firms", panel, latent, tables["truth_firms"])
    raw = panel[(panel["year"] >= 2017) & (panel["year"] <= 2023)]
    lo, hi = raw["EXPY"].quantile([0.01, 0.99])
    s = firms.study_sample(panel).merge(latent[["firm_id", "year", "EXPY0", "tau_EXPY"]], on=["firm_id", "year"])
    tau = s["EXPY"] - s["EXPY0"].clip(lo, hi)
    assert (tau[s["IDC"] == 0] == 0).all()
    assert np.corrcoef(tau[s["IDC"] == 1], s.loc[s["IDC"] == 1, "tau_EXPY"])[0, 1] > 0.95
    X = np.column_stack([s[list(P3_CONTROLS)], _dummies(s["firm_id"], drop_first=False), _dummies(s["year"])])
    D = s["IDC"].to_numpy(float)
    w = D - X @ _lstsq(X, D)
    on = D == 1
    expected = float((w[on] * tau[on]).sum() / w[on].sum())
    r = _row(t, "p3_table3_col2", "IDC")
    assert r["value"] == pytest.approx(expected, abs=1e-8)
    assert r["structural"] == E.FIRM_ATT and np.isfinite(r["structural_value"])


def test_each_firm_estimator_reports_its_estimand_when_its_identifying_assumption_holds(tables):
    """With EXPY = firm effect + year effect + IDC x tau (parallel trends, exogenous instrument and
    selection on the controls hold exactly), TWFE, 2SLS, PSM-FE and Callaway-Sant'Anna give back exactly
    the value of their estimand (the same estimator on IDC x tau), and the estimands differ from one
    another because each weights the heterogeneous effects its own way."""
    panel, latent = _firm_subset(tables, 900)
    s = firms.study_sample(panel).merge(latent[["firm_id", "year", "tau_EXPY"]], on=["firm_id", "year"])
    rng = np.random.default_rng(7)
    a = pd.Series(rng.normal(0, 0.5, s["firm_id"].nunique()), index=np.sort(s["firm_id"].unique()))
    y0 = s["firm_id"].map(a).to_numpy() + 0.04 * (s["year"] - 2017) + rng.normal(0, 0.1, 7)[s["year"] - 2017]
    effect = s["IDC"] * s["tau_EXPY"]
    base = s.drop(columns=["tau_EXPY"])
    got = E.firm_values(base.assign(EXPY=effect.to_numpy()))
    observed = base.assign(EXPY=(y0 + effect).to_numpy())
    fits = {("p3_table3_col2", "IDC"): E.twfe_fit(observed), ("p3_table4_iv", "IDC"): E.table4_fit(observed),
            ("p3_table4_psm", "IDC"): E.psm_fit(observed), ("p3_csdid_never", "ATT"): E.cs_fit(observed)}
    for key, res in fits.items():
        assert not isinstance(got[key], str), got[key]
        assert float(res.params[key[1]]) == pytest.approx(got[key][0], abs=1e-8), key
    values = [v[0] for v in got.values()]
    assert np.ptp(values) > 1e-3, values


def test_estimands_table_of_a_short_run_says_what_it_could_not_compute(tables):
    panel = tables["study_firms"]
    short = panel[panel["year"] >= 2020]
    t = E.study_estimands("firms", short, tables["latent_firms"], tables["truth_firms"])
    iv = _row(t, "p3_table4_iv", "IDC")
    assert np.isnan(iv["value"]) and iv["n_obs"] == 0 and iv["computed"].startswith("not computed on this run")
    assert np.isfinite(_row(t, "p3_table3_col2", "IDC")["value"])
    assert list(t.columns) == list(E.COLUMNS)


@pytest.mark.slow
def test_estimators_are_centred_on_their_estimands_on_the_model_panels():
    """On the model's own panels, pooled NVAR is far from the structural beta1 but within MC error of its
    estimand; TWFE and Callaway-Sant'Anna are within MC error of theirs."""
    from experiments.validate import validate

    v = validate("nvar", reps=10, design="model", seed=3)
    s = v.summary.set_index(["spec", "param"])
    for p in ("beta1", "beta2"):
        r = s.loc[("NVAR eq. 14 (seed 000 table 2 col. 8)", p)]
        assert abs(r["bias_z"]) < 3, (p, r["bias"], r["bias_mc_se"])
        gap = (r["mean_estimate"] - r["structural"]) / r["bias_mc_se"]
        assert abs(gap) > 5, f"{p}: the structural value should be far off ({gap:.1f} MC SE)"
    v = validate("twfe,csdid", reps=8, design="model", seed=4)
    for _, r in v.summary.iterrows():
        assert abs(r["bias_z"]) < 3, (r["spec"], r["bias"], r["bias_mc_se"])


def test_estimand_inputs_cut_to_the_window_and_pass_bad_tables_whole():
    """Study tables are cut to the study window; one without a numeric year is handed on unchanged
    (``study_estimands`` then names the problem) rather than failing the cut."""
    lo, hi = cities.STUDY_WINDOW
    panel = pd.DataFrame({"city_id": 1, "year": np.arange(lo - 3, hi + 4), "loggdp": 1.0})
    bad = pd.DataFrame({"city_id": [1, 2], "year": ["x", "y"]})
    out = E.estimand_inputs({"study_cities": panel, "latent_cities": bad, "summary": panel})
    assert out["study_cities"]["year"].tolist() == list(range(lo, hi + 1))
    assert out["latent_cities"] is bad and out["summary"] is panel


def test_estimand_table_needs_neither_linearmodels_nor_statsmodels_nor_scipy_stats(tables, tmp_path):
    """A run computes its estimands without importing the libraries that only the estimators' errors
    need (about 2 s of a `suanli run`), and still computes every row."""
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "inputs.pkl"
    path.write_bytes(pickle.dumps(E.estimand_inputs(tables)))
    code = ("import pickle, sys; from analysis.estimands import estimand_table; "
            f"t = estimand_table(pickle.loads(open({str(path)!r}, 'rb').read())); "
            "heavy = [m for m in ('linearmodels', 'statsmodels', 'scipy.stats', 'diff_diff') if m in sys.modules]; "
            "assert not heavy, heavy; assert t['value'].notna().all(), t.loc[t['value'].isna(), 'computed']; "
            "print(len(t))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert int(out.stdout.split()[-1]) == sum(len(s.params) for s in E.SPECS)
