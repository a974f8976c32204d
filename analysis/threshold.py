"""Hansen (1999, J. Econometrics 93) fixed-effect panel threshold regression (seed 001).

    y_it = mu_i + beta_1' x_it 1(q_it <= g_1) + ... + beta_{k+1}' x_it 1(q_it > g_k) + theta' z_it + e_it

Hand-written: no Python library estimates it. The threshold search, sequential
double/triple estimation with Hansen's refinement, LR confidence sets and the
entity-block residual bootstrap of F1-F3 are coded here. For every candidate g the
within-SSR is obtained from cumulative sums over the observations sorted by q
(partitioned regression: only x 1(q <= g) varies with g), batched over bootstrap draws;
no refit per grid point. Regime coefficients at the estimated thresholds come from
linearmodels' PanelOLS (entity effects, clustered or robust covariance).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.checks import (
    PanelError,
    absorbed_columns,
    blas_threads,
    collinear_columns,
    enough,
    missing_keys,
    no_duplicates,
    numeric_columns,
    require_columns,
)
from analysis.results import EstimationResult, from_linearmodels

_STAGES = ("single", "double", "triple")


def lr_critical_value(level: float = 0.95) -> float:
    """Hansen's (1999) asymptotic critical value c = -2 ln(1 - sqrt(level)) for the LR(g) set."""
    return float(-2.0 * np.log(1.0 - np.sqrt(level)))


