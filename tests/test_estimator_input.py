"""Bad estimator input: every case raises analysis.checks.PanelError with one line naming the column."""

import numpy as np
import pandas as pd
import pytest

from analysis.checks import PanelError, collinear_columns
from analysis.fixed_effects import TwoWayFE
from analysis.iv import IV2SLS
from analysis.mechanism import MechanismTest
from analysis.nvar import NVAR
from analysis.psm import PSM
from analysis.sfa import PanelSFA
from analysis.staggered_did import StaggeredDiD
from analysis.threshold import PanelThreshold


def _raises(fn, *needles):
    """Call fn; assert a one-line PanelError whose message contains every needle; return the message."""
    with pytest.raises(PanelError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for s in needles:
        assert s in msg, f"{s!r} not in {msg!r}"
    return msg


def _prod_panel(rng, N=20, T=6):
    e = np.repeat(np.arange(N), T)
    t = np.tile(2008 + np.arange(T), N)
    K = np.exp(rng.normal(0, 1, N)[e] + rng.normal(0, 0.3, N * T))
    L = np.exp(rng.normal(0, 1, N)[e] + rng.normal(0, 0.3, N * T))
    Y = np.exp(1 + 0.4 * np.log(K) + 0.5 * np.log(L) + rng.normal(0, 0.1, N * T) - np.abs(rng.normal(0, 0.3, N))[e])
    return pd.DataFrame({"id": e, "year": t, "Y": Y, "K": K, "L": L})


def _fe_panel(rng, N=40, T=6):
    e = np.repeat(np.arange(N), T)
    t = np.tile(2017 + np.arange(T), N)
    x = rng.normal(size=N * T) + rng.normal(size=N)[e]
    z = rng.normal(size=N * T)
    y = 0.5 * x - 0.2 * z + rng.normal(size=N)[e] + rng.normal(size=N * T)
    return pd.DataFrame({"id": e, "year": t, "x": x, "z": z, "y": y, "q": rng.uniform(0, 4, N * T)})


def test_error_class_is_value_and_key_error():
    assert issubclass(PanelError, ValueError) and issubclass(PanelError, KeyError)
    assert str(PanelError("X: column 'a' bad")) == "X: column 'a' bad"  # no KeyError quoting


def test_collinear_helper_names_the_dependent_column():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    X = np.column_stack([np.ones(50), a, b, 2 * a - b])
    _raises(lambda: collinear_columns(X, ["const", "a", "b", "c"], "T"), "'c'", "['a', 'b']")
    collinear_columns(X[:, :3], ["const", "a", "b"], "T")  # full rank passes


# ----------------------------------------------------------------------------- PanelSFA
def test_sfa_collinear_regressors():
    df = _prod_panel(np.random.default_rng(1))
    df["L"] = 2.0 * df["K"]  # ln L = ln 2 + ln K
    _raises(lambda: PanelSFA(df, "Y", ["K", "L"], "id", "year", form="cobb-douglas"), "PanelSFA", "'L'",
            "collinear")


def test_sfa_single_period():
    df = _prod_panel(np.random.default_rng(2))
    one = df[df["year"] == 2010]
    _raises(lambda: PanelSFA(one, "Y", ["K", "L"], "id", "year"), "PanelSFA", "'year'", "2 periods")


def test_sfa_one_inf():
    df = _prod_panel(np.random.default_rng(3))
    df.loc[17, "K"] = np.inf
    msg = _raises(lambda: PanelSFA(df, "Y", ["K", "L"], "id", "year").fit(), "PanelSFA", "'K'", "infinite")
    assert "id=2" in msg and "year=2013" in msg  # the row is named (row 17 = entity 2, period 6)


def test_sfa_nonpositive_input_named():
    df = _prod_panel(np.random.default_rng(4))
    df.loc[3, "L"] = 0.0
    _raises(lambda: PanelSFA(df, "Y", ["K", "L"], "id", "year"), "'L'", "<= 0")


# ----------------------------------------------------------------------------- PanelThreshold
def test_threshold_constant_control_under_fixed_effects():
    df = _fe_panel(np.random.default_rng(5))
    df["size"] = 3.0
    _raises(lambda: PanelThreshold(df, "y", ["x"], "q", "id", "year", controls=["z", "size"]),
            "PanelThreshold", "'size'", "entity")


def test_threshold_control_fixed_per_entity():
    df = _fe_panel(np.random.default_rng(6))
    df["region"] = (df["id"] % 4).astype(float)
    _raises(lambda: PanelThreshold(df, "y", ["x"], "q", "id", "year", controls=["region"]), "'region'")


def test_threshold_control_by_year_with_time_effects():
    df = _fe_panel(np.random.default_rng(7))
    df["trend"] = (df["year"] - 2017) ** 2.0
    _raises(lambda: PanelThreshold(df, "y", ["x"], "q", "id", "year", controls=["trend"], time_effects=True),
            "'trend'")


# ----------------------------------------------------------------------------- IV2SLS
def test_iv_duplicate_entity_time_rows():
    rng = np.random.default_rng(8)
    df = _fe_panel(rng)
    df["w"] = df["x"] + rng.normal(size=len(df))
    dup = pd.concat([df, df.iloc[[5]]], ignore_index=True)
    _raises(lambda: IV2SLS(dup, "y", "x", "w", ["z"], entity="id", time="year", entity_effects=True).fit(),
            "IV2SLS", "duplicate", "id=0", "year=2022")


def test_iv_absorbed_instrument_named():
    rng = np.random.default_rng(9)
    df = _fe_panel(rng)
    df["w"] = rng.normal(size=df["id"].nunique())[df["id"]]
    _raises(lambda: IV2SLS(df, "y", "x", "w", ["z"], entity="id", time="year", entity_effects=True).fit(),
            "'w'", "variation")


# ----------------------------------------------------------------------------- NVAR
def _nvar_panel(rng, N=12, T=8):
    W = (rng.uniform(size=(N, N)) < 0.4).astype(float)
    np.fill_diagonal(W, 0.0)
    W /= np.maximum(W.sum(axis=1, keepdims=True), 1)
    df = pd.DataFrame({"p": np.tile(np.arange(N), T), "year": np.repeat(2008 + np.arange(T), N),
                       "x": rng.normal(size=N * T), "z": rng.normal(size=N * T)})
    df["y"] = df["x"] + rng.normal(size=N * T)
    return df, W


def test_nvar_nan_names_the_column_not_rank():
    df, W = _nvar_panel(np.random.default_rng(10))
    linked = int(np.flatnonzero(W[:, 3])[0])  # entity 3 is somebody's neighbour
    assert linked >= 0
    df.loc[(df["p"] == 3) & (df["year"] == 2011), "x"] = np.nan
    msg = _raises(lambda: NVAR(df, "y", "x", W, "p", "year", ["z"], effects="two-way").fit(), "NVAR", "NaN",
                  "'x'", "p=3", "year=2011")
    assert "rank" not in msg


def test_nvar_whole_period_nan_is_accepted():
    """NaN in whole periods (an index that starts later) only drops those periods."""
    df, W = _nvar_panel(np.random.default_rng(11))
    df.loc[df["year"] <= 2009, "x"] = np.nan
    res = NVAR(df, "y", "x", W, "p", "year", ["z"]).fit()
    assert res.nobs == 12 * 6  # periods 2010-2015 (y of 2009 supplies the lag)
    assert res.stats["N periods"] == 6


def test_nvar_collinear_control_named():
    df, W = _nvar_panel(np.random.default_rng(12))
    df["z2"] = 3.0 * df["z"]
    _raises(lambda: NVAR(df, "y", "x", W, "p", "year", ["z", "z2"]).fit(), "NVAR", "'z2'", "collinear")


def test_nvar_constant_control_named():
    df, W = _nvar_panel(np.random.default_rng(13))
    df["one"] = 1.0
    _raises(lambda: NVAR(df, "y", "x", W, "p", "year", ["z", "one"]).fit(), "'one'", "constant")


def test_nvar_text_in_numeric_column():
    df, W = _nvar_panel(np.random.default_rng(14))
    df["z"] = df["z"].astype(object)
    df.loc[4, "z"] = "n/a"
    _raises(lambda: NVAR(df, "y", "x", W, "p", "year", ["z"]).fit(), "'z'", "not numeric", "'n/a'")


# ----------------------------------------------------------------------------- StaggeredDiD
def _did_panel(rng, N=60, T=6):
    g = rng.choice([0, 3, 5], N)
    df = pd.DataFrame({"id": np.repeat(np.arange(N), T), "year": np.tile(np.arange(1, T + 1), N),
                       "cohort": np.repeat(g, T).astype(float)})
    df["y"] = rng.normal(size=len(df)) + ((df["cohort"] > 0) & (df["year"] >= df["cohort"]))
    return df


def test_staggered_did_nan_cohort_is_not_never_treated():
    df = _did_panel(np.random.default_rng(15))
    df.loc[df["id"] == 7, "cohort"] = np.nan
    _raises(lambda: StaggeredDiD(df, "y", "id", "year", "cohort"), "StaggeredDiD", "'cohort'", "NaN", "id=7")


def test_staggered_did_inf_and_zero_both_mean_never_treated():
    df = _did_panel(np.random.default_rng(16))
    a = StaggeredDiD(df, "y", "id", "year", "cohort").fit()
    df2 = df.assign(cohort=df["cohort"].replace(0.0, np.inf))
    b = StaggeredDiD(df2, "y", "id", "year", "cohort").fit()
    assert a.params["ATT"] == b.params["ATT"] and a.std_errors["ATT"] == b.std_errors["ATT"]


def test_staggered_did_cohort_varying_within_unit():
    df = _did_panel(np.random.default_rng(17))
    df.loc[(df["id"] == 4) & (df["year"] == 2), "cohort"] = 5.0 if df.loc[df["id"] == 4, "cohort"].iloc[0] != 5 else 3.0
    _raises(lambda: StaggeredDiD(df, "y", "id", "year", "cohort"), "'cohort'", "id=4")


# ----------------------------------------------------------------------------- TwoWayFE, mechanism, PSM
def test_fe_inf_absorbed_and_collinear():
    rng = np.random.default_rng(18)
    df = _fe_panel(rng)
    bad = df.copy()
    bad.loc[9, "z"] = -np.inf
    _raises(lambda: TwoWayFE(bad, "y", ["x", "z"], "id", "year").fit(), "TwoWayFE", "'z'", "infinite")
    df["size"] = rng.normal(size=df["id"].nunique())[df["id"]]
    _raises(lambda: TwoWayFE(df, "y", ["x", "size"], "id", "year").fit(), "'size'", "absorbed")
    df["x3"] = df["x"] - 2 * df["z"]
    _raises(lambda: TwoWayFE(df, "y", ["x", "z", "x3"], "id", "year").fit(), "'x3'", "collinear")
    pooled = df.assign(c=5.0)
    _raises(lambda: TwoWayFE.pooled(pooled, "y", ["x", "c"], "id", "year").fit(), "'c'", "constant")
    dup = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    _raises(lambda: TwoWayFE(dup, "y", ["x"], "id", "year").fit(), "duplicate", "id=0")
    _raises(lambda: TwoWayFE(df, "y", ["x", "nope"], "id", "year").fit(), "'nope'", "not in data")


def test_mechanism_passes_fe_errors_through():
    rng = np.random.default_rng(19)
    df = _fe_panel(rng)
    df["M"] = df["x"] + rng.normal(size=len(df))
    df["firmsize"] = rng.normal(size=df["id"].nunique())[df["id"]]
    _raises(lambda: MechanismTest(df, "y", "x", "M", "id", "year", controls=["firmsize"]).fit(), "'firmsize'")
    _raises(lambda: MechanismTest(df, "y", "x", "x", "id", "year"), "distinct")


def test_psm_treatment_not_binary_and_one_group():
    rng = np.random.default_rng(20)
    df = pd.DataFrame({"d": rng.integers(0, 2, 200), "x": rng.normal(size=200), "y": rng.normal(size=200)})
    _raises(lambda: PSM(df.assign(d=df["d"] * 2), "d", ["x"], "y"), "PSM", "'d'", "0/1")
    _raises(lambda: PSM(df.assign(d=1), "d", ["x"], "y"), "'d'", "treated")
    _raises(lambda: PSM(df.assign(x2=2 * df["x"]), "d", ["x", "x2"], "y"), "'x2'", "collinear")


# ----------------------------------------------------------------------------- replicate windows
def test_replicate_outside_study_window_names_table_and_window():
    from analysis.replicate import p2_fe, p3_table3, replicate_all

    rng = np.random.default_rng(21)
    df = _fe_panel(rng, T=5).rename(columns={"id": "firm_id", "y": "EXPY", "x": "IDC"})
    df["year"] = df["year"] - 9  # 2008-2012, not seed 002's 2017-2023
    for c in ("lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy", "Mshare", "TobinQ"):
        df[c] = rng.normal(size=len(df))
    _raises(lambda: p3_table3(df), "p3_table3", "2008-2012", "2017-2023")
    out = replicate_all({"firm": df}, tables=["p3_table3"])
    assert "2017-2023" in out.skipped["p3_table3"]
    with pytest.raises(PanelError, match="p3_table3"):
        replicate_all({"firm": df}, tables=["p3_table3"], errors="raise")
    city = df.rename(columns={"firm_id": "city_id", "EXPY": "loggdp", "IDC": "logcomputing"})
    _raises(lambda: p2_fe(city, controls=()), "p2_fe", "2017-2022")


def test_blas_threads_limited_for_small_fits_only():
    from threadpoolctl import threadpool_info

    from analysis.checks import blas_threads

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with blas_threads(1_000):
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
    with blas_threads(10_000_000):
        assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
