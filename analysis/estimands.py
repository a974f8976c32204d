"""What each study's estimator targets on one simulated panel: the ``estimands`` table of a run.

A run's ``truth_<study>`` tables hold the *structural* parameters of the model's mechanisms. The
studies' specifications do not nest those mechanisms (common national paths, omitted networks,
inefficiency that moves with capital, heterogeneous and ramping effects, spillovers between a
province's cities), so an estimator that works perfectly need not give the structural value back.
The **estimand** of a specification on a panel is the value the estimator reports on that panel
when the error term of the study's equation is absent: the estimator, with its own design (the
observed regressors, sample, weights, cohorts, instrument, matches), applied to the outcome's
*signal*, computed from the run's latent truths. The error term is what the specification says
is unrelated to its regressors of interest, and the signal is the outcome without it:

* **NVAR** (seed 000 eq. 14, pooled; and with province and year effects): the *noise-free panel*,
  lnTFP without the year's TFP shock ``eps`` (``latent_provinces``), regressed by the same OLS on
  the observed W·DF_qty, lagged (observed) lnTFP, DF_qty and Z0-Z5. The estimator is linear in the
  outcome, so the estimate is the estimand plus the same OLS applied to ``eps``, which is
  uncorrelated with the period's regressors: the estimand is what the estimator centres on, up to
  the O(1/T) (with effects: Nickell) bias of a lagged outcome.
* **SFA** (Cobb-Douglas frontier with a trend, BC92 inefficiency): the noise-free panel, ln Y without
  the output noise ``v``; the estimand is the slope of the deterministic frontier of that panel
  (corrected OLS: the least-squares slope on ln K, ln L and the trend, which the frontier's slope
  equals when inefficiency does not move with the inputs).
* **Hansen threshold** (two thresholds, year effects): the regime slopes, at the true thresholds,
  of the part of loggdp that compute produces, loggdp - logpot (``latent_cities``): the regime
  elasticity, the hub-cluster increment the specification omits and the provincial adding-up
  through which a city's compute moves GDP between the province's cities. The controls proxy
  potential GDP; what they leave of it is the estimator's bias.
* **Two-way FE, Bartik 2SLS, PSM matched-sample FE, Callaway-Sant'Anna** (seed 002): the effect
  component of the study's (winsorised) EXPY, EXPY - EXPY0 with EXPY0 (``latent_firms``) clipped
  at the same bounds, i.e. IDC x the realised effect ``tau_EXPY``. Each estimator is linear in the
  outcome, so the estimand is its own weighted average of the realised effects on the treated:
  TWFE weights each deployed firm-year by its residualised IDC (possibly negative for long-treated
  cells), 2SLS by the residualised instrument-fitted IDC (a LATE of instrument compliers), PSM by
  the two-way-FE weights of the matched sample, Callaway-Sant'Anna by its cohort-time cells with
  cohort-size aggregation weights. The estimate is the estimand plus the estimator applied to the
  untreated outcome, which is zero in expectation exactly when its identifying assumption
  (parallel trends, instrument exogeneity, selection on the controls) holds.

Each row also gives the structural value the estimand relates to (a ``truth_<study>`` row), so
``estimand - structural`` is the specification's distance from the mechanism and
``estimate - estimand`` the estimator's own error. ``experiments`` writes the table beside the
truths of every run that writes panels; ``validate --design model`` measures bias and coverage
against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from analysis.results import EstimationResult
    from analysis.sfa import PanelSFA
    from analysis.staggered_did import StaggeredDiD
    from analysis.threshold import PanelThreshold

# The estimators (linearmodels, statsmodels, diff-diff, scipy.stats) are imported where they are fitted, so
# that ``estimand_inputs`` can cut a run's study tables down to what the estimands read while the model is
# still in memory, without the estimators' imports adding to it (``sim.outputs.write_run`` with ``derive``).

COLUMNS = ("study", "estimator", "spec", "param", "estimand", "value", "unit", "n_obs", "definition", "computed",
           "structural", "structural_value")
FIRM_ATT = "att_EXPY_2017_2023"


def cohort_frame(sample: pd.DataFrame, first: int = 2017) -> pd.DataFrame:
    """Firm sample with ``cohort`` = first year with IDC = 1 (0 = never); firms already deployed in
    ``first`` (always treated in the window) are dropped, as Callaway-Sant'Anna requires."""
    g = sample.loc[sample["IDC"] > 0].groupby("firm_id")["year"].min()
    out = sample.assign(cohort=sample["firm_id"].map(g).fillna(0).astype(int))
    return out[out["cohort"] != first].reset_index(drop=True)


