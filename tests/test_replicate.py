"""Replication layer (analysis.replicate): each study table on panels simulated here with known truth."""

import re

import numpy as np
import pandas as pd
import pytest

from analysis.replicate import (
    DEFAULT_TARGETS,
    compare,
    default_targets_path,
    load_targets,
    p1_table4,
    p1_table5,
    p1_table8,
    p2_pivot,
    p2_threshold,
    p3_table4_coefficients,
    p3_table7,
    p3_table8,
    province_weights,
    replicate_all,
)
from analysis.results import stars
from analysis.sfa import PanelSFA

TOL = 4.0  # recovery tolerance, in estimated standard errors
YEARS_P1 = np.arange(2007, 2023)  # 2007 only supplies the first lag: samples of 450 (qty) and 330 (qual)
P1 = dict(b0=0.1, qty=0.5, qual=0.4, rho=0.5, own_qty=0.3, own_qual=0.2)
Z_COEF = np.array([0.05, -0.04, 0.03, 0.02, -0.03, 0.04])
MECH = {("tau_K", "qty"): 0.6, ("tau_L", "qty"): 0.5, ("tau_K", "qual"): 0.8, ("tau_L", "qual"): 0.7,
        ("patents_qty", "qty"): 0.9, ("patents_qual", "qty"): 0.4}
MECH_MAIN = {"tau_K": -0.08, "tau_L": -0.06, "patents_qty": 0.05, "patents_qual": 0.03}
COMPONENTS = {"TC": (-0.3, -0.2), "TE": (0.6, 0.5), "TS": (0.4, 0.3)}
P3_EFFECT = 0.3
P3_MECH = {"TS": 0.1, "MD": 0.05, "INVEST": 0.2, "IB": 0.06, "lnCTI": 0.8, "lnDSI": -0.15, "Bullwhip": -0.13}
OWN_EFFECT = {"jv": 0.6, "private": 0.3, "state": -0.1}
THR = dict(gammas=(1.0, 3.0), slopes=(-0.36, 0.2, 0.03))
PIVOT = {2020: 0.0, 2021: 0.05, 2022: 0.0}


def _simulate_outcome(rng, terms, rho, noise):
    """y_t = sum of terms[t] + rho * y_{t-1} + noise; terms is a (T, N) array; burn-in from zero."""
    T, N = terms.shape
    y = np.zeros((T, N))
    prev = np.zeros(N)
    for t in range(T):
        y[t] = terms[t] + rho * prev + rng.normal(0, noise, N)
        prev = y[t]
    return y


@pytest.fixture(scope="module")
def province_panel():
    rng = np.random.default_rng(2024)
    W = province_weights("geo")
    codes = list(W.index)
    N, T = len(codes), len(YEARS_P1)
    Ws = {k: province_weights(k, codes).to_numpy() for k in ("geo", "econ", "pop")}
    qty = rng.normal(size=(T, N))
    qual = rng.normal(size=(T, N))
    has_qual = (YEARS_P1 >= 2012)[:, None]
    qual0 = np.where(has_qual, qual, 0.0)
    Z = rng.normal(size=(6, T, N))
    zterm = np.tensordot(Z_COEF, Z, axes=1)
    M = {m: rng.normal(size=(T, N)) for m in MECH_MAIN}
    base = P1["b0"] + P1["own_qty"] * qty + P1["own_qual"] * qual0 + zterm

    def net(kind, x):
        return x @ Ws[kind].T

    out = {}
    for kind, name in (("geo", "lnTFP"), ("econ", "y_econ"), ("pop", "y_pop")):
        terms = base + P1["qty"] * net(kind, qty) + P1["qual"] * net(kind, qual0)
        out[name] = _simulate_outcome(rng, terms, P1["rho"], 0.1)
    terms = base + sum(MECH_MAIN[m] * M[m] for m in M)
    for (m, x), c in MECH.items():
        terms = terms + c * M[m] * net("geo", qty if x == "qty" else qual0)
    out["y_mech"] = _simulate_outcome(rng, terms, P1["rho"], 0.1)
    for comp, (bq, bl) in COMPONENTS.items():
        terms = 0.02 + 0.1 * qty + 0.05 * qual0 + zterm + bq * net("geo", qty) + bl * net("geo", qual0)
        out[comp] = _simulate_outcome(rng, terms, 0.4, 0.05)
    x_iv = np.zeros((T, N))
    e_iv = rng.normal(size=(T, N))
    prev = rng.normal(size=N)
    for t in range(T):
        u = rng.normal(size=N)
        x_iv[t] = 0.8 * prev + u + 0.8 * e_iv[t]
        prev = x_iv[t] - 0.8 * e_iv[t]
    out["x_iv"] = x_iv
    out["y_iv"] = 1.0 + 0.6 * x_iv + e_iv
    df = pd.DataFrame({"province": np.tile(codes, T), "year": np.repeat(YEARS_P1, N),
                       "DF_qty": qty.ravel(), "DF_qual": np.where(has_qual, qual, np.nan).ravel()})
    for j in range(6):
        df[f"Z{j}"] = Z[j].ravel()
    for m, v in M.items():
        df[m] = v.ravel()
    for k, v in out.items():
        df[k] = v.ravel()
    return df


