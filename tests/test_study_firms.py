"""Seed 002 inside the model (sim/studies/firms.py): known-truth recovery and shapes
(determinism of every study panel: tests/test_model.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from calibration.params import load_parameters
from recovery import assert_within
from recovery import two_way_fe as fe
from sim.studies.firms import CONTROLS, MECHANISMS, PANEL_COLUMNS, FirmProcess

EFFECTS_OFF = dict(idc_shift_soe=0.0, idc_shift_jv=0.0, idc_shift_regulated=0.0, idc_shift_no_open_data=0.0,
                   idc_ramp_years=0)


def firm_par(**values) -> SimpleNamespace:
    d = dict(vars(load_parameters().firm_outcomes))
    d.update(values)
    return SimpleNamespace(**d)


def synthetic_firms(par, n: int = 8000, seed: int = 0) -> pd.DataFrame:
    """A balanced synthetic panel 2017-2023 through FirmProcess: staggered adoption (45 % of
    firms adopt in a random year, more likely with high capability), mixed ownership,
    industries and platforms; the model's own observation code makes every column."""
    rng = np.random.default_rng(seed)
    proc = FirmProcess(par, rng)
    ids = np.arange(n)
    own = rng.choice(3, n, p=[0.2, 0.65, 0.15])
    ind = rng.integers(0, 30, n)
    reg = np.isin(ind, (6, 13, 17, 24)).astype(int)
    open_data = (rng.random(n) < 0.7).astype(int)
    cap = rng.normal(size=n)
    ln_emp = rng.normal(7.6, 1.15, n)
    age = rng.uniform(5, 30, n)
    adopt = np.where(rng.random(n) < 0.35 + 0.1 * (cap > 0), rng.integers(2015, 2024, n), 0)
    parts = []
    for y in range(2017, 2024):
        ln_emp = ln_emp + rng.normal(0.02, 0.08, n)
        idc = ((adopt > 0) & (adopt <= y)).astype(int)
        obs, lat = proc.observe(y, ids, own, ind, reg, open_data, ln_emp, age + (y - 2017), cap, idc,
                                np.where(idc > 0, adopt, 0))
        parts.append(pd.DataFrame({"firm_id": ids, "year": y, "own": own, "regulated": reg, "open_data": open_data,
                                   **obs, **{f"lat_{k}": v for k, v in lat.items()}}))
    return pd.concat(parts, ignore_index=True)


def two_way_fe(df: pd.DataFrame, y: str, x: list[str]):
    return fe(df, y, x, "firm_id")


@pytest.mark.parametrize("tau", [0.0, 0.3061])
def test_idc_effect_on_expy_recovered(tau):
    df = synthetic_firms(firm_par(idc_effect_base=tau, **EFFECTS_OFF), seed=21)
    assert_within(two_way_fe(df, "EXPY", ["IDC", *CONTROLS]), "IDC", tau)


def test_heterogeneous_idc_effects_recovered():
    par = firm_par(idc_ramp_years=0)
    df = synthetic_firms(par, n=12000, seed=22)
    df["IDC_SOE"] = df["IDC"] * (df["own"] == 0)
    df["IDC_JV"] = df["IDC"] * (df["own"] == 2)
    df["IDC_reg"] = df["IDC"] * df["regulated"]
    df["IDC_noopen"] = df["IDC"] * (1 - df["open_data"])
    res = two_way_fe(df, "EXPY", ["IDC", "IDC_SOE", "IDC_JV", "IDC_reg", "IDC_noopen", *CONTROLS])
    assert_within(res, "IDC", par.idc_effect_base)
    assert_within(res, "IDC_SOE", par.idc_shift_soe)
    assert_within(res, "IDC_JV", par.idc_shift_jv)
    assert_within(res, "IDC_reg", par.idc_shift_regulated)
    assert_within(res, "IDC_noopen", par.idc_shift_no_open_data)


def test_effect_ramp_recovered_by_event_time():
    par = firm_par(idc_effect_base=0.4, **{**EFFECTS_OFF, "idc_ramp_years": 1})
    df = synthetic_firms(par, seed=23)
    since = df["lat_years_since_idc"]
    df["IDC_0"] = (df["IDC"] * (since == 0)).astype(float)
    df["IDC_1p"] = (df["IDC"] * (since >= 1)).astype(float)
    res = two_way_fe(df, "EXPY", ["IDC_0", "IDC_1p", *CONTROLS])
    assert_within(res, "IDC_0", 0.2)
    assert_within(res, "IDC_1p", 0.4)