# ----------------------------------------------------------------------------------------- the specifications
def nvar_fit(df: pd.DataFrame, effects: str | None = None, y: str = "lnTFP") -> EstimationResult:
    """Seed 000 eq. 14 on DF_qty with geographic weights: pooled with HC1 errors, or with ``effects``
    and province-clustered errors; the lag is always the observed lnTFP's."""
    from analysis.nvar import NVAR
    from analysis.replicate import P1_CONTROLS, province_weights

    W = province_weights("geo", sorted(df["province"].unique()))
    return NVAR(df, y, "DF_qty", W, "province", "year", controls=list(P1_CONTROLS), effects=effects,
                cov="cluster" if effects else "robust", lag_of="lnTFP").fit()


def nvar_fe_fit(df: pd.DataFrame, y: str = "lnTFP") -> EstimationResult:
    return nvar_fit(df, "two-way", y)


def sfa_model(df: pd.DataFrame, y: str = "Y") -> PanelSFA:
    from analysis.sfa import PanelSFA

    return PanelSFA(df, y, ["K", "L"], "province", "year", form="cobb-douglas", inefficiency="bc92")


def sfa_fit(df: pd.DataFrame) -> EstimationResult:
    return sfa_model(df).fit()


def threshold_model(df: pd.DataFrame, y: str = "loggdp") -> PanelThreshold:
    from analysis.replicate import P2_CONTROLS
    from analysis.threshold import PanelThreshold

    return PanelThreshold(df, y, ["logcomputing"], "pGDP", "city_id", "year", list(P2_CONTROLS), n_thresholds=2,
                          time_effects=True)


def threshold_fit(df: pd.DataFrame) -> EstimationResult:
    return threshold_model(df).fit()


def twfe_fit(df: pd.DataFrame, y: str = "EXPY") -> EstimationResult:
    from analysis.fixed_effects import TwoWayFE
    from analysis.replicate import P3_CONTROLS

    return TwoWayFE(df, y, ["IDC", *P3_CONTROLS], "firm_id", "year").fit()


def table4_fit(df: pd.DataFrame, y: str = "EXPY") -> EstimationResult:
    """Seed 002 table 4's Bartik 2SLS second stage."""
    from analysis.replicate import p3_table4

    return p3_table4(df, y=y).results["IV second stage"]


def psm_fit(df: pd.DataFrame, y: str = "EXPY") -> EstimationResult:
    from analysis.replicate import p3_table4

    return p3_table4(df, y=y).results["PSM"]


def cs_model(df: pd.DataFrame, y: str = "EXPY") -> StaggeredDiD:
    from analysis.staggered_did import StaggeredDiD

    return StaggeredDiD(cohort_frame(df), y, "firm_id", "year", "cohort")


def cs_fit(df: pd.DataFrame, y: str = "EXPY") -> EstimationResult:
    return cs_model(df, y).fit()


@dataclass(frozen=True)
class StudySpec:
    """One specification of a study: ``fit`` is the estimator on the study's sample, ``params`` maps each
    compared parameter to (structural truth row, unit), ``definition`` says what its estimand is,
    ``computed`` how it is obtained and ``note`` why the estimand differs from the structural value."""

    study: str
    estimator: str
    spec: str
    label: str
    params: Mapping[str, tuple[str, str]]
    fit: Callable[[pd.DataFrame], EstimationResult]
    definition: str
    computed: str
    note: str

    def key(self, param: str) -> str:
        """The estimand's name, ``spec.param`` (the ``estimand`` column)."""
        return f"{self.spec}.{param}"