@pytest.fixture(scope="module")
def city_panel():
    rng = np.random.default_rng(7)
    N, years = 336, np.arange(2017, 2023)
    T = len(years)
    a = np.repeat(rng.normal(size=N), T)
    lam = np.tile(rng.normal(0, 0.1, T), N)
    x = 0.5 * a + rng.normal(size=N * T)
    C = rng.normal(size=(8, N * T))
    ctrl = np.array([0.1, 0.05, -0.05, 0.02, -0.03, 0.01, 0.04, 0.03]) @ C
    q = np.repeat(rng.uniform(0, 4, N), T) + rng.normal(0, 0.3, N * T)
    reg = np.searchsorted(np.array(THR["gammas"]), q, side="left")
    pivot = np.repeat((rng.uniform(size=N) < 0.2).astype(float), T)
    yr = np.tile(years, N)
    b = np.repeat(rng.normal(0, 0.3, N), T)
    df = pd.DataFrame({"city_id": np.repeat(np.arange(N), T), "year": yr, "logcomputing": x, "gdp": q,
                       "pivot": pivot})
    for j, c in enumerate(["logpeo", "logfin", "logfou", "loginvest", "logretail", "logagri", "logindus",
                           "loginex"]):
        df[c] = C[j]
    df["loggdp"] = 5.0 + a + lam + 0.0426 * x + ctrl + rng.normal(0, 0.05, N * T)
    df["y_thr"] = 5.0 + a + lam + np.array(THR["slopes"])[reg] * x + ctrl + rng.normal(0, 0.05, N * T)
    c_t = pd.Series(yr).map(PIVOT).to_numpy()
    df["y_cs"] = 7.7 + 0.016 * x + ctrl + c_t * pivot * x + b + rng.normal(0, 0.05, N * T)
    return df


