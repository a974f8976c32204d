"""Network vector autoregression (Zhu, Pan, Li, Liu & Wang 2017, Ann. Statist.) as in seed 000 eq. 14–17.

    y_it = beta0 + beta1 * sum_j w_ij x_jt + beta2 * y_i,t-1 + alpha * x_it + Z_it' gamma + e_it   (14–15)
    y_it = beta0 + beta1 * M_it sum_j w_ij x_jt + beta2 * M_it + beta3 * y_i,t-1 + Z_it' gamma
           + alpha * x_it + e_it                                                                    (16–17)

No Python library builds the network term from a panel and a weight matrix, so the
design (network lag W·x_t, lagged outcome, interactions) is constructed here; fixed
effects are absorbed with pyfixest's demeaning and the OLS fit and its HC1 or CRV1
entity-clustered covariance (t-tests) are computed on the within data (equal to
statsmodels OLS on the effects-coded dummy design, tested to 1e-9). Parameter names: ``beta0`` (constant; with
fixed effects, effects coding makes it the unweighted average of the entity/period
intercepts), ``beta1`` (network term W·x), ``beta2`` (y_i,t-1), ``alpha`` (own x),
controls by their column names; with ``interact=M`` the interaction M·(W·x) is named
``'M:network'`` (eq. 16's beta1) and M's main effect ``'M'`` (eq. 16's beta2), while
``beta2`` stays the lagged outcome (eq. 16's beta3).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import linalg as splinalg

from analysis.checks import (
    PanelError,
    fmt,
    absorbed_columns,
    blas_threads,
    collinear_columns,
    constant_columns,
    duplicate_codes,
    enough,
    missing_keys,
    numeric_columns,
    require_columns,
)
from analysis.fixed_effects import group_demean
from analysis.results import EstimationResult

_EFFECTS = (None, "entity", "time", "two-way")


def _entity_time_frame(panel: pd.DataFrame, entity: str | None, time: str | None) -> tuple[pd.DataFrame, str, str]:
    if entity is None or time is None:
        if not isinstance(panel.index, pd.MultiIndex) or panel.index.nlevels != 2:
            raise ValueError("give entity and time columns, or a panel with a (entity, time) MultiIndex")
        names = list(panel.index.names)
        entity = entity or names[0] or "entity"
        time = time or names[1] or "time"
        panel = panel.reset_index(names=[entity, time]) if None in names else panel.reset_index()
    elif entity not in panel.columns or time not in panel.columns:
        panel = panel.reset_index()
    return panel, entity, time


def validate_weights(W: np.ndarray | pd.DataFrame, entities: Sequence, row_normalize: bool = False) -> np.ndarray:
    """Check W (square, finite, non-negative, zero diagonal, matching ``entities``) and align it.

    A DataFrame is reordered by its labels (index = i, columns = j); a plain array must
    already be ordered like ``entities`` (the sorted entity labels of the panel).
    ``row_normalize`` divides each row by its sum (rows of isolated nodes stay zero).
    """
    ents = list(entities)
    if isinstance(W, pd.DataFrame):
        if set(W.index) != set(ents) or set(W.columns) != set(ents) or len(W.index) != len(ents):
            raise ValueError("W's index and columns must be exactly the panel's entities")
        A = W.loc[ents, ents].to_numpy(dtype=float)
    else:
        A = np.asarray(W, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"W must be square, got shape {A.shape}")
    if A.shape[0] != len(ents):
        raise ValueError(f"W is {A.shape[0]}x{A.shape[0]} but the panel has {len(ents)} entities")
    if not np.all(np.isfinite(A)):
        raise ValueError("W has non-finite entries")
    if np.any(A < 0):
        raise ValueError("W has negative entries")
    if np.any(np.diag(A) != 0):
        raise ValueError("W must have a zero diagonal (no self-links)")
    if row_normalize:
        rs = A.sum(axis=1, keepdims=True)
        A = np.divide(A, rs, out=np.zeros_like(A), where=rs > 0)
    return A


def _wide(df: pd.DataFrame, col: str, ecode: np.ndarray, tcode: np.ndarray, n_e: int, n_t: int) -> np.ndarray:
    out = np.full((n_t, n_e), np.nan)
    out[tcode, ecode] = pd.to_numeric(df[col]).to_numpy(dtype=float)
    return out


def _network_wide(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(T x N) -> (T x N) of sum_j w_ij x_jt; NaN where a linked neighbour is missing."""
    miss = np.isnan(X)
    if not miss.any():
        return X @ W.T
    net = np.where(miss, 0.0, X) @ W.T
    bad = (miss.astype(float) @ (W != 0).T.astype(float)) > 0
    net[bad] = np.nan
    return net


