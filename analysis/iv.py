"""2SLS with a shift-share (Bartik) instrument and Kleibergen–Paap statistics (seed 002 table 4).

Estimates and first stages are linearmodels ``IV2SLS`` (imported when a fit needs its errors);
``IV2SLS.coefficients`` gives the same point estimates by least squares on the instrument-fitted
regressors, without that import (about 1.5 s), for callers that read only them. Written by hand, because no
Python library offers them: the Bartik builder; the within transformation that absorbs
firm and year effects (alternating projections); and the Kleibergen–Paap (2006) rk LM
under-identification and rk Wald F weak-identification statistics, which linearmodels
lacks. They follow Stata's ``ranktest`` (Kleibergen–Paap "full rank" test of rank K1-1,
SVD form) and ``ivreg2``'s small-sample scaling:
rk LM = ranktest LM chi2 (df L1-K1+1); rk Wald F = chi2/N·(N-L-a)/L1 (robust) or
chi2/(N-1)·(N-L-a)·(G-1)/G/L1 (cluster), L = included exogenous + excluded instruments,
a = absorbed degrees of freedom (constant included) not nested in the clusters. With one
endogenous regressor the rk Wald F is the cluster-robust first-stage F of the excluded
instruments with Stata's G/(G-1)·(N-1)/(N-K) correction; with homoskedastic errors
(``robust=False, cluster=None``) they are the Anderson canonical-correlation LM and the
Cragg–Donald F, as in ivreg2.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.checks import (
    PanelError,
    absorbed_columns,
    blas_threads,
    collinear_columns,
    constant_columns,
    enough,
    no_duplicates,
    numeric_columns,
    require_columns,
)
from analysis.results import EstimationResult, from_linearmodels


# --------------------------------------------------------------------------- Bartik

def bartik_instrument(
    df: pd.DataFrame,
    treat: str,
    industry: str,
    time: str,
    entity: str,
    *,
    growth: str = "rate",
    aggregate: str = "mean",
) -> pd.Series:
    """Shift-share instrument of seed 002 table 4, aligned with ``df``'s index.

    For firm i in industry k at period t it is the product of (1) the leave-one-out mean
    of ``treat`` over the other firms of industry k in the previous period t-1 (the
    previous label of the sorted time values; firm i is removed if it was in k at t-1)
    and (2) the full-sample growth of ``treat`` from t-1 to t, g_t = A_t / A_(t-1) - 1
    with A_t the cross-firm mean (``aggregate='mean'``, the deployment rate for a 0/1
    IDC) or sum (``'sum'``). ``growth='gross'`` uses 1 + g_t instead, which makes the
    product a predicted level. NaN in the first period, when no other firm of the
    industry is observed at t-1, or when A_(t-1) = 0.
    """
    if growth not in ("rate", "gross"):
        raise PanelError(f"bartik_instrument: growth={growth!r}; allowed: 'rate', 'gross'")
    if aggregate not in ("mean", "sum"):
        raise PanelError(f"bartik_instrument: aggregate={aggregate!r}; allowed: 'mean', 'sum'")
    require_columns(df, [entity, time, industry, treat], "bartik_instrument")
    d = df[[entity, time, industry, treat]].copy()
    no_duplicates(d, [entity, time], "bartik_instrument")
    numeric_columns(d, [treat], "bartik_instrument", [entity, time])
    d["_t"] = pd.factorize(d[time], sort=True)[0]
    d["_v"] = pd.to_numeric(d[treat]).astype(float)
    obs = d.dropna(subset=["_v", industry])
    ky = obs.groupby([industry, "_t"], sort=False)["_v"].agg(["sum", "count"]).reset_index()
    ky["_t"] += 1
    agg = obs.groupby("_t")["_v"].agg(aggregate)
    g = agg / agg.shift(1).where(agg.shift(1) != 0) - 1.0
    own = obs[[entity, industry, "_t", "_v"]].rename(columns={"_v": "_own"})
    own["_t"] += 1
    m = d[[entity, industry, "_t"]].merge(ky, on=[industry, "_t"], how="left")
    m = m.merge(own, on=[entity, industry, "_t"], how="left")
    own_v = m["_own"].fillna(0.0).to_numpy()
    own_n = m["_own"].notna().to_numpy().astype(float)
    n_other = m["count"].fillna(0.0).to_numpy() - own_n
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = np.where(n_other > 0, (m["sum"].fillna(0.0).to_numpy() - own_v) / n_other, np.nan)
    shift = d["_t"].map(g).to_numpy(dtype=float)
    if growth == "gross":
        shift = 1.0 + shift
    return pd.Series(loo * shift, index=df.index, name=f"Bartik_{treat}")


# --------------------------------------------------------------------------- within transformation

def _onehot(codes: np.ndarray, n: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), n))


def absorb_effects(
    A: np.ndarray, groups: Sequence[np.ndarray], tol: float = 1e-13, maxiter: int = 10_000
) -> np.ndarray:
    """Residualise the columns of A on the dummies of every grouping (alternating projections)."""
    A = np.array(A, dtype=float, copy=True)
    if not groups:
        return A
    mats = []
    for g in groups:
        c, inv = np.unique(g, return_inverse=True)
        D = _onehot(inv, len(c))
        mats.append((D, np.asarray(D.sum(axis=0)).ravel()))
    scale = max(1.0, float(np.abs(A).max()))
    for _ in range(maxiter):
        prev = A.copy()
        for D, cnt in mats:
            A -= D @ ((D.T @ A) / cnt[:, None])
        if len(mats) == 1 or np.abs(A - prev).max() <= tol * scale:
            return A
    raise RuntimeError("fixed-effect absorption did not converge")


# --------------------------------------------------------------------------- Kleibergen-Paap

def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((S + S.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _rowkron(Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return (Y[:, :, None] * Z[:, None, :]).reshape(Y.shape[0], -1)


def kleibergen_paap(
    endog: np.ndarray,
    instruments: np.ndarray,
    exog: np.ndarray | None = None,
    *,
    cov: str = "robust",
    clusters: np.ndarray | None = None,
    sdofminus: int = 0,
    dofminus: int = 0,
) -> dict[str, float]:
    """Kleibergen–Paap rk statistics of ``ranktest ..., full`` with ivreg2's scaling.

    ``endog`` (N x K1) and ``instruments`` (N x L1, the excluded ones) have ``exog`` (the
    included exogenous regressors, with the constant if any) partialled out. ``cov`` is
    ``'unadjusted'``, ``'robust'`` or ``'cluster'`` (with ``clusters``). ``sdofminus`` is
    the number of absorbed (partialled) parameters not in ``exog``. Returns the rk LM,
    its df and p-value, the rk Wald chi2 and F, the Anderson LM, the Cragg–Donald F and
    the canonical correlations. Under ``'unadjusted'`` the "KP" entries are the Anderson
    LM and the Cragg–Donald F, as ivreg2 reports them.
    """
    from scipy import stats

    Y = np.asarray(endog, dtype=float).reshape(len(endog), -1)
    Z = np.asarray(instruments, dtype=float).reshape(len(instruments), -1)
    N, K = Y.shape
    L = Z.shape[1]
    if L < K:
        raise ValueError("fewer excluded instruments than endogenous regressors")
    kx = 0
    if exog is not None and np.size(exog):
        X = np.asarray(exog, dtype=float).reshape(N, -1)
        kx = X.shape[1]
        B = np.linalg.lstsq(X, np.column_stack([Y, Z]), rcond=None)[0]
        R = np.column_stack([Y, Z]) - X @ B
        Y, Z = R[:, :K], R[:, K:]
    if cov == "cluster":
        if clusters is None:
            raise ValueError("cov='cluster' needs clusters")
        ccodes = pd.factorize(np.asarray(clusters), sort=True)[0]
        G = int(ccodes.max()) + 1
    elif cov not in ("robust", "unadjusted"):
        raise ValueError("cov must be 'unadjusted', 'robust' or 'cluster'")

    zz, yy = Z.T @ Z, Y.T @ Y
    pihat = np.linalg.solve(zz, Z.T @ Y)
    Ly, Lz = np.linalg.cholesky(yy), np.linalg.cholesky(zz)
    iry, irz = np.linalg.inv(Ly.T), np.linalg.inv(Lz.T)
    T = Lz.T @ pihat @ iry
    U, s, Vt = np.linalg.svd(T, full_matrices=True)
    V = Vt.T
    q = K - 1
    u22, v22 = U[q:, q:], V[q:, q:]
    aq = U[:, q:] @ np.linalg.solve(u22, _psd_sqrt(u22 @ u22.T))
    bq = _psd_sqrt(v22 @ v22.T) @ np.linalg.solve(v22.T, V[:, q:].T)
    lab = (aq.T @ T @ bq.T).ravel(order="F")
    P = np.kron(bq, aq.T)
    Kmat = np.kron(iry.T, irz.T)

    def rk(resid: np.ndarray, kind: str) -> float:
        if kind == "unadjusted" and resid is Y:
            vhat = np.eye(K * L) / N
        else:
            if kind == "unadjusted":
                shat = np.kron(resid.T @ resid / N, zz)
            else:
                Rk = _rowkron(resid, Z)
                if kind == "cluster":
                    Rk = np.asarray(_onehot(ccodes, G).T @ Rk)
                shat = Rk.T @ Rk
            vhat = Kmat @ shat @ Kmat.T
            vhat = (vhat + vhat.T) / 2
        vlab = P @ vhat @ P.T
        vlab = (vlab + vlab.T) / 2
        return float(lab @ np.linalg.solve(vlab, lab))

    ev = s**2
    df_lm = L - K + 1
    iv_ct = kx + L
    anderson = rk(Y, "unadjusted") / N * (N - dofminus)
    cd = ev[K - 1] / (1.0 - ev[K - 1])
    cdf = cd * (N - sdofminus - iv_ct - dofminus) / L
    out = {"Anderson LM": float(anderson), "Cragg-Donald F": float(cdf), "ccorr": s.copy(), "N": N, "L1": L, "K1": K}
    if cov == "unadjusted":
        lm, wald_chi2, F = anderson, np.nan, cdf
    else:
        E = Y - Z @ pihat
        lm_raw = rk(Y, cov)
        wald_chi2 = rk(E, cov)
        if cov == "cluster":
            lm = lm_raw
            F = wald_chi2 / (N - 1) * (N - iv_ct - sdofminus) * (G - 1) / G / L
            out["N clusters"] = G
        else:
            lm = lm_raw / N * (N - dofminus)
            F = wald_chi2 / N * (N - iv_ct - sdofminus - dofminus) / L
    out.update({"rk LM": float(lm), "rk LM df": df_lm, "rk LM p": float(stats.chi2.sf(lm, df_lm)),
                "rk Wald chi2": float(wald_chi2), "rk Wald F": float(F)})
    return out


# --------------------------------------------------------------------------- 2SLS

def _as_list(v: str | Sequence[str] | None) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


class IV2SLS:
    """2SLS (linearmodels) with optional absorbed entity/time effects and KP statistics.

    ``absorb='demean'`` removes the effects by the within transformation (no constant
    is reported; the covariance counts the absorbed parameters not nested in the
    clusters, like ``ivreghdfe``, taking the two-way design as connected, i.e. 1 + (N_e-1)
    + (T-1) parameters); ``absorb='dummies'`` adds drop-first dummies to the
    exogenous regressors. ``cluster`` is None, ``'entity'``, ``'time'`` or a column
    name; without clusters ``robust`` picks heteroskedasticity-robust or homoskedastic
    errors. ``debiased=True`` uses Stata's small-sample factors and t-tests (G-1 df when
    clustered).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        endog: str | Sequence[str],
        instruments: str | Sequence[str],
        exog: str | Sequence[str] = (),
        *,
        entity: str | None = None,
        time: str | None = None,
        entity_effects: bool = False,
        time_effects: bool = False,
        absorb: str = "demean",
        cluster: str | None = None,
        robust: bool = True,
        debiased: bool = True,
        constant: bool = True,
    ) -> None:
        self.data, self.y = data, y
        self.endog, self.instruments, self.exog = _as_list(endog), _as_list(instruments), _as_list(exog)
        self.entity, self.time = entity, time
        self.entity_effects, self.time_effects = entity_effects, time_effects
        self.absorb, self.cluster, self.robust = absorb, cluster, robust
        self.debiased, self.constant = debiased, constant
        if not self.endog or not self.instruments:
            raise PanelError("IV2SLS: need at least one endogenous regressor and one instrument")
        if len(self.instruments) < len(self.endog):
            raise PanelError(f"IV2SLS: under-identified: {len(self.instruments)} instruments {self.instruments} for "
                             f"{len(self.endog)} endogenous regressors {self.endog}")
        if absorb not in ("demean", "dummies"):
            raise PanelError(f"IV2SLS: absorb={absorb!r}; allowed: 'demean', 'dummies'")
        if (entity_effects or cluster == "entity") and entity is None:
            raise PanelError("IV2SLS: entity column needed (entity effects or entity clusters)")
        if (time_effects or cluster == "time") and time is None:
            raise PanelError("IV2SLS: time column needed (time effects or time clusters)")

    def _frame(self) -> tuple[pd.DataFrame, str | None]:
        who = "IV2SLS"
        df = self.data
        keys = [k for k in (self.entity, self.time) if k is not None]
        if any(k not in df.columns for k in keys):
            df = df.reset_index()
        ccol = {"entity": self.entity, "time": self.time}.get(self.cluster, self.cluster)
        vars_ = list(dict.fromkeys([self.y, *self.endog, *self.instruments, *self.exog]))
        cols = list(dict.fromkeys([*keys, *vars_] + ([ccol] if ccol else [])))
        require_columns(df, cols, who)
        num = numeric_columns(df, vars_, who, keys)
        ids = [c for c in dict.fromkeys([*keys] + ([ccol] if ccol else [])) if c not in vars_]
        out = pd.concat([df[ids], num], axis=1).dropna().reset_index(drop=True)
        if self.entity is not None and self.time is not None:
            no_duplicates(out, [self.entity, self.time], who)
        both = set(self.endog) & set(self.instruments)
        if both:
            raise PanelError(f"IV2SLS: column {sorted(both)[0]!r} is both endogenous and an excluded instrument")
        return out, ccol

    def fit(self, diagnostics: bool = True) -> EstimationResult:
        """The 2SLS fit; ``diagnostics=False`` leaves out the first stages and the KP statistics (the
        second stage's coefficients and errors are the same), for callers that read only those."""
        df, ccol = self._frame()
        with blas_threads(self._cells(df)):
            return self._fit(self._design(df, ccol), diagnostics)

    def coefficients(self) -> tuple[pd.Series, int]:
        """The second stage's coefficients (as ``fit().params``, to rounding) and the number of rows, by
        least squares of the outcome on the regressors fitted by the instruments and the exogenous
        regressors; no errors, no linearmodels."""
        df, ccol = self._frame()
        with blas_threads(self._cells(df)):
            d = self._design(df, ccol)
            Z = np.column_stack([d["Xx"], d["Zx"]])
            X = np.column_stack([d["Xx"], d["En"]])
            Xhat = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
            b = np.linalg.solve(Xhat.T @ X, Xhat.T @ d["yv"][:, 0])
        return pd.Series(b, index=[*d["xnames"], *self.endog]), len(df)

    def _cells(self, df: pd.DataFrame) -> int:
        return len(df) * (2 + len(self.endog) + len(self.instruments) + len(self.exog))

    def _design(self, df: pd.DataFrame, ccol: str | None) -> dict:
        """Outcome, endogenous, instrument and exogenous arrays after absorbing the effects (or with their
        dummies and the constant), checked for identification; ``a``/``a_all`` count the absorbed
        parameters (not nested in the clusters / all)."""
        n = len(df)
        def num(cols: list[str]) -> np.ndarray:
            return df[cols].apply(pd.to_numeric).to_numpy(dtype=float)

        yv, En, Zx = num([self.y]), num(self.endog), num(self.instruments)
        Xx = num(self.exog) if self.exog else np.empty((n, 0))
        xnames = list(self.exog)
        clusters = pd.factorize(df[ccol], sort=True)[0] if ccol else None
        fe = [(c, pd.factorize(df[c], sort=True)[0]) for c, on in
              ((self.entity, self.entity_effects), (self.time, self.time_effects)) if on]
        a = a_all = 0
        En_raw, Zx_raw, Xx_raw = En, Zx, Xx
        if fe and self.absorb == "demean":
            A = absorb_effects(np.column_stack([yv, En, Zx, Xx]), [g for _, g in fe])
            k1, k2, k3 = 1, 1 + En.shape[1], 1 + En.shape[1] + Zx.shape[1]
            yv, En, Zx, Xx = A[:, :k1], A[:, k1:k2], A[:, k2:k3], A[:, k3:]
            a = a_all = 1
            for c, g in fe:
                lev = int(g.max()) + 1
                a_all += lev - 1
                nested = clusters is not None and (
                    pd.Series(clusters).groupby(g).nunique().max() == 1)
                a += 0 if nested else lev - 1
        else:
            if self.constant:
                Xx, xnames = np.column_stack([np.ones(n), Xx]), ["const", *xnames]
            for c, g in fe:
                lev = int(g.max()) + 1
                D = np.zeros((n, lev - 1))
                rows = np.flatnonzero(g > 0)
                D[rows, g[rows] - 1] = 1.0
                Xx = np.column_stack([Xx, D])
                xnames += [f"{c}[{k}]" for k in range(1, lev)]

        who = "IV2SLS"
        eff = " and ".join(c for c, _ in fe) if fe and self.absorb == "demean" else ""
        why = f" after absorbing the {eff} effects" if eff else ""
        enough(who, n, Xx.shape[1] + En.shape[1] + a_all, entity=self.entity or "entity", time=self.time or "time")
        if eff:
            raw = np.column_stack([En_raw, Zx_raw, Xx_raw])
            rn = [*self.endog, *self.instruments, *self.exog]
            for j in absorbed_columns(raw, np.column_stack([En, Zx, Xx]), rn, who, eff):
                raise PanelError(f"{who}: column {rn[j]!r} has no variation within the {eff} effects; "
                                 "it is not identified")
        else:
            c0 = int(self.constant)
            constant_columns(np.column_stack([En, Zx, Xx[:, c0:]]),
                             [*self.endog, *self.instruments, *xnames[c0:]], who,
                             " (with the constant)" if self.constant else "")
        collinear_columns(np.column_stack([Xx, En]), [*xnames, *self.endog], who, why=why)
        collinear_columns(np.column_stack([Xx, Zx]), [*xnames, *self.instruments], who,
                          why=why + " (exogenous regressors and instruments)")
        return dict(n=n, yv=yv, En=En, Zx=Zx, Xx=Xx, xnames=xnames, clusters=clusters, a=a, a_all=a_all,
                    absorbed=bool(fe))

    def _fit(self, d: dict, diagnostics: bool = True) -> EstimationResult:
        from linearmodels import IV2SLS as _LMIV2SLS
        from scipy import stats

        n, yv, En, Zx, Xx, xnames = d["n"], d["yv"], d["En"], d["Zx"], d["Xx"], d["xnames"]
        clusters, a, a_all = d["clusters"], d["a"], d["a_all"]
        Y = pd.DataFrame(yv, columns=[self.y])
        EN = pd.DataFrame(En, columns=self.endog)
        ZZ = pd.DataFrame(Zx, columns=self.instruments)
        XX = pd.DataFrame(Xx, columns=xnames) if xnames else None
        if clusters is not None:
            cov_type, cfg = "clustered", {"clusters": clusters}
        else:
            cov_type, cfg = ("robust" if self.robust else "unadjusted"), {}
        if self.debiased and a:
            cfg["extra_df"] = a
        res = _LMIV2SLS(Y, XX, EN, ZZ).fit(cov_type=cov_type, debiased=self.debiased, **cfg)

        G = int(clusters.max()) + 1 if clusters is not None else None
        k = len(res.params)
        df_t = float(G - 1) if G else float(n - k - a)
        out = from_linearmodels(res, "IV-2SLS")
        r2 = float(res.rsquared)
        c0 = a_all if a_all else (1 if self.constant else 0)
        out.stats = {"R2": r2, "Adj. R2": 1.0 - (1.0 - r2) * (n - c0) / (n - k - a_all)}
        if self.debiased:
            out.dist, out.df_resid = "t", df_t
        out.extra.update(linearmodels=res, df_absorbed=a, absorb=self.absorb if d["absorbed"] else None)
        if not diagnostics:
            if G:
                out.stats["N clusters"] = G
            return out

        first: dict[str, EstimationResult] = {}
        FX = pd.concat([XX, ZZ], axis=1) if XX is not None else ZZ
        L1 = len(self.instruments)
        for e in self.endog:
            fr = _LMIV2SLS(EN[[e]], FX, None, None).fit(cov_type=cov_type, debiased=self.debiased, **cfg)
            fs = from_linearmodels(fr, f"First stage ({e})")
            pi = fr.params[self.instruments].to_numpy()
            Vpi = fr.cov.loc[self.instruments, self.instruments].to_numpy()
            F = float(pi @ np.linalg.solve(Vpi, pi)) / L1
            df_fs = float(G - 1) if G else float(n - len(fr.params) - a)
            fs.stats.update({"F (excluded instruments)": F,
                             "F p": float(stats.f.sf(F, L1, df_fs))})
            if self.debiased:
                fs.dist, fs.df_resid = "t", df_fs
            first[e] = fs

        kp_cov = "cluster" if clusters is not None else ("robust" if self.robust else "unadjusted")
        kp = kleibergen_paap(En, Zx, Xx if Xx.shape[1] else None, cov=kp_cov, clusters=clusters, sdofminus=a)
        out.stats.update({
            "KP rk LM": kp["rk LM"],
            "KP rk LM p": kp["rk LM p"],
            "KP rk LM df": float(kp["rk LM df"]),
            "KP rk Wald F": kp["rk Wald F"],
            "Cragg-Donald F": kp["Cragg-Donald F"],
            "Anderson LM": kp["Anderson LM"],
        })
        if len(self.endog) == 1:
            out.stats["First-stage F"] = first[self.endog[0]].stats["F (excluded instruments)"]
        if G:
            out.stats["N clusters"] = G
        out.extra.update(first_stage=first[self.endog[0]], first_stages=first, kp=kp)
        return out
