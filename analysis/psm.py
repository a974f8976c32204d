"""Propensity-score matching (seed 002 table 4, PSM column).

The score is the maximum-likelihood logit by Newton's method (``logit_fit``: a dozen lines, equal
to statsmodels' ``Logit`` to 1e-8 in the tests, written here because importing statsmodels costs
a run's estimand table about 1.5 s); k-nearest-neighbour matching on the logit of the score (scipy
``cKDTree``), the matching estimator of the ATT/ATC/ATE and its Abadie–Imbens (2006) standard error
are hand-written: no well-kept Python library provides matching estimators with the Abadie–Imbens
variance. The balance table's tests are scipy's and statsmodels' (imported when it is made).

The standard error is Abadie & Imbens (2006, Econometrica 74, sec. 4) exactly, with M = k
matches with replacement on the linear index and K_M(i) = sum over the targets l that
use unit i of 1/(number of matches of l) (= the count / M without ties):

* sigma^2(X_i, W_i) = J/(J+1) (Y_i - mean of the J nearest units of i's own treatment
  group)^2, J = ``var_matches`` (default k) -- their eq. (14);
* ATT (population): V = [sum_{W=1} (Y_i - Yhat_i(0) - tau)^2
  + sum_{W=0} K_M(i)(K_M(i) - 1)/M^2 sigma^2_i] / N_1^2, computed with weights as
  sum_{W=0} (w_i^2 - v_i) sigma^2_i, w_i = K_M(i)/M and v_i the sum of the squared match
  weights of unit i (= K_M(i)/M^2 without ties); ATC symmetric;
* ATE (population): V = [sum_i (Yhat_i(1) - Yhat_i(0) - tau)^2
  + sum_i ((K_M(i)/M)^2 + (2M-1)/M · K_M(i)/M) sigma^2_i] / N^2;
* conditional on X (``stats``): V = sum_i (1{target} + K_M(i)/M)^2 sigma^2_i / N_target^2.

Tested against a direct loop implementation of these formulas on a tie-free sample. The
variance treats the score as known (no Abadie–Imbens 2016 correction for its
estimation). R's ``Matching`` defaults differ (``Var.calc = 0``, a homoskedastic
sigma^2), which explains SEs a few per cent apart; ``Var.calc = J`` corresponds to
``var_matches = J``. Without replacement the same formulas are applied to the greedy
match weights, a plug-in outside AI's theory.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.special import expit, log_expit

from analysis.checks import PanelError, blas_threads, collinear_columns, constant_columns, numeric_columns, \
    require_columns
from analysis.results import EstimationResult


def _knn(donor: np.ndarray, target: np.ndarray, k: int, radius: float) -> np.ndarray:
    """Indices (into ``donor``) of the k nearest donors of each target; -1 beyond ``radius``."""
    k = min(k, donor.size)
    tree = cKDTree(donor[:, None])
    dist, idx = tree.query(target[:, None], k=list(range(1, k + 1)), distance_upper_bound=radius)
    idx = np.where(np.isfinite(dist), idx, -1)
    return idx.astype(np.int64)


def _greedy_no_replacement(donor: np.ndarray, target: np.ndarray, k: int, radius: float) -> np.ndarray:
    """Greedy k:1 matching without replacement, targets taken in descending score order.

    Sequential by nature (each match removes a donor); donors are kept sorted and the
    nearest free donor on each side is found with path-compressed skip pointers.
    """
    order = np.argsort(donor, kind="stable")
    s = donor[order]
    n = s.size
    right = np.arange(n + 1)
    left = np.arange(-1, n)

    def find(ptr: np.ndarray, i: int, off: int) -> int:
        root = i
        while ptr[root + off] != root:
            root = ptr[root + off]
        while ptr[i + off] != root:
            ptr[i + off], i = root, ptr[i + off]
        return root

    out = np.full((target.size, k), -1, dtype=np.int64)
    pos = np.searchsorted(s, target)
    for t in np.argsort(-target, kind="stable"):
        lo, hi = find(left, int(pos[t]) - 1, 1), find(right, int(pos[t]), 0)
        for j in range(k):
            dl = target[t] - s[lo] if lo >= 0 else np.inf
            dr = s[hi] - target[t] if hi < n else np.inf
            if min(dl, dr) > radius:
                break
            if dl <= dr:
                c, lo = lo, None
            else:
                c, hi = hi, None
            out[t, j] = order[c]
            right[c] = c + 1
            left[c + 1] = c - 1
            lo = find(left, c - 1, 1) if lo is None else lo
            hi = find(right, c + 1, 0) if hi is None else hi
    return out


def _within_group_variance(score: np.ndarray, y: np.ndarray, group: np.ndarray, J: int) -> np.ndarray:
    """Abadie–Imbens conditional variance: J/(J+1) (Y_i - mean of J same-group neighbours)^2."""
    out = np.full(y.size, np.nan)
    for g in (False, True):
        idx = np.flatnonzero(group == g)
        if idx.size < 2:
            continue
        j = min(J, idx.size - 1)
        tree = cKDTree(score[idx, None])
        _, nb = tree.query(score[idx, None], k=list(range(1, j + 2)))
        keep = nb != np.arange(idx.size)[:, None]
        keep[keep.sum(axis=1) > j, -1] = False
        nb = nb[keep].reshape(idx.size, j)
        out[idx] = j / (j + 1.0) * (y[idx] - y[idx][nb].mean(axis=1)) ** 2
    return out


def logit_fit(d: np.ndarray, X: np.ndarray, tol: float = 1e-10, maxiter: int = 100) -> tuple[np.ndarray, float]:
    """Maximum-likelihood logit of 0/1 ``d`` on ``X`` (a constant included by the caller): Newton's
    method from zero, with step halving, until the largest step is below ``tol``; (coefficients,
    log-likelihood). Raises ``PanelError`` if it does not converge (e.g. perfect separation)."""
    y = d.astype(float)
    b = np.zeros(X.shape[1])

    def llf(beta):
        z = X @ beta
        return float(np.sum(y * log_expit(z) + (1.0 - y) * log_expit(-z)))

    ll = llf(b)
    for _ in range(maxiter):
        p = expit(X @ b)
        H = (X * (p * (1.0 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(H, X.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        for _ in range(50):
            ll_new = llf(b + step)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        b, ll = b + step, ll_new
        if not np.isfinite(b).all():
            break
        if np.abs(step).max() < tol * max(1.0, np.abs(b).max()):
            return b, ll
    raise PanelError(f"PSM: the propensity-score logit did not converge in {maxiter} Newton steps "
                     "(perfect separation of the treated by the covariates?)")


def _mcfadden_r2(llf: float, d: np.ndarray) -> float:
    """McFadden's pseudo R2 1 - llf / llnull, with the constant-only logit's log-likelihood in closed
    form (its MLE is the treated share), which statsmodels' ``prsquared`` refits by Nelder-Mead."""
    n1, n = float(d.sum()), float(d.size)
    p = n1 / n
    return 1.0 - float(llf) / (n1 * np.log(p) + (n - n1) * np.log1p(-p))