class PanelThreshold:
    """Fixed-effect panel threshold model with 1, 2 or 3 thresholds in ``q``.

    ``x_regime`` are the regressors whose slopes switch at the thresholds, ``controls``
    enter with one slope; ``time_effects`` adds year dummies (seed 001's lambda_t).
    Candidate thresholds are the observed values of ``q`` at ``grid`` equally spaced
    quantiles in [trim, 1 - trim] (all distinct values when ``grid`` is None); each
    regime must hold at least ``trim`` of the observations. The bootstrap
    (:meth:`test_thresholds`) resamples whole within-residual vectors of entities with
    the same number of periods (Hansen's scheme on a balanced panel).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        x_regime: Sequence[str],
        q: str,
        entity: str,
        time: str,
        controls: Sequence[str] = (),
        n_thresholds: int = 1,
        trim: float = 0.05,
        grid: int | None = 300,
        time_effects: bool = False,
        cov_type: str = "clustered",
        ci_level: float = 0.95,
    ) -> None:
        who = "PanelThreshold"
        if n_thresholds not in (1, 2, 3):
            raise PanelError(f"{who}: n_thresholds={n_thresholds!r}; allowed: 1, 2 or 3")
        if not 0 < trim < 1.0 / (n_thresholds + 1):
            raise PanelError(f"{who}: trim={trim!r}; it must lie in (0, {1.0 / (n_thresholds + 1):.4g})")
        self.y, self.x, self.q = y, list(x_regime), q
        self.entity, self.time, self.controls = entity, time, list(controls)
        self.n_thresholds, self.trim, self.grid = n_thresholds, trim, grid
        self.time_effects, self.cov_type, self.ci_level = time_effects, cov_type, ci_level
        vars_ = list(dict.fromkeys([y, q, *self.x, *self.controls]))
        require_columns(data, [entity, time, *vars_], who)
        missing_keys(data, [entity, time], who)
        num = numeric_columns(data, vars_, who, [entity, time])
        df = pd.concat([data[[entity, time]], num], axis=1).dropna().sort_values([entity, time], kind="stable")
        no_duplicates(df, [entity, time], who)
        n_e, n_t = int(df[entity].nunique()), int(df[time].nunique())
        enough(who, len(df), (n_thresholds + 1) * len(self.x) + len(self.controls) + n_e, n_entities=n_e,
               min_entities=2, n_periods=n_t, min_periods=2, entity=entity, time=time)
        self.data = df.reset_index(drop=True)
        self._prepare()

    # ------------------------------------------------------------------ set-up
    def _prepare(self) -> None:
        df = self.data
        codes, uniq = pd.factorize(df[self.entity], sort=False)
        self._codes = codes
        self._N = uniq.size
        self._Ti = np.bincount(codes).astype(float)
        n = self._n = len(df)
        self._dof = n - self._N
        Z = df[self.controls].to_numpy(dtype=float) if self.controls else np.empty((n, 0))
        if self.time_effects:
            D = pd.get_dummies(df[self.time], drop_first=True, dtype=float).to_numpy()
            Z = np.column_stack([Z, D])
        self._Zt = self._demean(Z)
        self._yt = self._demean(df[self.y].to_numpy(dtype=float))
        self._X = df[self.x].to_numpy(dtype=float)
        self._check_identified(Z)
        self._qv = df[self.q].to_numpy(dtype=float)
        perm = np.argsort(self._qv, kind="stable")
        self._perm = perm
        qs = self._qv[perm]
        if self.grid is None:
            vals = np.unique(qs)
        else:
            vals = np.unique(np.quantile(qs, np.linspace(self.trim, 1 - self.trim, self.grid), method="lower"))
        pos = np.searchsorted(qs, vals, side="right")
        self._min = int(np.ceil(self.trim * n))
        ok = (pos >= self._min) & (n - pos >= self._min)
        self._cand, self._pos = vals[ok], pos[ok]
        if self._cand.size == 0:
            raise PanelError(f"PanelThreshold: no candidate threshold of {self.q!r} leaves "
                             f"{self.trim:.3g} of the observations in each regime (too few distinct values)")
        xs = self._X[perm]
        ent = codes[perm]
        grp = np.lexsort((np.arange(n), ent))
        cs = np.cumsum(xs[grp], axis=0)
        first = np.r_[True, ent[grp][1:] != ent[grp][:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        base = np.where(start[:, None] > 0, cs[np.maximum(start - 1, 0)], 0.0)
        s_incl = np.empty_like(xs)
        s_incl[grp] = cs - base
        s_old = s_incl - xs
        Ti = self._Ti[ent][:, None, None]
        xx = xs[:, :, None] * xs[:, None, :]
        cross = xs[:, :, None] * s_old[:, None, :]
        incr = xx - (cross + cross.transpose(0, 2, 1) + xx) / Ti
        self._AA = np.cumsum(incr, axis=0)[self._pos - 1]
        self._xs = xs
        self._start = np.r_[0, np.cumsum(np.bincount(codes))[:-1]]
        self._within = np.arange(n) - self._start[codes]

    def _check_identified(self, Z: np.ndarray) -> None:
        """Raise if a regressor or control has no within-entity variation or is collinear (linear model)."""
        who = "PanelThreshold"
        eff = "entity" + (" and time" if self.time_effects else "") + " effects"
        tnames = [f"{self.time}[{v}]" for v in sorted(self.data[self.time].unique())[1:]] if self.time_effects else []
        names = [*self.x, *self.controls, *tnames]
        raw = np.column_stack([self._X, Z])
        Xt = np.column_stack([self._demean(self._X), self._Zt])
        within = Xt.copy()
        if self.time_effects and Z.shape[1] > len(self.controls):
            D = self._Zt[:, len(self.controls):]
            within[:, :-D.shape[1]] -= D @ np.linalg.lstsq(D, within[:, :-D.shape[1]], rcond=None)[0]
        for j in absorbed_columns(raw[:, :len(self.x) + len(self.controls)],
                                  within[:, :len(self.x) + len(self.controls)], names, who, eff):
            kind = "control" if j >= len(self.x) else "regressor"
            raise PanelError(f"{who}: {kind} {names[j]!r} does not vary within the {eff} (constant or "
                             "fixed per entity/period); it is not identified, drop it")
        collinear_columns(Xt, names, who, why=f" after the {eff}")

    def _demean(self, a: np.ndarray) -> np.ndarray:
        a2 = a.reshape(self._n, -1)
        sums = np.zeros((self._N, a2.shape[1]))
        np.add.at(sums, self._codes, a2)
        out = a2 - (sums / self._Ti[:, None])[self._codes]
        return out.reshape(a.shape)

    def _regressors(self, gammas: Sequence[float]) -> np.ndarray:
        """Within-demeaned regime-interacted x (one block per regime) and controls."""
        g = np.sort(np.asarray(gammas, dtype=float))
        reg = np.searchsorted(g, self._qv, side="left")
        blocks = [self._X * (reg == j)[:, None] for j in range(g.size + 1)]
        return np.column_stack([self._demean(np.column_stack(blocks)), self._Zt])

    @staticmethod
    def _basis(W: np.ndarray) -> np.ndarray:
        U, s, _ = np.linalg.svd(W, full_matrices=False)
        return U[:, s > s.max() * max(W.shape) * np.finfo(float).eps] if s.size else U

    # ------------------------------------------------------------------ search
    def _path(self, Y: np.ndarray, fixed: tuple[int, ...]) -> np.ndarray:
        """SSR of adding one threshold at each candidate, given candidate indices ``fixed``.

        ``Y`` is n x B (within-demeaned); returns G x B with inf where a regime would be
        thinner than ``trim``.
        """
        Q = self._basis(self._regressors(self._cand[list(fixed)]))
        E = Y - Q @ (Q.T @ Y)
        ssr_w = np.einsum("ij,ij->j", E, E)
        p = self._xs.shape[1]
        xQ = np.cumsum(self._xs[:, :, None] * Q[self._perm][:, None, :], axis=0)[self._pos - 1]
        S = self._AA - xQ @ xQ.transpose(0, 2, 1)
        ok = np.ones(self._pos.size, dtype=bool)
        for f in fixed:
            ok &= np.abs(self._pos - self._pos[f]) >= self._min
        S[~ok] = np.eye(p)
        Es = E[self._perm]
        out = np.empty((self._pos.size, Y.shape[1]))
        chunk = max(1, int(4e6 // (self._n * p)))
        for c0 in range(0, Y.shape[1], chunk):
            sl = slice(c0, c0 + chunk)
            b = np.cumsum(self._xs[:, :, None] * Es[:, None, sl], axis=0)[self._pos - 1]
            try:
                sol = np.linalg.solve(S, b)
            except np.linalg.LinAlgError:
                sol = np.linalg.pinv(S) @ b
            out[:, sl] = ssr_w[sl][None, :] - np.einsum("gpb,gpb->gb", b, sol)
        out[~ok] = np.inf
        return out

    def _stage(self, Y: np.ndarray, fixed: list[tuple[int, ...]], keep_path: bool = False):
        """Best added threshold (candidate index) and its SSR per column of ``Y``.

        Columns sharing the same fixed thresholds are searched in one batch.
        """
        B = Y.shape[1]
        best, ssr = np.empty(B, dtype=np.int64), np.empty(B)
        groups: dict[tuple[int, ...], list[int]] = {}
        for col, key in enumerate(fixed):
            groups.setdefault(key, []).append(col)
        path = None
        for key, cols in groups.items():
            P = self._path(Y[:, cols], key)
            best[cols] = np.argmin(P, axis=0)
            ssr[cols] = P[best[cols], np.arange(len(cols))]
            path = P if keep_path else None
        return best, ssr, path

    def _ssr_linear(self, Y: np.ndarray) -> np.ndarray:
        Q = self._basis(self._regressors([]))
        E = Y - Q @ (Q.T @ Y)
        return np.einsum("ij,ij->j", E, E)

    def _sequential(self, Y: np.ndarray, k: int, keep_path: bool = False) -> dict:
        """Hansen's sequential estimation up to ``k`` thresholds for each column of ``Y``."""
        B = Y.shape[1]
        out: dict = {"S0": self._ssr_linear(Y), "paths": {}}
        g1, S1, P = self._stage(Y, [()] * B, keep_path)
        out.update(g1=g1, S1=S1)
        out["paths"]["th1"] = P
        if k >= 2:
            g2, S2, P = self._stage(Y, [(int(a),) for a in g1], keep_path)
            g1r, S2r, P1r = self._stage(Y, [(int(a),) for a in g2], keep_path)
            out.update(g2=g2, S2=S2, g1r=g1r, S2r=S2r)
            out["paths"]["th2"], out["paths"]["th1_refined"] = P, P1r
        if k >= 3:
            g3, S3, P = self._stage(Y, [(int(a), int(b)) for a, b in zip(g1r, g2)], keep_path)
            out.update(g3=g3, S3=S3)
            out["paths"]["th3"] = P
        return out

    def _model_thresholds(self, est: dict, keys: Sequence[str]) -> list[float]:
        return sorted(float(self._cand[est[k][0]]) for k in keys)

    def _fit_within(self, Y: np.ndarray, gammas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        Q = self._basis(self._regressors(gammas))
        fitted = Q @ (Q.T @ Y)
        return fitted, Y - fitted

    # ------------------------------------------------------------------ public
    def slopes_at(self, gammas: Sequence[float]) -> pd.Series:
        """Regime slopes (``x_r1``, ``x_r2``, ...) and control coefficients at the given thresholds,
        by within OLS with the model's effects; no search. The slopes the model takes at known
        thresholds (e.g. the true ones of a simulated panel), the same numbers ``fit`` reports when
        it estimates those thresholds."""
        g = np.sort(np.asarray(gammas, dtype=float))
        if g.size != self.n_thresholds:
            raise PanelError(f"PanelThreshold: {g.size} thresholds given; the model has {self.n_thresholds}")
        coef = np.linalg.lstsq(self._regressors(g), self._yt, rcond=None)[0]
        names = [f"{v}_r{j + 1}" for j in range(g.size + 1) for v in self.x] + self.controls
        return pd.Series(coef[: len(names)], index=names)

    def fit(self) -> EstimationResult:
        with blas_threads(self._n * (len(self.x) * (self.n_thresholds + 1) + self._Zt.shape[1])):
            return self._fit()

    def _fit(self) -> EstimationResult:
        from linearmodels.panel import PanelOLS

        k = self.n_thresholds
        Y = self._yt[:, None]
        est = self._sequential(Y, k, keep_path=True)
        self._est = est
        crit = lr_critical_value(self.ci_level)
        paths, ci_rows = {}, []
        stage_keys = {1: [("th1", "g1")], 2: [("th1_refined", "g1r"), ("th2", "g2")],
                      3: [("th1_refined", "g1r"), ("th2", "g2"), ("th3", "g3")]}[k]
        for name, gk in stage_keys:
            ssr = est["paths"][name][:, 0]
            smin = ssr[est[gk][0]]
            lr = (ssr - smin) / (smin / self._dof)
            paths[name] = pd.DataFrame({"gamma": self._cand, "ssr": ssr, "lr": lr})
            inside = self._cand[lr <= crit]
            ci_rows.append(dict(stage=name, gamma=float(self._cand[est[gk][0]]),
                                lower=float(inside.min()), upper=float(inside.max())))
        if k >= 2:
            ssr = est["paths"]["th1"][:, 0]
            paths["th1"] = pd.DataFrame({"gamma": self._cand, "ssr": ssr,
                                         "lr": (ssr - ssr.min()) / (ssr.min() / self._dof)})
        ci = pd.DataFrame(ci_rows).sort_values("gamma").reset_index(drop=True)
        ci.index = [f"gamma{j + 1}" for j in range(len(ci))]
        gammas = list(ci["gamma"])

        df = self.data
        reg = np.searchsorted(np.asarray(gammas), self._qv, side="left")
        exog = pd.DataFrame(index=df.index)
        bounds = [-np.inf, *gammas, np.inf]
        regimes = []
        for j in range(k + 1):
            for v in self.x:
                exog[f"{v}_r{j + 1}"] = df[v].to_numpy(dtype=float) * (reg == j)
            regimes.append(dict(regime=f"r{j + 1}", lower=bounds[j], upper=bounds[j + 1], nobs=int((reg == j).sum())))
        for c in self.controls:
            exog[c] = df[c].to_numpy(dtype=float)
        idx = pd.MultiIndex.from_arrays([df[self.entity], df[self.time]])
        exog.index = idx
        dep = pd.Series(df[self.y].to_numpy(dtype=float), index=idx, name=self.y)
        mod = PanelOLS(dep, exog, entity_effects=True, time_effects=self.time_effects, check_rank=False)
        if self.cov_type == "clustered":
            lm = mod.fit(cov_type="clustered", cluster_entity=True)
        else:
            lm = mod.fit(cov_type=self.cov_type)
        ssr_final = float(est["S1"][0] if k == 1 else (est["S2r"][0] if k == 2 else est["S3"][0]))
        res = from_linearmodels(lm, f"Panel threshold regression ({k} threshold{'s' if k > 1 else ''})")
        res.stats.update({"SSR": ssr_final, "SSR linear": float(est["S0"][0]),
                          **{f"gamma{j + 1}": g for j, g in enumerate(gammas)}})
        res.extra.update(thresholds=gammas, ci=ci, ssr_path=paths,
                         regimes=pd.DataFrame(regimes).set_index("regime"), linearmodels=lm,
                         lr_critical_value=crit)
        self._result = res
        return res

    def test_thresholds(self, B: int = 300, rng: np.random.Generator | int | None = None) -> pd.DataFrame:
        """F1..Fk statistics (k = n_thresholds) with Hansen's bootstrap p-values.

        F_j tests j-1 against j thresholds: residuals of the j-threshold fit, resampled
        by entity, are added to the fitted (j-1)-threshold model and the whole
        sequential search is repeated on each of the ``B`` bootstrap samples.
        """
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        k = self.n_thresholds
        Y = self._yt[:, None]
        est = self._sequential(Y, k)
        ssr = {0: est["S0"][0], 1: est["S1"][0], 2: est.get("S2", [np.nan])[0], 3: est.get("S3", [np.nan])[0]}
        null_ssr = {1: ssr[0], 2: ssr[1], 3: est.get("S2r", [np.nan])[0]}
        pools = [np.flatnonzero(self._Ti == T) for T in np.unique(self._Ti)]
        rows = []
        alt = {1: ["g1"], 2: ["g1", "g2"], 3: ["g1r", "g2", "g3"]}
        null = {1: [], 2: ["g1"], 3: ["g1r", "g2"]}
        for j in range(1, k + 1):
            _, resid = self._fit_within(Y, self._model_thresholds(est, alt[j]))
            fitted, _ = self._fit_within(Y, self._model_thresholds(est, null[j]))
            draw = np.empty((B, self._N), dtype=np.int64)
            for members in pools:
                draw[:, members] = members[rng.integers(0, members.size, size=(B, members.size))]
            src = self._start[draw[:, self._codes]] + self._within[None, :]
            Ystar = fitted + resid[src, 0].T
            bs = self._sequential(Ystar, j)
            s_alt = bs["S1"] if j == 1 else (bs["S2"] if j == 2 else bs["S3"])
            s_null = bs["S0"] if j == 1 else (bs["S1"] if j == 2 else bs["S2r"])
            Fb = (s_null - s_alt) / (s_alt / self._dof)
            F = (null_ssr[j] - ssr[j]) / (ssr[j] / self._dof)
            rows.append(dict(test=f"{_STAGES[j - 1]}", F=F, p_value=float(np.mean(Fb >= F)),
                             crit_10=np.quantile(Fb, 0.90), crit_5=np.quantile(Fb, 0.95),
                             crit_1=np.quantile(Fb, 0.99), SSR=ssr[j], MSE=ssr[j] / self._dof, B=B))
        return pd.DataFrame(rows).set_index("test")