_PE = "province_economy."
_NVAR_PARAMS = {"beta1": (_PE + "beta1_qty", "log TFP per DF unit"), "beta2": (_PE + "beta2", "coefficient"),
                "alpha": (_PE + "alpha_qty", "log TFP per DF unit")}
_NOISE_FREE_NVAR = ("coefficient on the noise-free panel: lnTFP without its shock eps regressed, by the "
                    "specification's own {how}, on the observed W·DF_qty, lagged lnTFP, DF_qty and Z0-Z5")
_P1, _P3 = "the run's years 2008-2022 (the study sample)", "the run's years 2017-2023 (the study sample)"
_FIRM_PARAM = {"IDC": (FIRM_ATT, "log points of EXPY")}
_EFFECT = "EXPY - clip(EXPY0) (= IDC x realised tau_EXPY on the winsorised scale, latent_firms)"
_FIRM_NOTE = ("The effect ramps in over a year and differs by ownership, industry, data platform and compute "
              "access, so the estimator's weighting of the realised effects (the estimand) differs from the "
              "deployed firm-years' plain average (the structural value, truth_firms att_EXPY_2017_2023); "
              "adoption is selected on capability, which also enters EXPY (absorbed by firm effects). ")

SPECS: tuple[StudySpec, ...] = (
    StudySpec("provinces", "nvar", "p1_table2_col8", "NVAR eq. 14 (seed 000 table 2 col. 8)", _NVAR_PARAMS,
              nvar_fit, _NOISE_FREE_NVAR.format(how="pooled OLS"),
              f"NVAR(lnTFP - eps, lag of the observed lnTFP) on {_P1}",
              "In the model DF_qty and TFP share national paths and TFP also loads on the quality network, "
              "distortions and innovation; pooled eq. 14 loads the common component on W·DF_qty and the "
              "province effects on the lag, so its estimand (the noise-free coefficient) lies far from the "
              "structural beta1; against it the estimator is centred, up to the small-sample bias of a lagged "
              "outcome."),
    StudySpec("provinces", "nvar", "nvar_two_way", "NVAR eq. 14 with province and year effects (diagnostic)",
              _NVAR_PARAMS, nvar_fe_fit, _NOISE_FREE_NVAR.format(how="within (province and year effects) OLS"),
              f"NVAR(lnTFP - eps, lag of the observed lnTFP, two-way effects) on {_P1}",
              "Year effects absorb the national paths and province effects mu_i, province-clustered errors; with "
              "a lagged outcome and T = 15 the within estimator carries Nickell bias in beta2 against the "
              "noise-free estimand (the demeaned lag correlates with the demeaned shock), which spills into "
              "beta1 and alpha."),
    StudySpec("provinces", "sfa", "p1_sfa_cd_bc92", "Cobb-Douglas SFA, BC92",
              {"K": (_PE + "elasticity_k", "elasticity"), "L": (_PE + "elasticity_l", "elasticity")}, sfa_fit,
              "slope of the deterministic frontier of the noise-free panel: least squares of ln Y - v on "
              "ln K, ln L and the trend (corrected OLS)",
              f"OLS of ln(Y) - v (latent_provinces) on the SFA's frontier regressors, {_P1}",
              "The model's frontier shifts with max_i lnTFP_t, not a linear trend, and inefficiency u falls with "
              "capital accumulated from output, so the Cobb-Douglas slope of the noise-free output (the "
              "estimand) exceeds the structural capital elasticity; BC92 assumes u independent of the inputs, "
              "so its ML slope can still differ from the corrected-OLS one by the part of u that moves with them."),
    StudySpec("cities", "threshold", "p2_threshold", "Hansen threshold, 2 thresholds, year FE",
              {f"logcomputing_r{j + 1}": (f"city_economy.elasticity_{r}", "elasticity")
               for j, r in enumerate(("low", "mid", "high"))}, threshold_fit,
              "regime slope, at the true thresholds, of the compute part of city GDP (loggdp - logpot): the "
              "regime elasticity, the omitted hub-cluster increment and the provincial adding-up",
              "within OLS of loggdp - logpot (latent_cities) on the regime-interacted logcomputing, controls and "
              "year effects at city_economy.threshold_low_yi / threshold_high_yi, the run's years 2017-2022 "
              "(the study sample)",
              "The hub-city increment (elasticity_pivot) is omitted and city GDP adds up to the province's, so a "
              "city's compute partly moves GDP from its neighbours; the estimand carries both, the structural "
              "regime elasticity neither. The estimator also estimates the thresholds and relies on the controls "
              "to absorb potential GDP; what they leave is its bias."),
    StudySpec("firms", "twfe", "p3_table3_col2", "Two-way FE (seed 002 table 3 col. 2)", _FIRM_PARAM, twfe_fit,
              "TWFE-weighted average of the realised deployment effects: the two-way FE coefficient of the effect "
              "component (weights = IDC residualised on firm and year effects and the controls)",
              f"TwoWayFE of {_EFFECT} on IDC and the controls, {_P3}",
              _FIRM_NOTE + "TWFE weights cells by their residualised IDC and uses already-deployed firms as "
              "controls, which the estimand keeps and the structural average does not."),
    StudySpec("firms", "iv", "p3_table4_iv", "Bartik 2SLS (seed 002 table 4)", _FIRM_PARAM, table4_fit,
              "2SLS-weighted average of the realised effects (a LATE: weights = residualised instrument-fitted IDC)",
              f"p3_table4 second stage of {_EFFECT}, {_P3}",
              _FIRM_NOTE + "2SLS estimates a LATE of instrument compliers, not the ATT; the Bartik instrument is "
              "weak on the model's panels, so the estimate is noisy and heavy-tailed."),
    StudySpec("firms", "psm", "p3_table4_psm", "PSM matched-sample two-way FE (seed 002 table 4)", _FIRM_PARAM,
              psm_fit, "two-way FE weighted average of the realised effects on the matched sample",
              f"p3_table4 PSM column (1:4 nearest-neighbour logit match, then TwoWayFE) of {_EFFECT}",
              _FIRM_NOTE + "Matching on the controls balances them, not the firm effect; the FE on the matched "
              "sample then weights it like TWFE."),
    StudySpec("firms", "csdid", "p3_csdid_never", "Callaway-Sant'Anna, never-treated controls",
              {"ATT": _FIRM_PARAM["IDC"]}, cs_fit,
              "Callaway-Sant'Anna aggregate ATT of the realised effects: mean effect of each post-adoption "
              "cohort-time cell, aggregated with the estimator's cohort-size weights",
              f"StaggeredDiD (never-treated controls, no covariates) of {_EFFECT}; cohorts adopting 2018-2023",
              _FIRM_NOTE + "CS without covariates assumes parallel trends unconditionally, which the controls' "
              "different paths across cohorts can break; firms enter and exit, so the panel is unbalanced."),
)