def network_lag(
    panel: pd.DataFrame,
    W: np.ndarray | pd.DataFrame,
    column: str,
    entity: str | None = None,
    time: str | None = None,
    row_normalize: bool = False,
) -> pd.Series:
    """sum_j w_ij x_jt for every row of ``panel`` (same index), x = ``column``.

    ``panel`` has ``entity``/``time`` columns or a two-level (entity, time) MultiIndex.
    NaN where some neighbour j with w_ij != 0 has no observation of x at t.
    """
    df, entity, time = _entity_time_frame(panel, entity, time)
    ecode, ents = pd.factorize(df[entity], sort=True)
    tcode, times = pd.factorize(df[time], sort=True)
    A = validate_weights(W, ents, row_normalize)
    X = _wide(df, column, ecode, tcode, len(ents), len(times))
    net = _network_wide(X, A)[tcode, ecode]
    return pd.Series(net, index=panel.index, name=f"W*{column}")


class NVAR:
    """Network VAR of seed 000 eq. 14–17 estimated by pooled OLS over i and t.

    ``x`` is the networked regressor (DF^quantity or DF^quality), ``W`` the N x N link
    matrix a_ij (array ordered like the sorted entity labels, or a labelled DataFrame);
    the network term uses x at the same period t, as in eq. 14. ``own`` adds alpha·x_it,
    ``lag`` adds beta2·y_i,t-1 (previous period of the sorted time labels; rows without
    it are dropped); ``lag_of`` names another column whose previous period is that lag (default
    ``y``; the estimand of a noise-free outcome keeps the observed outcome's lag). ``interact``
    names a mediator M for eq. 16–17; ``network_main`` also keeps beta1·W·x then (eq. 16 omits
    it). ``cov`` is ``'robust'`` (HC1), ``'cluster'`` (by entity, CRV1 with G/(G-1)·(N-1)/(N-K),
    t with G-1 df) or ``'nonrobust'``; ``effects`` adds entity, time or two-way fixed effects, absorbed by
    demeaning (pyfixest's engine) and identical to effects-coded dummies: ``beta0`` is then
    the sum of the effects' unweighted mean coefficients, with its exact sandwich SE.
    ``small_sample`` is the clustered K: ``'fixest'`` (default, reghdfe/fixest: effects
    nested in the entity clusters not counted), ``'full'`` (every dummy counted, as
    statsmodels OLS on the dummy design) or ``'none'`` (CR0). Input problems (missing or
    non-numeric columns, inf, duplicate rows, NaN of x that would drop neighbours' rows,
    constant or collinear regressors) raise :class:`~analysis.checks.PanelError`.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        x: str,
        W: np.ndarray | pd.DataFrame,
        entity: str,
        time: str,
        controls: Sequence[str] = (),
        *,
        own: bool = True,
        lag: bool = True,
        interact: str | None = None,
        network_main: bool = False,
        cov: str = "robust",
        effects: str | None = None,
        row_normalize: bool = False,
        small_sample: str = "fixest",
        lag_of: str | None = None,
    ) -> None:
        if cov not in ("robust", "cluster", "nonrobust"):
            raise PanelError(f"NVAR: cov={cov!r}; allowed: 'robust', 'cluster', 'nonrobust'")
        if effects not in _EFFECTS:
            raise PanelError(f"NVAR: effects={effects!r}; allowed: {_EFFECTS}")
        if small_sample not in ("fixest", "full", "none"):
            raise PanelError(f"NVAR: small_sample={small_sample!r}; allowed: 'fixest', 'full', 'none'")
        self.small_sample = small_sample
        self.data, self.y, self.x, self.W = data, y, x, W
        self.entity, self.time = entity, time
        self.controls = [controls] if isinstance(controls, str) else list(controls)
        self.own, self.lag, self.interact, self.network_main = own, lag, interact, network_main
        self.lag_of = lag_of or y
        self.cov, self.effects, self.row_normalize = cov, effects, row_normalize
        reserved = {"beta0", "beta1", "beta2", "alpha"}
        if reserved & set(self.controls) or (interact is not None and interact in reserved):
            raise PanelError("NVAR: " + f"control/mediator names may not be one of {sorted(reserved)}")

    def _frame(self) -> tuple[pd.DataFrame, str, str, pd.DataFrame]:
        """The panel with entity/time columns and its used variables as validated floats."""
        who = "NVAR"
        df, entity, time = _entity_time_frame(self.data, self.entity, self.time)
        vars_ = list(dict.fromkeys([self.y, self.x, *self.controls] + ([self.lag_of] if self.lag else [])
                                   + ([self.interact] if self.interact else [])))
        require_columns(df, [entity, time, *vars_], who)
        missing_keys(df, [entity, time], who)
        num = numeric_columns(df, vars_, who, [entity, time])
        return df, entity, time, num

    def design(self) -> tuple[pd.Series, pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
        """Outcome, structural design (``beta0`` first), entity and period codes, structural names.

        Rows without the network term, the lag or any variable are dropped. A NaN of ``x``
        in an observed row whose neighbours are otherwise complete would silently drop those
        neighbours' rows too (W·x needs every linked x_jt), so it raises instead; NaN in
        whole periods (e.g. an index that starts later) only drops those periods.
        """
        who = "NVAR"
        df, entity, time, num = self._frame()
        ecode, ents = pd.factorize(df[entity], sort=True)
        tcode, times = pd.factorize(df[time], sort=True)
        n_e, n_t = len(ents), len(times)
        duplicate_codes(df, ecode, tcode, [entity, time], who)
        A = validate_weights(self.W, ents, self.row_normalize)
        Xw = np.full((n_t, n_e), np.nan)
        Xw[tcode, ecode] = num[self.x].to_numpy()
        present = np.zeros((n_t, n_e), dtype=bool)
        present[tcode, ecode] = True
        net_w = _network_wide(Xw, A)
        nan_x = present & np.isnan(Xw)
        if nan_x.any():
            hit = (nan_x.astype(float) @ (A != 0).T.astype(float)) > 0
            lost = hit & present & ~np.isnan(Xw) & ~((~present).astype(float) @ (A != 0).T.astype(float) > 0)
            if lost.any():
                t0, e0 = np.argwhere(nan_x)[0]
                raise PanelError(
                    f"{who}: column {self.x!r} has {int(nan_x.sum())} NaN values (first at {entity}={fmt(ents[e0])}, "
                    f"{time}={fmt(times[t0])}); the network term W·{self.x} needs every neighbour's value, so "
                    f"they would drop {int(lost.sum())} complete rows of linked entities; fill them or drop "
                    "those rows")
        net = net_w[tcode, ecode]

        cols: dict[str, np.ndarray] = {"beta0": np.ones(len(df))}
        if self.interact is None or self.network_main:
            cols["beta1"] = net
        if self.lag:
            Y = np.full((n_t, n_e), np.nan)
            Y[tcode, ecode] = num[self.lag_of].to_numpy()
            Ylag = np.vstack([np.full((1, n_e), np.nan), Y[:-1]])
            cols["beta2"] = Ylag[tcode, ecode]
        if self.own:
            cols["alpha"] = num[self.x].to_numpy()
        for c in self.controls:
            cols[c] = num[c].to_numpy()
        if self.interact is not None:
            M = num[self.interact].to_numpy()
            cols[f"{self.interact}:network"] = M * net
            cols[self.interact] = M
        names = list(cols)
        Xa = np.column_stack(list(cols.values()))
        ya = num[self.y].to_numpy()
        keep = np.isfinite(Xa).all(axis=1) & np.isfinite(ya)
        if not keep.any():
            nans = {c: int(num[c].isna().sum()) for c in num.columns if num[c].isna().any()}
            raise PanelError(f"{who}: no row has the outcome, the network term, the lag and every regressor; "
                             f"NaN counts by column: {nans or 'none'} ({n_t} periods, {n_e} entities)")
        X = pd.DataFrame(Xa[keep], columns=names)
        yv = pd.Series(ya[keep], name=self.y)
        return yv, X, ecode[keep], tcode[keep], names

    def fit(self) -> EstimationResult:
        yv, X, ec, tc, names = self.design()
        with blas_threads(X.size):
            return self._fit(yv.to_numpy(), X.to_numpy(), ec, tc, names)

    def _fit(self, y, Xs, ec, tc, names) -> EstimationResult:
        who = "NVAR"
        n, p = Xs.shape
        ec, tc = _dense_codes(ec), _dense_codes(tc)
        n_e, n_t = int(ec.max()) + 1, int(tc.max()) + 1
        groups = ([ec] if self.effects in ("entity", "two-way") else []) + \
                 ([tc] if self.effects in ("time", "two-way") else [])
        levels = [int(g.max()) + 1 for g in groups]
        d = sum(levels) - len(levels)
        K_full = p + d
        enough(who, n, K_full, n_entities=n_e, n_periods=n_t, entity=self.entity, time=self.time)
        if groups:
            raw = Xs[:, 1:]
            Wd = group_demean(np.column_stack([y, raw]), groups)
            yt, Xt = Wd[:, 0], Wd[:, 1:]
            gone = absorbed_columns(raw, Xt, names[1:], who, "")
            if gone:
                raise PanelError(f"{who}: regressor {names[1 + gone[0]]!r} does not vary within the "
                                 f"{self.effects} effects; it is not identified")
            collinear_columns(Xt, names[1:], who, why=f" after the {self.effects} effects")
            bread_s = np.linalg.inv(Xt.T @ Xt)
            b = bread_s @ (Xt.T @ yt)
            u = yt - Xt @ b
            ell = _effects_mean_functional(groups, levels, n)
            beta0 = float(ell @ (y - raw @ b))
            Cs = Xt @ bread_s
            c0 = ell - Cs @ (raw.T @ ell)
            C = np.column_stack([c0, Cs])
            beta = np.concatenate([[beta0], b])
        else:
            constant_columns(Xs[:, 1:], names[1:], who, " (with the constant beta0)")
            collinear_columns(Xs, names, who)
            bread = np.linalg.inv(Xs.T @ Xs)
            beta = bread @ (Xs.T @ y)
            u = y - Xs @ beta
            C = Xs @ bread
        df_full = n - K_full
        if df_full <= 0:
            raise PanelError(f"{who}: no residual degrees of freedom ({n} rows, {K_full} parameters)")
        if self.cov == "robust":
            Cu = C * u[:, None]
            cov = (n / df_full) * (Cu.T @ Cu)
            df_inf = float(df_full)
        elif self.cov == "cluster":
            G = n_e
            if G < 2:
                raise PanelError(f"{who}: 1 entity; clustered standard errors need at least 2 clusters")
            S = sparse.csr_matrix((np.ones(n), (ec, np.arange(n))), shape=(G, n)) @ (C * u[:, None])
            if self.small_sample == "fixest":
                K = p - int(bool(groups))
                if groups:
                    K += sum(levels) - (len(levels) - 1)
                    if self.effects in ("entity", "two-way"):
                        K += 1 - n_e
            elif self.small_sample == "full":
                K = K_full
            fac = 1.0 if self.small_sample == "none" else (G / (G - 1)) * ((n - 1) / (n - K))
            cov = fac * (S.T @ S)
            df_inf = float(G - 1)
        else:
            cov = (float(u @ u) / df_full) * (C.T @ C)
            df_inf = float(df_full)
        cov = pd.DataFrame(cov, index=names, columns=names)
        ssr = float(u @ u)
        tss = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - ssr / tss if tss > 0 else np.nan
        st = {
            "R2": r2,
            "Adj. R2": 1.0 - (1.0 - r2) * (n - 1) / df_full,
            "N entities": n_e,
            "N periods": n_t,
        }
        if self.cov == "cluster":
            st["N clusters"] = n_e
        return EstimationResult(
            params=pd.Series(beta, index=names),
            std_errors=pd.Series(np.sqrt(np.clip(np.diag(cov.to_numpy()), 0.0, None)), index=names),
            nobs=n,
            model_name="NVAR" + (f" x {self.interact}" if self.interact else ""),
            cov=cov,
            dist="t",
            df_resid=df_inf,
            stats=st,
            extra={"effects": self.effects, "cov_type": self.cov, "resid": u,
                   "small_sample": self.small_sample if self.cov == "cluster" else None},
        )


def _dense_codes(c: np.ndarray) -> np.ndarray:
    """Renumber integer codes to 0..G-1 keeping their order (levels absent after dropping rows vanish)."""
    present = np.bincount(c) > 0
    return (np.cumsum(present) - 1)[c]


def _effects_mean_functional(groups: list[np.ndarray], levels: list[int], n: int) -> np.ndarray:
    """Vector l in the span of the effect dummies with l'v = (sum over effects of the unweighted mean of
    the effect's coefficients) of the projection of v on the dummies: beta0 of the effects coding.

    l = D (D'D)^+ a with a = 1/levels in each effect's block (conjugate gradients on the sparse D'D;
    a lies in its range because the blocks' means agree on the one redundant direction).
    """
    if len(groups) == 1:
        g = groups[0]
        return 1.0 / (levels[0] * np.bincount(g)[g].astype(float))
    e, t = groups
    N, T = levels
    if n == N * T:
        return np.full(n, 1.0 / n)
    rows = np.arange(n)
    D = sparse.hstack([sparse.csr_matrix((np.ones(n), (rows, e)), shape=(n, N)),
                       sparse.csr_matrix((np.ones(n), (rows, t)), shape=(n, T))]).tocsr()
    a = np.concatenate([np.full(N, 1.0 / N), np.full(T, 1.0 / T)])
    theta, info = splinalg.cg((D.T @ D).tocsr(), a, rtol=1e-14, atol=0.0, maxiter=100 * (N + T))
    if info != 0:
        raise PanelError("NVAR: the effects-coded constant could not be computed (disconnected entity/time groups)")
    return D @ theta