@pytest.fixture(scope="module")
def firm_panel():
    rng = np.random.default_rng(99)
    N, years = 1000, np.arange(2017, 2024)
    T = len(years)
    ind = rng.integers(0, 20, N)
    a = rng.normal(size=N)
    own = rng.choice(["state", "private", "jv"], size=N, p=[0.2, 0.65, 0.15])
    regulated = (ind < 4).astype(int)
    open_data = (rng.uniform(size=N) < 0.75).astype(int)
    # adoption: industry-specific start, then peer-driven (the Bartik channel), selected on the firm effect
    prop = np.exp(0.5 * a)
    idc = np.zeros((N, T))
    idc[:, 0] = rng.uniform(size=N) < rng.uniform(0.0, 0.12, 20)[ind] * prop
    for t in range(1, T):
        share = pd.Series(idc[:, t - 1]).groupby(ind).mean().reindex(range(20)).to_numpy()
        new = rng.uniform(size=N) < (0.6 * share[ind] + 0.01) * prop
        idc[:, t] = np.maximum(idc[:, t - 1], new)
    D = idc.ravel()
    rows = N * T
    ai = np.repeat(a, T)
    lam = np.tile(rng.normal(0, 0.2, T), N)
    X = rng.normal(size=(10, rows))
    gamma = np.linspace(-0.2, 0.2, 10)
    base = 10.0 + ai + lam + gamma @ X
    df = pd.DataFrame({"firm_id": np.repeat(np.arange(N), T), "year": np.tile(years, N),
                       "industry": np.repeat(ind, T), "ownership": np.repeat(own, T),
                       "regulated": np.repeat(regulated, T), "open_data": np.repeat(open_data, T), "IDC": D})
    for j, c in enumerate(["lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy",
                           "Mshare", "TobinQ"]):
        df[c] = X[j]
    df["EXPY"] = base + P3_EFFECT * D + rng.normal(0, 0.5, rows)
    o = np.repeat(own, T)
    df["EXPY_own"] = base + pd.Series(o).map(OWN_EFFECT).to_numpy() * D + rng.normal(0, 0.5, rows)
    df["EXPY_reg"] = base + np.where(df["regulated"] == 1, 0.1, 0.5) * D + rng.normal(0, 0.5, rows)
    df["EXPY_open"] = base + np.where(df["open_data"] == 1, 0.45, 0.1) * D + rng.normal(0, 0.5, rows)
    for j, (m, phi) in enumerate(P3_MECH.items()):
        v = 0.5 * ai + lam + 0.5 * gamma[::-1] @ X + phi * D + rng.normal(0, 0.3, rows)
        miss = rng.uniform(size=rows) < 0.03 * j
        df[m] = np.where(miss, np.nan, v)
    return df


@pytest.fixture(scope="module")
def tables(province_panel, city_panel, firm_panel):
    return replicate_all({"000": province_panel, "city": city_panel, "firm": firm_panel},
                         options={"p1_table6": {"y": "y_mech"}, "p1_table7": {"y": "y_mech"},
                                  "p2_threshold": {"y": "y_thr"}, "p2_pivot": {"y": "y_cs"}})


def _near(res, name, truth, what):
    b, s = res.params[name], res.std_errors[name]
    z = (b - truth) / s
    assert abs(z) < TOL, f"{what}: {name} = {b:.4f} (SE {s:.4f}), truth {truth}, {z:.2f} SE away (tol {TOL} SE)"


# ------------------------------------------------------------------------- seed 000
def test_p1_table2_3_recover_nvar(tables):
    t2, t3 = tables["p1_table2"], tables["p1_table3"]
    assert t2.columns == [f"({j})" for j in range(1, 9)]
    for t, which, n in ((t2, "qty", 450), (t3, "qual", 330)):
        res = t.results["(8)"]
        assert res.nobs == n, f"{t.key}: N = {res.nobs}, expected {n}"
        _near(res, "beta1", P1[which], t.key)
        _near(res, "beta2", P1["rho"], t.key)
        _near(res, "alpha", P1[f"own_{which}"], t.key)
        for j, z in enumerate(["Z0", "Z1", "Z2", "Z3", "Z4", "Z5"]):
            _near(res, z, Z_COEF[j], t.key)
        # stepwise columns: (1) no controls, (2)-(7) add Z0, Z1, Z2, Z4, Z3, Z5, (8) the own index
        assert set(t.results["(1)"].params.index) == {"beta0", "beta1", "beta2"}
        assert set(t.results["(6)"].params.index) == {"beta0", "beta1", "beta2", "Z0", "Z1", "Z2", "Z4", "Z3"}
        assert "alpha" not in t.results["(7)"].params.index


def test_p1_table4_other_distances(province_panel):
    for kind in ("econ", "pop"):
        t = p1_table4(province_panel, y=f"y_{kind}")
        for xn, which in (("Quantity", "qty"), ("Quality", "qual")):
            _near(t.results[f"{xn}: {kind}"], "beta1", P1[which], f"table 4 {xn} {kind}")
            _near(t.results[f"{xn}: {kind}"], "beta2", P1["rho"], f"table 4 {xn} {kind}")


