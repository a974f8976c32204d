"""Network vector autoregression (Zhu, Pan, Li, Liu & Wang 2017, Ann. Statist.) as in seed 000 eq. 14–17.

    y_it = beta0 + beta1 * sum_j w_ij x_jt + beta2 * y_i,t-1 + alpha * x_it + Z_it' gamma + e_it   (14–15)
    y_it = beta0 + beta1 * M_it sum_j w_ij x_jt + beta2 * M_it + beta3 * y_i,t-1 + Z_it' gamma
           + alpha * x_it + e_it                                                                    (16–17)

No Python library builds the network term from a panel and a weight matrix, so the
design (network lag W·x_t, lagged outcome, interactions, effects-coded fixed effects)
is constructed here; estimation and inference are statsmodels OLS (HC1 or CRV1
entity-clustered covariance, t-tests). Parameter names: ``beta0`` (constant; with
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
import statsmodels.api as sm

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


def _effects_coding(codes: np.ndarray, n_levels: int, prefix: str, labels: Sequence) -> pd.DataFrame:
    """Sum-to-zero dummies: level k -> e_k for k < m-1, last level -> -1 in every column."""
    m = n_levels
    D = np.zeros((len(codes), m - 1))
    rows = np.flatnonzero(codes < m - 1)
    D[rows, codes[rows]] = 1.0
    D[codes == m - 1, :] = -1.0
    return pd.DataFrame(D, columns=[f"{prefix}[{labels[k]}]" for k in range(m - 1)])


class NVAR:
    """Network VAR of seed 000 eq. 14–17 estimated by pooled OLS over i and t.

    ``x`` is the networked regressor (DF^quantity or DF^quality), ``W`` the N x N link
    matrix a_ij (array ordered like the sorted entity labels, or a labelled DataFrame);
    the network term uses x at the same period t, as in eq. 14. ``own`` adds alpha·x_it,
    ``lag`` adds beta2·y_i,t-1 (previous period of the sorted time labels; rows without
    it are dropped). ``interact`` names a mediator M for eq. 16–17; ``network_main``
    also keeps beta1·W·x then (eq. 16 omits it). ``cov`` is ``'robust'`` (HC1),
    ``'cluster'`` (by entity, CRV1 with G/(G-1)·(N-1)/(N-K), t with G-1 df) or
    ``'nonrobust'``; ``effects`` adds entity, time or two-way fixed effects as dummies.
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
    ) -> None:
        if cov not in ("robust", "cluster", "nonrobust"):
            raise ValueError("cov must be 'robust', 'cluster' or 'nonrobust'")
        if effects not in _EFFECTS:
            raise ValueError(f"effects must be one of {_EFFECTS}")
        self.data, self.y, self.x, self.W = data, y, x, W
        self.entity, self.time = entity, time
        self.controls = [controls] if isinstance(controls, str) else list(controls)
        self.own, self.lag, self.interact, self.network_main = own, lag, interact, network_main
        self.cov, self.effects, self.row_normalize = cov, effects, row_normalize
        reserved = {"beta0", "beta1", "beta2", "alpha"}
        if reserved & set(self.controls) or (interact is not None and interact in reserved):
            raise ValueError(f"control/mediator names may not be one of {sorted(reserved)}")

    def design(self) -> tuple[pd.Series, pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
        """Outcome, full design (with any effect dummies), entity and period codes, structural names."""
        df, entity, time = _entity_time_frame(self.data, self.entity, self.time)
        need = [entity, time, self.y, self.x, *self.controls] + ([self.interact] if self.interact else [])
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise KeyError(f"columns not in data: {missing}")
        if df.duplicated([entity, time]).any():
            raise ValueError("duplicate (entity, time) pairs in data")
        ecode, ents = pd.factorize(df[entity], sort=True)
        tcode, times = pd.factorize(df[time], sort=True)
        n_e, n_t = len(ents), len(times)
        A = validate_weights(self.W, ents, self.row_normalize)
        net = _network_wide(_wide(df, self.x, ecode, tcode, n_e, n_t), A)[tcode, ecode]

        cols: dict[str, np.ndarray] = {"beta0": np.ones(len(df))}
        if self.interact is None or self.network_main:
            cols["beta1"] = net
        if self.lag:
            Y = _wide(df, self.y, ecode, tcode, n_e, n_t)
            Ylag = np.vstack([np.full((1, n_e), np.nan), Y[:-1]])
            cols["beta2"] = Ylag[tcode, ecode]
        if self.own:
            cols["alpha"] = pd.to_numeric(df[self.x]).to_numpy(dtype=float)
        for c in self.controls:
            cols[c] = pd.to_numeric(df[c]).to_numpy(dtype=float)
        if self.interact is not None:
            M = pd.to_numeric(df[self.interact]).to_numpy(dtype=float)
            cols[f"{self.interact}:network"] = M * net
            cols[self.interact] = M
        X = pd.DataFrame(cols)
        names = list(X.columns)
        yv = pd.Series(pd.to_numeric(df[self.y]).to_numpy(dtype=float), name=self.y)
        keep = np.isfinite(X.to_numpy()).all(axis=1) & np.isfinite(yv.to_numpy())
        X, yv = X.loc[keep].reset_index(drop=True), yv.loc[keep].reset_index(drop=True)
        ec, tc = ecode[keep], tcode[keep]
        blocks = [X]
        if self.effects in ("entity", "two-way"):
            ue, ec2 = np.unique(ec, return_inverse=True)
            blocks.append(_effects_coding(ec2, len(ue), "entity", [ents[k] for k in ue]))
        if self.effects in ("time", "two-way"):
            ut, tc2 = np.unique(tc, return_inverse=True)
            blocks.append(_effects_coding(tc2, len(ut), "time", [times[k] for k in ut]))
        X = pd.concat(blocks, axis=1)
        return yv, X, ec, tc, names

    def fit(self) -> EstimationResult:
        yv, X, ec, tc, names = self.design()
        if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
            raise ValueError("NVAR design is rank deficient (a regressor is collinear with the effects)")
        mod = sm.OLS(yv, X)
        if self.cov == "robust":
            res = mod.fit(cov_type="HC1", use_t=True)
            df_inf = float(res.df_resid)
        elif self.cov == "cluster":
            res = mod.fit(cov_type="cluster", cov_kwds={"groups": ec, "use_correction": True}, use_t=True)
            df_inf = float(res.df_resid_inference)
        else:
            res = mod.fit(use_t=True)
            df_inf = float(res.df_resid)
        cov = pd.DataFrame(np.asarray(res.cov_params()), index=X.columns, columns=X.columns).loc[names, names]
        st = {
            "R2": float(res.rsquared),
            "Adj. R2": float(res.rsquared_adj),
            "N entities": int(np.unique(ec).size),
            "N periods": int(np.unique(tc).size),
        }
        if self.cov == "cluster":
            st["N clusters"] = int(np.unique(ec).size)
        return EstimationResult(
            params=res.params[names],
            std_errors=res.bse[names],
            nobs=int(res.nobs),
            model_name="NVAR" + (f" x {self.interact}" if self.interact else ""),
            cov=cov,
            dist="t",
            df_resid=df_inf,
            stats=st,
            extra={"statsmodels": res, "effects": self.effects, "cov_type": self.cov},
        )