@pytest.mark.parametrize("mechanism", ["INVEST", "lnDSI", "Bullwhip"])
@pytest.mark.parametrize("on", [False, True])
def test_mechanism_effects_recovered(mechanism, on):
    par = firm_par(**EFFECTS_OFF)
    gamma = getattr(par, f"{mechanism}_effect") if on else 0.0
    par = firm_par(**EFFECTS_OFF, **{f"{mechanism}_effect": gamma})
    df = synthetic_firms(par, seed=24)
    treated = df[df["IDC"] == 1]
    if mechanism != "Bullwhip":
        assert np.allclose(treated[f"lat_tau_{mechanism}"], gamma)
    truth = float(treated[f"lat_tau_{mechanism}"].mean())  # Bullwhip: floor at 0.02 binds for a few firm-years
    assert_within(two_way_fe(df, mechanism, ["IDC", *CONTROLS]), "IDC", truth)


def test_default_panel_shape(default_run):
    st = default_run.studies["firms"]
    panel, sample = st.panel(), st.sample()
    assert list(panel.columns) == list(PANEL_COLUMNS)
    assert not panel.duplicated(["firm_id", "year"]).any()
    assert abs(len(sample) / 18599 - 1) < 0.10, f"{len(sample)} firm-years 2017-2023 (study 18,599)"
    first = sample[sample["year"] == 2017]
    assert abs(len(first) / 2650 - 1) < 0.10, f"{len(first)} firms in 2017"
    assert 0.01 <= sample["IDC"].mean() <= 0.03, f"IDC mean {sample['IDC'].mean():.4f} (study 0.0179)"
    by_year = sample.groupby("year")["IDC"].mean()
    assert by_year.iloc[-1] > 2 * by_year.iloc[0], f"adoption not staggered: {by_year.round(4).to_dict()}"
    assert abs(sample["EXPY"].mean() - 10.17) < 0.15, f"EXPY mean {sample['EXPY'].mean():.3f} (study 10.17)"
    assert abs(sample["EXPY"].std() - 1.088) < 0.10, f"EXPY sd {sample['EXPY'].std():.3f} (study 1.088)"
    assert 7.0 < sample["EXPY"].min() and sample["EXPY"].max() < 14.0
    shares = sample["ownership"].value_counts(normalize=True)
    for k, v in {"SOE": 0.187, "private": 0.669, "JV": 0.132}.items():
        assert abs(shares[k] - v) < 0.04, f"{k} share {shares[k]:.3f}"
    study_n = {"TS": 15201, "MD": 14836, "INVEST": 13792, "IB": 18256, "lnCTI": 17925, "lnDSI": 16966, "Bullwhip": 18561}
    for m in MECHANISMS:
        assert abs(sample[m].notna().mean() - study_n[m] / 18599) < 0.03, m
    assert sample[list(CONTROLS)].notna().all().all()
    table2 = {"ROA": (0.0374, 0.0727), "Assetturn": (0.596, 0.323), "Cashflow": (0.0514, 0.0672), "Dual": (0.371, 0.483),
              "Top1": (0.320, 0.138), "Mshare": (0.181, 0.210), "TobinQ": (2.003, 1.232), "Bullwhip": (0.573, 0.188)}
    for c, (mu, sd) in table2.items():
        assert abs(sample[c].mean() - mu) < 0.25 * sd, f"{c} mean {sample[c].mean():.4f} vs {mu}"
        assert 0.6 < sample[c].std() / sd < 1.4, f"{c} sd {sample[c].std():.4f} vs {sd}"


def test_latent_consistent_with_panel(default_run):
    st = default_run.studies["firms"]
    w = st.panel().merge(st.latent(), on=["firm_id", "year"])
    assert np.allclose(w["EXPY"], w["EXPY0"] + w["IDC"] * w["tau_EXPY"])
    for m in MECHANISMS:
        ok = w[m].notna()
        assert np.allclose(w.loc[ok, m], w.loc[ok, f"{m}0"] + w.loc[ok, "IDC"] * w.loc[ok, f"tau_{m}"])
    ids = np.array(default_run.firms.get("serial"))
    last = w[w["year"] == default_run.year]
    assert set(last["firm_id"]) == set(ids)
    assert np.array_equal(np.sort(last["firm_id"].to_numpy()), np.sort(ids))