def test_p1_table4_weights_are_restricted_and_renormalised():
    W31 = province_weights("econ", codes=None)
    assert "XZ" not in W31.index and W31.shape == (30, 30)
    np.testing.assert_allclose(W31.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.diag(W31.to_numpy()) == 0)
    sub = ["BJ", "SH", "GD", "SC"]
    Ws = province_weights("econ", sub)
    ratio = W31.loc["BJ", "SH"] / W31.loc["BJ", "GD"]
    assert abs(Ws.loc["BJ", "SH"] / Ws.loc["BJ", "GD"] - ratio) < 1e-12


def test_p1_table5_iv_with_lags(province_panel):
    t = p1_table5(province_panel, y="y_iv", x="x_iv")
    assert len(t.columns) == 3
    for c in t.columns:
        _near(t.results[c], "x_iv", 0.6, f"table 5 {c}")
    assert t.results[t.columns[1]].nobs == 30 * (len(YEARS_P1) - 3)


def test_p1_table6_7_mechanism_interactions(tables):
    t6, t7 = tables["p1_table6"], tables["p1_table7"]
    for t in (t6, t7):
        for tid, (col, param) in t.targets.items():
            m, x = param.split(":")[0], ("qty" if col.startswith("Quantity") else "qual")
            _near(t.results[col], param, MECH[(m, x)], f"{t.key} {col}")
            _near(t.results[col], m, MECH_MAIN[m], f"{t.key} {col}")
    assert t6.targets == DEFAULT_TARGETS["p1_table6"] and t7.targets == DEFAULT_TARGETS["p1_table7"]


def test_p1_table8_components_from_panel(tables):
    t = tables["p1_table8"]
    for comp, (bq, bl) in COMPONENTS.items():
        _near(t.results[f"Quantity: {comp}"], "beta1", bq, f"table 8 {comp}")
        _near(t.results[f"Quality: {comp}"], "beta1", bl, f"table 8 {comp}")
        _near(t.results[f"Quantity: {comp}"], "beta2", 0.4, f"table 8 {comp}")


def test_p1_table8_sfa_path_aligns_components(province_panel):
    """With Y, K, L the table fits a translog SFA; its TC must line up with the true TC row by row."""
    rng = np.random.default_rng(5)
    df = province_panel[["province", "year", "DF_qty", "DF_qual", "Z0", "Z1", "Z2", "Z3", "Z4", "Z5"]].copy()
    n = len(df)
    ent = pd.factorize(df["province"])[0]
    t = (df["year"] - df["year"].min() + 1).to_numpy(float)
    lk = rng.normal(0, 1, 30)[ent] + 0.08 * t + rng.normal(0, 0.2, n)
    ll = rng.normal(0, 1, 30)[ent] + 0.02 * t + rng.normal(0, 0.2, n)
    b = dict(K=0.4, L=0.5, t=0.03, KK=-0.05, LL=-0.04, KL=0.02, Kt=0.006, Lt=-0.004, tt=-0.001)
    front = (1 + b["K"] * lk + b["L"] * ll + b["t"] * t + 0.5 * b["KK"] * lk**2 + 0.5 * b["LL"] * ll**2
             + b["KL"] * lk * ll + b["Kt"] * lk * t + b["Lt"] * ll * t + 0.5 * b["tt"] * t**2)
    u = np.abs(rng.normal(0, 0.3, 30))[ent] * np.exp(-0.03 * (t - t.max()))
    df["Y"] = np.exp(front + rng.normal(0, 0.05, n) - u)
    df["K"], df["L"] = np.exp(lk), np.exp(ll)
    true_tc = b["t"] + b["tt"] * t + b["Kt"] * lk + b["Lt"] * ll
    tab = p1_table8(df, inefficiency="bc92")  # this panel's inefficiency is BC92's time pattern
    assert tab.details["sfa"] is not None
    comp = tab.details["components"]
    assert len(comp) == n and list(comp["year"]) == list(df["year"]) and list(comp["province"]) == list(df["province"])
    r = np.corrcoef(comp["TC"].to_numpy(), true_tc)[0, 1]
    assert r > 0.95, f"estimated TC vs true TC correlation {r:.3f} (tol 0.95)"
    direct = PanelSFA(df, "Y", ["K", "L"], "province", "year").fit().decompose()
    np.testing.assert_allclose(comp.set_index(["province", "year"])["TE"].sort_index().to_numpy(),
                               direct["TE"].sort_index().to_numpy(), equal_nan=True, rtol=1e-6, atol=1e-9)
    assert all(c in tab.results for c in ("Quantity: TC", "Quality: TS"))