def specs_of(estimator: str | None = None, study: str | None = None) -> list[StudySpec]:
    return [s for s in SPECS if (estimator is None or s.estimator == estimator) and (study is None or s.study == study)]


# ----------------------------------------------------------------------------------------- signals
#: Per study, the keys and the columns of its latent truths that its signal reads.
SIGNAL_COLUMNS = {"provinces": (["province", "year"], ["eps", "v"]), "cities": (["city_id", "year"], ["logpot"]),
                  "firms": (["firm_id", "year"], ["EXPY0"])}


def _with_latent(sample: pd.DataFrame, latent: pd.DataFrame, keys: list[str], cols: list[str]) -> pd.DataFrame:
    missing = [c for c in cols if c not in latent.columns]
    if missing:
        raise KeyError(f"latent truths lack {', '.join(missing)}")
    return sample.merge(latent[keys + cols], on=keys, how="left", validate="one_to_one")


def province_signal(sample: pd.DataFrame, latent: pd.DataFrame) -> pd.DataFrame:
    """The province sample plus ``lnTFP_noise_free`` = lnTFP - eps and ``Y_noise_free`` = Y exp(-v)."""
    d = _with_latent(sample, latent, *SIGNAL_COLUMNS["provinces"])
    return d.assign(lnTFP_noise_free=d["lnTFP"] - d["eps"], Y_noise_free=d["Y"] * np.exp(-d["v"]))


