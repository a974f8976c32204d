"""Two-way fixed-effects (and pooled) panel regression with clustered errors (seed 002 eq. 1).

The effects are absorbed by pyfixest's alternating-projections demeaning (``pyfixest.estimation.demean``,
the engine of pyfixest/fixest); the OLS fit and the covariance are computed here on the
within-transformed data, so that a 200k-row fit runs at pyfixest's speed. Estimates equal
linearmodels ``PanelOLS`` (tested to 1e-8); with a constant and effects the constant is the
grand-mean constant of linearmodels/Stata (the regression of y - ybar_FE + ybar on
x - xbar_FE + xbar).

Clustered standard errors follow ``small_sample``:

* ``'fixest'`` (default; reghdfe and fixest's ``ssc()`` default, pyfixest ``ssc()``):
  V = G/(G-1) · (N-1)/(N-K) · V_CR0 with K = slopes + absorbed effect levels - (number of
  effects - 1), minus the levels of effects nested in a cluster variable, plus one per
  nested effect; two-way clusters use min(G); t-tests with min(G) - 1 df.
* ``'linearmodels'``: linearmodels' ``debiased=True, group_debias=True`` rule, K counting the
  absorbed effects (except a single effect nested in the clusters, or as ``count_effects``
  says); each cluster dimension scaled by its own G/(G-1)·(N-1)/N, all by N/(N-K).
* ``'none'``: CR0, no small-sample factor.

Heteroskedasticity-robust and homoskedastic errors are the same under both rules
(N/(N-K) with K counting all effects, Stata ``areg``/``reghdfe``).
"""

from __future__ import annotations

import functools
import logging
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.checks import (
    PanelError,
    absorbed_columns,
    blas_threads,
    collinear_columns,
    duplicate_codes,
    enough,
    numeric_columns,
    require_columns,
)
from analysis.results import EstimationResult

_CLUSTER_KEYWORDS = ("entity", "time", "both")
_SMALL_SAMPLE = ("fixest", "linearmodels", "none")


def _codes(s: pd.Series) -> np.ndarray:
    return pd.factorize(s, sort=True)[0].astype(np.int64)


@functools.cache
def _pyfixest_demean():
    """pyfixest's alternating-projections demeaner from its compiled core (``pyfixest.core``: 0.06 s to
    import against 0.75 s for ``pyfixest.estimation``), imported without the root-logger configuration
    (``logging.basicConfig(level=INFO)``) that pyfixest's estimation modules apply at import, which
    would print every Mesa step of a simulation run in the same process."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    from pyfixest.core import demean

    root.setLevel(level)
    root.handlers[:] = handlers
    return demean


def group_demean(A: np.ndarray, groups: Sequence[np.ndarray], tol: float = 1e-10) -> np.ndarray:
    """Residuals of the columns of ``A`` on the dummies of every grouping (integer codes 0..G-1).

    One grouping, or two on a balanced panel: exact demeaning by group means. Otherwise
    pyfixest's alternating projections (``pyfixest.estimation.demean``) to ``tol``.
    """
    A = np.asarray(A, dtype=float)
    if not groups:
        return A.copy()
    if len(groups) == 1:
        g = groups[0]
        cnt = np.bincount(g).astype(float)
        out = np.empty(A.shape, order="F")
        for j in range(A.shape[1]):
            col = np.ascontiguousarray(A[:, j])
            out[:, j] = col - (np.bincount(g, col, cnt.size) / cnt)[g]
        return out
    n = A.shape[0]
    if len(groups) == 2:
        e, t = groups
        n_e, n_t = int(e.max()) + 1, int(t.max()) + 1
        if n == n_e * n_t:  # balanced (codes are unique pairs): x - xbar_i - xbar_t + xbar is exact
            ce, ct = np.bincount(e, minlength=n_e).astype(float), np.bincount(t, minlength=n_t).astype(float)
            if (ce == n_t).all() and (ct == n_e).all():
                out = np.empty(A.shape, order="F")
                for j in range(A.shape[1]):
                    col = np.ascontiguousarray(A[:, j])
                    out[:, j] = (col - (np.bincount(e, col, n_e) / ce)[e] - (np.bincount(t, col, n_t) / ct)[t]
                                 + col.mean())
                return out
    fl = np.column_stack(groups).astype(np.uint64)
    out, ok = _pyfixest_demean()(A, fl, np.ones(A.shape[0]), tol=tol, maxiter=100_000)
    if not ok:
        raise PanelError("TwoWayFE: the fixed-effect demeaning did not converge (check for disconnected "
                         "entity/time groups)")
    return out


def cluster_meat(scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """sum over clusters g of s_g s_g', s_g = sum of the score rows of cluster g."""
    n = scores.shape[0]
    D = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(int(codes.max()) + 1, n))
    S = D @ scores
    return S.T @ S