def test_p1_table1_descriptives(tables, province_panel):
    t = tables["p1_table1"]
    f = t.to_frame()
    assert f.loc["lnTFP", "N"] == province_panel["lnTFP"].notna().sum()
    assert abs(f.loc["DF_qual", "Mean"] - province_panel["DF_qual"].mean()) < 1e-12


# ------------------------------------------------------------------------- seed 001
def test_p2_fe_recovers_elasticity(tables):
    t = tables["p2_fe"]
    res = t.results["(1) City + year FE"]
    _near(res, "logcomputing", 0.0426, "city FE")
    assert res.nobs == 2016
    # year effects only: logcomputing is correlated with the city effect, so the estimate is biased up
    assert t.results["(2) Year FE"].params["logcomputing"] > 0.0426 + 10 * res.std_errors["logcomputing"]


def test_p2_threshold_recovers_regimes(tables):
    t = tables["p2_threshold"]
    res = t.results["Threshold FE"]
    g = res.extra["thresholds"]
    assert abs(g[0] - THR["gammas"][0]) < 0.15 and abs(g[1] - THR["gammas"][1]) < 0.15, g
    for j, s in enumerate(THR["slopes"]):
        _near(res, f"logcomputing_r{j + 1}", s, "threshold regime")
    assert t.targets == {"p2_thr_low": ("Threshold FE", "logcomputing_r1"),
                         "p2_thr_high": ("Threshold FE", "logcomputing_r3")}


def test_p2_threshold_bootstrap_rows(city_panel):
    t = p2_threshold(city_panel.loc[city_panel.city_id < 120], y="y_thr", bootstrap=20, rng=1)
    tests = t.details["tests"]
    assert list(tests.index) == ["single", "double"]
    assert t.stats["F single p (bootstrap)"]["Threshold FE"] == tests.loc["single", "p_value"]
    assert tests.loc["single", "p_value"] < 0.05  # the break is strong


def test_p2_pivot_cross_sections(tables, city_panel):
    t = tables["p2_pivot"]
    assert t.columns == ["2020", "2021", "2022"]
    for yr, c in PIVOT.items():
        res = t.results[str(yr)]
        assert res.nobs == 336
        _near(res, "pivotcomputing", c, f"pivot {yr}")
        _near(res, "logcomputing", 0.016, f"pivot {yr}")
    with_main = p2_pivot(city_panel, y="y_cs", pivot_main=True)
    assert "pivot" in with_main.results["2021"].params.index


# ------------------------------------------------------------------------- seed 002
def test_p3_table3_4_recover_idc_effect(tables):
    t3, t4 = tables["p3_table3"], tables["p3_table4"]
    _near(t3.results["(2)"], "IDC", P3_EFFECT, "two-way FE")
    # adoption is selected on the firm effect: pooled OLS is biased upwards
    assert t3.results["(1)"].params["IDC"] > P3_EFFECT + 3 * t3.results["(1)"].std_errors["IDC"]
    _near(t4.results["IV second stage"], "IDC", P3_EFFECT, "Bartik 2SLS")
    _near(t4.results["PSM"], "IDC", P3_EFFECT, "PSM matched-sample FE")
    fs = t4.results["IV first stage"]
    assert fs.tstats["Bartik"] > 3 and t4.stats["KP rk Wald F"]["IV first stage"] > 10
    assert t4.results["PSM"].nobs == len(t4.details["matched"])
    assert t4.results["PSM"].nobs < t3.results["(2)"].nobs


def test_p3_table4_coefficients_are_the_tables(tables, firm_panel):
    """The estimands' light path gives table 4's second-stage and matched-FE coefficients (the 2SLS by
    least squares on the fitted regressors, without linearmodels, to rounding) and row counts."""
    light = p3_table4_coefficients(firm_panel)
    for col in ("IV second stage", "PSM"):
        full = tables["p3_table4"].results[col]
        params, n = light[col]
        pd.testing.assert_series_equal(params, full.params, check_exact=col == "PSM", rtol=1e-10, atol=1e-12,
                                       check_names=False)
        assert n == full.nobs