def city_signal(sample: pd.DataFrame, latent: pd.DataFrame) -> pd.DataFrame:
    """The city sample plus ``loggdp_compute`` = loggdp - logpot (the compute part of log GDP)."""
    d = _with_latent(sample, latent, *SIGNAL_COLUMNS["cities"])
    return d.assign(loggdp_compute=d["loggdp"] - d["logpot"])


def firm_signal(sample: pd.DataFrame, latent: pd.DataFrame) -> pd.DataFrame:
    """The (winsorised) firm sample with EXPY replaced by its effect component EXPY - clip(EXPY0):
    EXPY0 clipped at the sample's winsorising bounds (the min and max of the winsorised EXPY), so the
    component is IDC x the realised effect on the scale the estimators see."""
    d = _with_latent(sample, latent, *SIGNAL_COLUMNS["firms"])
    lo, hi = d["EXPY"].min(), d["EXPY"].max()
    return sample.assign(EXPY=(d["EXPY"] - d["EXPY0"].clip(lo, hi)).to_numpy())


# ----------------------------------------------------------------------------------------- the values
Values = dict[tuple[str, str], tuple[float, int] | str]


def _why(err: Exception) -> str:
    text = str(err).splitlines()[0][:160] if str(err) else ""
    return f"not computed on this run: {type(err).__name__}: {text}"


def _into(out: Values, keys: list[tuple[str, str]], compute: Callable[[], Values]) -> None:
    """Store ``compute()`` ((spec, param) -> (value, n_obs)) in ``out``, or under ``keys`` why it failed:
    one estimator that cannot run on a short or odd panel leaves the others' estimands."""
    try:
        out.update(compute())
    except Exception as err:  # one short line in the table instead of a failed run
        out.update(dict.fromkeys(keys, _why(err)))


def _read(res: EstimationResult, spec: str, params) -> Values:
    return {(spec, p): (float(res.params[p]), int(res.nobs)) for p in params}


def province_values(d: pd.DataFrame) -> Values:
    """Estimands of the province specifications on ``province_signal`` output."""
    out: Values = {}
    for spec, effects in (("p1_table2_col8", None), ("nvar_two_way", "two-way")):
        _into(out, [(spec, p) for p in _NVAR_PARAMS],
              lambda e=effects, sp=spec: _read(nvar_fit(d, e, y="lnTFP_noise_free"), sp, _NVAR_PARAMS))

    def cols():
        m = sfa_model(d, "Y_noise_free")
        b = pd.Series(np.linalg.lstsq(m.X, m.logy, rcond=None)[0], index=m.exog_names)
        return {("p1_sfa_cd_bc92", p): (float(b[p]), m.n) for p in ("K", "L")}

    _into(out, [("p1_sfa_cd_bc92", p) for p in ("K", "L")], cols)
    return out


def city_values(d: pd.DataFrame, gammas: tuple[float, float]) -> Values:
    """Estimands of the threshold specification on ``city_signal`` output at the true thresholds ``gammas``."""
    out: Values = {}

    def slopes():
        m = threshold_model(d, "loggdp_compute")
        b = m.slopes_at(gammas)
        return {("p2_threshold", f"logcomputing_r{j}"): (float(b[f"logcomputing_r{j}"]), len(m.data))
                for j in (1, 2, 3)}

    _into(out, [("p2_threshold", f"logcomputing_r{j}") for j in (1, 2, 3)], slopes)
    return out


def firm_values(d: pd.DataFrame) -> Values:
    """Estimands of the firm specifications on ``firm_signal`` output (EXPY = its effect component): the
    estimators' point estimates only, by paths that import neither linearmodels nor scipy.stats."""
    out: Values = {}
    _into(out, [("p3_table3_col2", "IDC")], lambda: _read(twfe_fit(d), "p3_table3_col2", ["IDC"]))

    def table4():
        from analysis.replicate import p3_table4_coefficients

        t = p3_table4_coefficients(d)
        return {(spec, "IDC"): (float(t[col][0]["IDC"]), t[col][1])
                for spec, col in (("p3_table4_iv", "IV second stage"), ("p3_table4_psm", "PSM"))}

    def cs():
        att, n = cs_model(d).overall_att()
        return {("p3_csdid_never", "ATT"): (att, n)}

    _into(out, [("p3_table4_iv", "IDC"), ("p3_table4_psm", "IDC")], table4)
    _into(out, [("p3_csdid_never", "ATT")], cs)
    return out