class PSM:
    """Propensity-score matching estimator.

    ``treat`` is a 0/1 column; the score is a logit of ``treat`` on ``covariates`` plus a
    constant. Each target unit (treated for ``'ATT'``, controls for ``'ATC'``, all for
    ``'ATE'``) is matched to its ``k`` nearest neighbours of the other group on the
    linear index (logit of the score), with or without replacement. ``caliper`` is in
    standard deviations of the linear index (e.g. 0.05 or 0.2): neighbours farther
    away are dropped and targets left without a neighbour are off support. Rows with a
    missing value in any used column are dropped.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        treat: str,
        covariates: Sequence[str],
        outcome: str,
        k: int = 4,
        replace: bool = True,
        caliper: float | None = None,
        estimand: str = "ATT",
        var_matches: int | None = None,
    ) -> None:
        who = "PSM"
        if estimand not in ("ATT", "ATC", "ATE"):
            raise PanelError(f"{who}: estimand={estimand!r}; allowed: 'ATT', 'ATC', 'ATE'")
        if int(k) != k or k < 1:
            raise PanelError(f"{who}: k={k!r}; it must be an integer >= 1")
        if caliper is not None and not (np.isfinite(caliper) and caliper > 0):
            raise PanelError(f"{who}: caliper={caliper!r}; it must be a positive number or None")
        self.covariates = list(covariates)
        self.treat, self.outcome = treat, outcome
        self.k, self.replace, self.caliper, self.estimand = int(k), bool(replace), caliper, estimand
        J = self.k if var_matches is None else var_matches
        if int(J) != J or J < 1:
            raise PanelError(f"{who}: var_matches={var_matches!r}; it must be an integer >= 1")
        self.var_matches = int(J)
        cols = list(dict.fromkeys([treat, outcome, *self.covariates]))
        require_columns(data, cols, who)
        num = numeric_columns(data, cols, who)
        keep = num.notna().all(axis=1).to_numpy()
        self.data = data.loc[keep]
        num = num.loc[keep]
        d = num[treat].to_numpy()
        bad = ~np.isin(d, (0.0, 1.0))
        if bad.any():
            raise PanelError(f"{who}: column {treat!r} must be 0/1; it has {int(bad.sum())} other values "
                             f"(first {d[bad][0]!r})")
        self._d = d.astype(bool)
        n1 = int(self._d.sum())
        if n1 < 2 or self._d.size - n1 < 2:
            raise PanelError(f"{who}: column {treat!r} has {n1} treated and {self._d.size - n1} control rows; "
                             "at least 2 of each are needed")
        Xc = num[self.covariates].to_numpy()
        constant_columns(Xc, self.covariates, who, " (the logit has a constant)")
        self._X = np.column_stack([np.ones(len(Xc)), Xc])  # the logit's design (constant first)
        collinear_columns(self._X, ["const", *self.covariates], who,
                          why=" in the propensity-score logit")
        self._y = num[outcome].to_numpy()
        self._fitted: dict | None = None

    def _match(self) -> dict:
        params, llf = logit_fit(self._d, self._X)
        lin = self._X @ params
        radius = np.inf if self.caliper is None else float(self.caliper) * lin.std(ddof=1)
        d, y, n = self._d, self._y, self._d.size
        sides = {"ATT": (True,), "ATC": (False,), "ATE": (True, False)}[self.estimand]
        w = np.zeros(n)
        v = np.zeros(n)
        target = np.zeros(n, dtype=bool)
        y1, y0 = y.copy(), y.copy()
        pairs = []
        for side in sides:
            tgt, don = np.flatnonzero(d == side), np.flatnonzero(d != side)
            if self.replace:
                nb = _knn(lin[don], lin[tgt], self.k, radius)
            else:
                nb = _greedy_no_replacement(lin[don], lin[tgt], self.k, radius)
            ok = nb >= 0
            m = ok.sum(axis=1)
            on = m > 0
            tgt, nb, ok, m = tgt[on], nb[on], ok[on], m[on]
            target[tgt] = True
            rows = np.repeat(np.arange(tgt.size), ok.sum(axis=1))
            donors = don[nb[ok]]
            share = 1.0 / m[rows]
            np.add.at(w, donors, share)
            np.add.at(v, donors, share**2)
            imputed = np.bincount(rows, weights=share * y[donors], minlength=tgt.size)
            (y0 if side else y1)[tgt] = imputed
            pairs.append(pd.DataFrame({"target": tgt[rows], "donor": donors, "weight": share}))
        N = int(target.sum())
        if N == 0:
            raise PanelError(f"PSM: no target unit has a match within the caliper ({self.caliper} SD of the "
                             "linear index)")
        tau_i = (y1 - y0)[target]
        tau = float(tau_i.mean())
        sigma2 = _within_group_variance(lin, y, d, self.var_matches)
        c2 = (target + w) ** 2
        var_cond = float(np.nansum(c2 * sigma2)) / N**2
        var_pop = (float(((tau_i - tau) ** 2).sum()) + float(np.nansum((c2 - target - v) * sigma2))) / N**2
        return dict(
            logit_params=params, llf=llf, lin=lin, pscore=expit(lin), target=target, weight=w,
            tau=tau, var_pop=var_pop, var_cond=var_cond, pairs=pd.concat(pairs, ignore_index=True),
            n_off=int(sum((d == s).sum() for s in sides) - N), radius=radius,
        )

    def _balance(self, f: dict) -> pd.DataFrame:
        from scipy import stats
        from statsmodels.regression.linear_model import WLS
        from statsmodels.tools.tools import add_constant

        d = self._d
        X = self.data[self.covariates].to_numpy(dtype=float)
        X = np.column_stack([X, f["pscore"]])
        names = [*self.covariates, "_pscore"]
        if self.estimand == "ATT":
            wt = np.where(d, f["target"].astype(float), f["weight"])
        elif self.estimand == "ATC":
            wt = np.where(d, f["weight"], f["target"].astype(float))
        else:
            wt = f["target"] + f["weight"]
        rows = []
        for j, nm in enumerate(names):
            x = X[:, j]
            xt, xc = x[d], x[~d]
            sd = np.sqrt((xt.var(ddof=1) + xc.var(ddof=1)) / 2.0)
            p_before = stats.ttest_ind(xt, xc).pvalue
            mt = np.average(xt, weights=wt[d])
            mc = np.average(xc, weights=wt[~d])
            use = wt > 0
            wls = WLS(x[use], add_constant(d[use].astype(float)), weights=wt[use]).fit()
            b0, b1 = 100 * (xt.mean() - xc.mean()) / sd, 100 * (mt - mc) / sd
            rows.append(
                dict(
                    variable=nm, mean_treated_before=xt.mean(), mean_control_before=xc.mean(),
                    bias_before=b0, p_before=p_before, mean_treated_after=mt, mean_control_after=mc,
                    bias_after=b1, p_after=float(wls.pvalues[1]),
                    bias_reduction=100 * (1 - abs(b1) / abs(b0)) if b0 != 0 else np.nan,
                )
            )
        return pd.DataFrame(rows).set_index("variable")

    def matched_sample(self) -> pd.DataFrame:
        """Matched rows (targets on support and the donors used) with ``_weight`` and ``_pscore``.

        ``_weight`` is 1 for a target and, for a donor, the number of times it was used,
        each use counted as 1/(number of neighbours of that target); a donor that is also a
        target (``'ATE'``) carries both. Regressing on these rows (weighted or not) is the
        "regress on the matched sample" variant of seed 002 table 4.
        """
        f = self._fitted or self._match()
        self._fitted = f
        wt = f["target"] + f["weight"]
        keep = wt > 0
        out = self.data.loc[keep].copy()
        out["_weight"] = wt[keep]
        out["_pscore"] = f["pscore"][keep]
        out["_target"] = f["target"][keep]
        return out

    def fit(self) -> EstimationResult:
        with blas_threads(self._d.size * (len(self.covariates) + 1)):
            return self._fit()

    def _fit(self) -> EstimationResult:
        f = self._match()
        self._fitted = f
        se = float(np.sqrt(f["var_pop"]))
        est = self.estimand
        stats_ = {
            "N treated": float(self._d.sum()),
            "N control": float((~self._d).sum()),
            "N targets matched": float(f["target"].sum()),
            "N off support": float(f["n_off"]),
            "N donors used": float((f["weight"] > 0).sum()),
            "k": float(self.k),
            f"{est} SE (conditional on X)": float(np.sqrt(f["var_cond"])),
            "Logit pseudo R2": _mcfadden_r2(f["llf"], self._d),
        }
        return EstimationResult(
            params=pd.Series({est: f["tau"]}),
            std_errors=pd.Series({est: se}),
            nobs=int(self._d.size),
            model_name=f"PSM 1:{self.k} nearest neighbour ({est})",
            dist="normal",
            stats=stats_,
            extra=dict(
                balance=self._balance(f),
                matched=self.matched_sample(),
                pairs=f["pairs"],
                logit=pd.Series(f["logit_params"], index=["const", *self.covariates], name="logit"),
                pscore=pd.Series(f["pscore"], index=self.data.index, name="pscore"),
                caliper_distance=f["radius"],
            ),
        )