def test_p3_mechanisms(tables, firm_panel):
    for key in ("p3_table5", "p3_table6"):
        t = tables[key]
        for m in t.columns:
            _near(t.results[m], "IDC", P3_MECH[m], f"mechanism {m}")
            assert t.results[m].nobs == firm_panel[m].notna().sum()


def test_p3_heterogeneity_splits(firm_panel):
    t7 = p3_table7(firm_panel, y="EXPY_own")
    for col, code in (("Joint venture", "jv"), ("Private", "private"), ("State-owned", "state")):
        _near(t7.results[col], "IDC", OWN_EFFECT[code], f"ownership {col}")
        assert t7.results[col].nobs == (firm_panel["ownership"] == code).sum()
    t8 = p3_table8(firm_panel, y="EXPY_reg")
    _near(t8.results["Regulated"], "IDC", 0.1, "regulated")
    _near(t8.results["Competitive"], "IDC", 0.5, "competitive")
    t8 = p3_table8(firm_panel, y="EXPY_open")
    _near(t8.results["Data platform"], "IDC", 0.45, "data platform")
    _near(t8.results["No data platform"], "IDC", 0.1, "no data platform")


# ------------------------------------------------------------------------- layout
_CELL = re.compile(r"^(-?\d+\.\d{4})(\**)$")


def test_layout_stars_brackets_and_n(tables):
    checked = 0
    for t in tables.values():
        if not hasattr(t, "rows"):
            continue
        f = t.to_frame()
        br = "t" if t.bracket == "t" else "se"
        for lab, pmap in t.rows:
            for col, p in pmap.items():
                res = t.results[col]
                if p not in res.params.index:
                    assert f.loc[(lab, "coef"), col] == ""
                    continue
                m = _CELL.match(f.loc[(lab, "coef"), col])
                assert m, (t.key, lab, col, f.loc[(lab, "coef"), col])
                assert abs(float(m.group(1)) - res.params[p]) <= 5e-5
                pv = res.pvalues[p]
                assert m.group(2) == stars(pv), (t.key, lab, col, pv, m.group(2))
                exp_stars = "***" if pv < 0.01 else "**" if pv < 0.05 else "*" if pv < 0.10 else ""
                assert m.group(2) == exp_stars
                inner = f.loc[(lab, br), col]
                val = res.tstats[p] if br == "t" else res.std_errors[p]
                assert inner[0] == ("[" if br == "t" else "(") and abs(float(inner[1:-1]) - val) <= 5e-5
                checked += 1
        for col in t.columns:
            assert f.loc[("N", ""), col] == f"{t.results[col].nobs:,}"
        text = t.to_string()
        assert t.title in text and all(c in text for c in t.columns)
    assert checked > 100


# ------------------------------------------------------------------------- compare
EXPECTED_IDS = {
    "p1_table1": {"p1_desc_lntfp_mean", "p1_desc_lntfp_sd", "p1_desc_dfqty_mean", "p1_desc_dfqual_mean"},
    "p1_table2": {"p1_nvar_qty_beta1", "p1_nvar_qty_beta2", "p1_nvar_qty_alpha"},
    "p1_table3": {"p1_nvar_qual_beta1", "p1_nvar_qual_beta2", "p1_nvar_qual_alpha"},
    "p1_table4": {"p1_nvar_qty_econ", "p1_nvar_qty_pop", "p1_nvar_qual_econ", "p1_nvar_qual_pop"},
    "p1_table6": {"p1_mis_k_qty", "p1_mis_l_qty", "p1_mis_k_qual", "p1_mis_l_qual"},
    "p1_table7": {"p1_inn_qty_qty", "p1_inn_qual_qty"},
    "p1_table8": {"p1_het_tc_qty", "p1_het_te_qty", "p1_het_ts_qty", "p1_het_tc_qual", "p1_het_te_qual",
                  "p1_het_ts_qual"},
    "p2_fe": {"p2_fe_computing"}, "p2_threshold": {"p2_thr_low", "p2_thr_high"}, "p2_pivot": {"p2_pivot_2021"},
    "p3_table2": {"p3_idc_mean", "p3_expy_mean"}, "p3_table3": {"p3_idc_ols", "p3_idc_fe"},
    "p3_table4": {"p3_iv_2sls", "p3_psm"},
    "p3_table5": {"p3_mech_ts", "p3_mech_md", "p3_mech_invest"},
    "p3_table6": {"p3_mech_ib", "p3_mech_cti", "p3_mech_dsi", "p3_mech_bullwhip"},
    "p3_table7": {"p3_het_jv", "p3_het_private", "p3_het_soe"},
    "p3_table8": {"p3_het_regulated", "p3_het_competitive", "p3_het_open_data", "p3_het_no_open_data"},
}