def _nested(fe: np.ndarray, cl: np.ndarray) -> bool:
    """True if every level of the effect ``fe`` lies within one cluster of ``cl``."""
    first = np.empty(int(fe.max()) + 1, dtype=cl.dtype)
    first[fe] = cl
    return bool(np.array_equal(first[fe], cl))


class TwoWayFE:
    """Panel OLS with optional entity and time effects and clustered standard errors.

    ``data`` holds ``entity`` and ``time`` as columns (or as index levels). ``cluster`` is
    ``'entity'``, ``'time'``, ``'both'`` (two-way), ``None`` (heteroskedasticity-robust, or
    homoskedastic when ``robust=False``), or the name of a column (or a list of at most two
    columns) of ``data``. A constant is included (with effects it is linearmodels'/Stata's
    grand-mean constant). ``small_sample`` picks the clustered small-sample rule (see the
    module docstring; default ``'fixest'``, the studies' reghdfe rule). ``count_effects``
    (True/False) selects the ``'linearmodels'`` rule with the absorbed effects forced into
    (or out of) K, as linearmodels' ``auto_df=False, count_effects=...``. Rows with a
    missing value in a used column are dropped; inf, non-numeric values, duplicate
    (entity, time) rows, and constant, absorbed or collinear regressors raise
    :class:`~analysis.checks.PanelError` (``drop_absorbed=True`` drops absorbed ones).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        x: Sequence[str],
        entity: str,
        time: str,
        *,
        entity_effects: bool = True,
        time_effects: bool = True,
        cluster: str | Sequence[str] | None = "entity",
        robust: bool = True,
        drop_absorbed: bool = False,
        constant: bool = True,
        debiased: bool = True,
        group_debias: bool = True,
        count_effects: bool | None = None,
        small_sample: str | None = None,
    ) -> None:
        if isinstance(x, str):
            x = [x]
        self.data, self.y, self.x = data, y, list(x)
        self.entity, self.time = entity, time
        self.entity_effects, self.time_effects = bool(entity_effects), bool(time_effects)
        self.cluster = cluster
        self.robust, self.drop_absorbed, self.constant = robust, drop_absorbed, constant
        self.debiased, self.group_debias, self.count_effects = debiased, group_debias, count_effects
        if small_sample is None:
            small_sample = "linearmodels" if count_effects is not None else "fixest"
        if small_sample not in _SMALL_SAMPLE:
            raise PanelError(f"TwoWayFE: small_sample={small_sample!r}; allowed: {', '.join(_SMALL_SAMPLE)}")
        self.small_sample = small_sample
        if not self.x:
            raise PanelError("TwoWayFE: x must name at least one regressor")
        if isinstance(cluster, str) and cluster not in _CLUSTER_KEYWORDS and cluster not in self._frame_columns():
            raise PanelError(f"TwoWayFE: cluster column {cluster!r} not in data")

    @classmethod
    def pooled(cls, data: pd.DataFrame, y: str, x: Sequence[str], entity: str, time: str, **kw) -> "TwoWayFE":
        """Pooled OLS on the panel (no effects), e.g. seed 002 table 3 column (1)."""
        return cls(data, y, x, entity, time, entity_effects=False, time_effects=False, **kw)

    def _frame_columns(self) -> set[str]:
        return set(self.data.columns) | {n for n in self.data.index.names if n is not None}

    def _cluster_columns(self) -> list[str]:
        c = self.cluster
        if c is None or (isinstance(c, str) and c in _CLUSTER_KEYWORDS):
            return []
        cols = [c] if isinstance(c, str) else list(c)
        if not 1 <= len(cols) <= 2:
            raise PanelError("TwoWayFE: cluster may name one or two columns")
        return cols

    def _panel(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[np.ndarray]]:
        """Numeric y and x (rows without missing values), entity and time codes, cluster codes."""
        df = self.data
        if self.entity not in df.columns or self.time not in df.columns:
            df = df.reset_index()
        ccols = self._cluster_columns()
        keys = [self.entity, self.time]
        vars_ = list(dict.fromkeys([self.y, *self.x]))
        require_columns(df, [*keys, *vars_, *ccols], "TwoWayFE")
        num = numeric_columns(df, vars_, "TwoWayFE", keys)
        keep = num.notna().all(axis=1).to_numpy().copy()
        for c in [*keys, *ccols]:
            keep &= df[c].notna().to_numpy()
        if not keep.all():
            df, num = df.loc[keep], num.loc[keep]
        ecode, tcode = _codes(df[self.entity]), _codes(df[self.time])
        duplicate_codes(df, ecode, tcode, keys, "TwoWayFE")
        ccodes = [_codes(df[c]) for c in ccols]
        return num, ecode, tcode, ccodes

    def fit(self) -> EstimationResult:
        num, ecode, tcode, ccodes = self._panel()
        n = len(num)
        with blas_threads(n * (len(self.x) + 1)):
            return self._fit(num, ecode, tcode, ccodes)

    def _fit(self, num, ecode, tcode, ccodes) -> EstimationResult:
        n = len(num)
        who = "TwoWayFE"
        xnames = list(self.x)
        fe = ([ecode] if self.entity_effects else []) + ([tcode] if self.time_effects else [])
        n_e, n_t = int(ecode.max()) + 1 if n else 0, int(tcode.max()) + 1 if n else 0
        enough(who, n, len(xnames) + int(self.constant), n_entities=n_e, min_entities=2 if self.entity_effects else 1,
               n_periods=n_t, min_periods=2 if self.time_effects else 1, entity=self.entity, time=self.time)
        raw = np.column_stack([num[self.y].to_numpy(), num[xnames].to_numpy()])
        W = group_demean(raw, fe)
        if fe:
            gone = absorbed_columns(raw[:, 1:], W[:, 1:], xnames, who, "")
            if gone:
                names = [xnames[j] for j in gone]
                eff = " and ".join(k for k, on in (("entity", self.entity_effects), ("time", self.time_effects)) if on)
                if not self.drop_absorbed:
                    raise PanelError(f"{who}: regressor {names[0]!r} is absorbed by the {eff} effects "
                                     f"(no variation within them); drop it or pass drop_absorbed=True")
                keepc = [0] + [1 + j for j in range(len(xnames)) if j not in gone]
                xnames = [v for j, v in enumerate(xnames) if j not in gone]
                if not xnames:
                    raise PanelError(f"{who}: every regressor is absorbed by the {eff} effects")
                raw, W = raw[:, keepc], W[:, keepc]
        yv, X = W[:, 0], W[:, 1:]
        names = list(xnames)
        if self.constant:
            if fe:
                mu = raw.mean(axis=0)
                yv = yv + mu[0]
                X = np.column_stack([np.ones(n), X + mu[1:]])
            else:
                X = np.column_stack([np.ones(n), X])
            names = ["const", *names]
        if not fe:
            for j, nm in enumerate(names):
                if nm != "const" and np.ptp(X[:, j]) == 0:
                    raise PanelError(f"{who}: regressor {nm!r} is constant (= {X[0, j]:.6g}); "
                                     "it is not identified with a constant")
        collinear_columns(X, names, who, why=" after absorbing the effects" if fe else "")
        k = X.shape[1]
        XtX = X.T @ X
        bread = np.linalg.inv(XtX)
        beta = bread @ (X.T @ yv)
        u = yv - X @ beta

        # absorbed parameters as linearmodels counts them (d) and as fixest counts them
        levels = ([n_e] if self.entity_effects else []) + ([n_t] if self.time_effects else [])
        d = sum(levels) - len(levels) + (0 if self.constant else (1 if levels else 0))
        df_resid = n - k - d
        if df_resid <= 0:
            raise PanelError(f"{who}: no residual degrees of freedom ({n} rows, {k + d} parameters with the effects)")

        c = self.cluster
        clusters: list[np.ndarray] = []
        if c in ("entity", "both"):
            clusters.append(ecode)
        if c in ("time", "both"):
            clusters.append(tcode)
        clusters += ccodes
        cnames = ([self.entity] if c in ("entity", "both") else []) + ([self.time] if c in ("time", "both") else []) \
            + self._cluster_columns()
        Gs = [int(g.max()) + 1 for g in clusters]
        for g, nm in zip(Gs, cnames):
            if g < 2:
                raise PanelError(f"{who}: cluster column {nm!r} has {g} value in the sample; clustered standard "
                                 "errors need at least 2 clusters")
        scores = X * u[:, None]
        if not clusters:
            if self.robust:
                meat = scores.T @ scores
                scale = n / df_resid if self.debiased else 1.0
            else:
                meat = XtX * (u @ u)
                scale = 1.0 / df_resid if self.debiased else 1.0 / n
            cov = scale * bread @ meat @ bread
        else:
            parts = [(cl, 1.0, G) for cl, G in zip(clusters, Gs)]
            if len(clusters) == 2:
                inter = pd.factorize(pd.MultiIndex.from_arrays(clusters))[0].astype(np.int64)
                parts.append((inter, -1.0, int(inter.max()) + 1))
            rule = self.small_sample
            cov = np.zeros((k, k))
            if rule == "fixest":
                fe_groups = ([ecode] if self.entity_effects else []) + ([tcode] if self.time_effects else [])
                nested = [any(_nested(f, cl) for cl in clusters) for f in fe_groups]
                slopes = k - int(self.constant and bool(fe))
                if fe_groups:
                    K = slopes + sum(levels) - (len(levels) - 1)
                    if any(nested):
                        K = K - sum(lv for lv, ns in zip(levels, nested) if ns) + sum(nested)
                else:
                    K = k
                Gmin = min(Gs)
                fac = ((n - 1) / (n - K) if self.debiased else 1.0) * (Gmin / (Gmin - 1) if self.group_debias else 1.0)
                for cl, sign, _G in parts:
                    cov += sign * fac * (bread @ cluster_meat(scores, cl) @ bread)
            elif rule == "linearmodels":
                if self.count_effects is None:
                    drop = len(levels) == 1 and all(
                        all(_nested(f, cl) for cl in clusters) for f in fe)
                    dd = 0 if drop else d
                else:
                    dd = d if self.count_effects else 0
                for cl, sign, G in parts:
                    gd = (G / (G - 1)) * ((n - 1) / n) if self.group_debias else 1.0
                    cov += sign * gd * (bread @ cluster_meat(scores, cl) @ bread)
                if self.debiased:
                    cov *= n / (n - k - dd)
            else:
                for cl, sign, _G in parts:
                    cov += sign * (bread @ cluster_meat(scores, cl) @ bread)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))

        ssr = float(u @ u)
        w_c = yv - yv.mean() if self.constant else yv
        tss = float(w_c @ w_c)
        r2 = 1.0 - ssr / tss if tss > 0 else np.nan
        y0 = raw[:, 0]
        tss_incl = float(((y0 - y0.mean()) ** 2).sum()) if (self.constant or fe) else float(y0 @ y0)
        r2_incl = 1.0 - ssr / tss_incl if tss_incl > 0 else np.nan
        slope_b = beta[int(self.constant):]
        ew = group_demean(np.column_stack([y0, raw[:, 1:] @ slope_b]), [ecode])
        rw = ew[:, 0] - ew[:, 1]
        tss_w = float(ew[:, 0] @ ew[:, 0])
        r2_w = 1.0 - float(rw @ rw) / tss_w if tss_w > 0 else np.nan
        st = {
            "R2": r2,
            "Adj. R2": 1.0 - (1.0 - r2) * (n - d - int(self.constant)) / df_resid,
            "R2 within": r2_w,
            "R2 inclusive": r2_incl,
            "Adj. R2 inclusive": 1.0 - (1.0 - r2_incl) * (n - 1) / df_resid,
            "N entities": n_e,
            "N periods": n_t,
        }
        if Gs:
            st["N clusters"] = min(Gs)
        out = EstimationResult(
            params=pd.Series(beta, index=names),
            std_errors=pd.Series(se, index=names),
            nobs=n,
            model_name="Two-way FE" if fe else "Pooled OLS",
            cov=pd.DataFrame(cov, index=names, columns=names),
            dist="normal",
            stats=st,
        )
        if self.debiased:
            out.dist = "t"
            out.df_resid = float(min(Gs) - 1) if Gs else float(df_resid)
        out.extra.update(
            entity_effects=self.entity_effects, time_effects=self.time_effects, cluster=self.cluster,
            df_absorbed=d, small_sample=self.small_sample if Gs else None, resid=u,
        )
        return out