def _values(study: str, sample: pd.DataFrame, latent: pd.DataFrame, truth: pd.Series) -> Values:
    if study == "provinces":
        return province_values(province_signal(sample, latent))
    if study == "cities":
        return city_values(city_signal(sample, latent),
                           (truth["city_economy.threshold_low_yi"], truth["city_economy.threshold_high_yi"]))
    return firm_values(firm_signal(sample, latent))


STUDIES = ("provinces", "cities", "firms")


def study_estimands(study: str, panel: pd.DataFrame, latent: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The estimand rows of one study from its panel (all years), latent truths and truth table.

    The study's sample is cut as ``suanli replicate`` cuts it (``sim.studies.<study>.study_sample``). If an
    estimand cannot be computed on this run (e.g. its years do not cover the window), its value is NaN
    and ``computed`` says why; nothing is raised, so a run's outputs are always written. BLAS runs on
    one thread, so the values do not depend on the machine's thread count (byte-identical outputs
    serially, in processes and on Dask), and the estimators' warnings are not shown."""
    import importlib
    import warnings

    from analysis.checks import blas_threads

    mod = importlib.import_module(f"sim.studies.{study}")
    t = truth.set_index("name")["value"].astype(float)
    try:
        with warnings.catch_warnings(), blas_threads(0):
            warnings.simplefilter("ignore")
            vals = _values(study, mod.study_sample(panel), latent, t)
    except Exception as err:  # a panel or latent table without what the signal needs
        vals = {(s.spec, p): _why(err) for s in specs_of(study=study) for p in s.params}
    rows = []
    for s in specs_of(study=study):
        for p, (struct, unit) in s.params.items():
            got = vals.get((s.spec, p), "not computed")
            v, n, how = (np.nan, 0, got) if isinstance(got, str) else (*got, s.computed)
            rows.append(dict(study=study, estimator=s.estimator, spec=s.spec, param=p, estimand=s.key(p), value=v,
                             unit=unit, n_obs=int(n), definition=s.definition, computed=how,
                             structural=struct, structural_value=float(t.get(struct, np.nan))))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def estimand_inputs(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The part of a run's study tables that ``estimand_table`` reads, which gives it the same table: each
    study's panel and latent truths cut to the study window (``sim.studies.<study>.STUDY_WINDOW``, where
    ``study_sample`` cuts them) and the latent truths to the keys and ``SIGNAL_COLUMNS``. A few MB instead of
    the whole firm panel and latent table, so it can be taken from a run before the model is freed and the
    estimators are imported. Imports no estimator; a table without a numeric ``year`` is passed on whole."""
    import importlib

    from sim.studies.base import in_window

    out = dict(tables)
    for study in STUDIES:
        mod = importlib.import_module(f"sim.studies.{study}")
        keys, cols = SIGNAL_COLUMNS[study]
        for name in (f"study_{study}", f"latent_{study}"):
            if name not in out:
                continue
            df = out[name]
            if "year" not in df.columns or not pd.api.types.is_numeric_dtype(df["year"]):
                continue  # passed on whole: study_estimands names what is wrong with it
            if name.startswith("latent_"):
                df = df[[c for c in df.columns if c in keys or c in cols]]
            out[name] = in_window(df, *mod.STUDY_WINDOW)
    return out


def estimand_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``estimands`` table of a run from its study tables (``sim.outputs.study_tables``: ``study_<s>``,
    ``latent_<s>``, ``truth_<s>``): one row per study, estimator, specification and parameter."""
    parts = [study_estimands(s, tables[f"study_{s}"], tables[f"latent_{s}"], tables[f"truth_{s}"])
             for s in STUDIES if {f"study_{s}", f"latent_{s}", f"truth_{s}"} <= set(tables)]
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(parts, ignore_index=True)