def test_compare_carries_published_values(tables):
    raw = pd.read_csv(default_targets_path(), dtype=str).set_index("id")
    assert set(tables) == set(EXPECTED_IDS) | {"p1_table5"}
    for key, t in tables.items():
        c = t.compare()
        assert set(c["target"]) == EXPECTED_IDS.get(key, set()), key
        if key in DEFAULT_TARGETS:
            assert t.targets == DEFAULT_TARGETS[key], key
        for _, r in c.iterrows():
            pub = raw.loc[r["target"]]
            assert r["published"] == float(pub["value"])
            if pd.isna(pub["se"]):
                assert np.isnan(r["published_se"]) and np.isnan(r["diff_in_se"])
            else:
                assert r["published_se"] == float(pub["se"])
                assert r["diff_in_se"] == pytest.approx((r["estimate"] - float(pub["value"])) / float(pub["se"]),
                                                        rel=1e-12)
            assert r["n_published"] == (float(pub["n"]) if not pd.isna(pub["n"]) else r["n_published"])
            if hasattr(t, "rows"):
                col, p = t.targets[r["target"]]
                assert r["estimate"] == t.results[col].params[p]
                assert r["se"] == t.results[col].std_errors[p]
                assert r["n"] == t.results[col].nobs
    allc = compare(tables)
    assert set(allc["target"]) == set().union(*EXPECTED_IDS.values())
    assert set(compare(tables, study="001")["target"]) == {"p2_fe_computing", "p2_thr_low", "p2_thr_high",
                                                           "p2_pivot_2021"}
    by_dict = compare(tables["p3_table3"].results, study="p3_table3")
    pd.testing.assert_frame_equal(by_dict.drop(columns="table"), tables["p3_table3"].compare().drop(columns="table"))


def test_compare_targets_path_override_and_missing(tables, tmp_path):
    t = tables["p3_table3"]
    tg = load_targets()
    tg.loc["p3_idc_fe", "value"], tg.loc["p3_idc_fe", "se"] = 0.5, 0.25
    path = tmp_path / "targets.csv"
    tg.reset_index().to_csv(path, index=False)
    c = t.compare(targets_path=path).set_index("target")
    est = t.results["(2)"].params["IDC"]
    assert c.loc["p3_idc_fe", "published"] == 0.5
    assert c.loc["p3_idc_fe", "diff_in_se"] == pytest.approx((est - 0.5) / 0.25)
    with pytest.raises(FileNotFoundError, match="targets"):
        t.compare(targets_path=tmp_path / "nope.csv")


def test_replicate_all_skips_missing_inputs(province_panel):
    keep = ["province", "year", "lnTFP", "DF_qty", "Z0", "Z1", "Z2", "Z3", "Z4", "Z5"]
    out = replicate_all({"province": province_panel[keep]})
    assert set(out) == {"p1_table1", "p1_table2", "p1_table5"}
    assert "DF_qual" in out.skipped["p1_table3"] and "tau_K" in out.skipped["p1_table6"]
    assert out.skipped["p3_table3"] == "no panel for seed 002"
    with pytest.raises(KeyError, match="DF_qual"):
        replicate_all({"province": province_panel[keep]}, errors="raise")
    assert set(out.compare()["target"]) == {"p1_desc_lntfp_mean", "p1_desc_lntfp_sd", "p1_desc_dfqty_mean",
                                            "p1_nvar_qty_beta1", "p1_nvar_qty_beta2", "p1_nvar_qty_alpha"}
