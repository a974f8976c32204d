"""Panel stochastic frontier analysis with time-varying inefficiency (seed 000 eq. 19–22).

Hand-written: neither statsmodels nor linearmodels (nor any well-kept Python library)
estimates panel stochastic frontiers with time-varying inefficiency, so the likelihood,
its analytic gradient, the Battese–Coelli predictor and the TFP growth decomposition
(TC + TE + TS, Kumbhakar & Lovell 2000 ch. 7) are coded here. Output and inputs enter
in natural logs; growth components are in log points per period.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, log_ndtr

from analysis.checks import (
    PanelError,
    blas_threads,
    collinear_columns,
    constant_columns,
    enough,
    missing_keys,
    no_duplicates,
    numeric_columns,
    require_columns,
)
from analysis.results import EstimationResult

_LN2PI = np.log(2.0 * np.pi)


def _mills(x: np.ndarray) -> np.ndarray:
    """Inverse Mills ratio phi(x)/Phi(x), stable for large negative x."""
    return np.exp(-0.5 * x * x - 0.5 * _LN2PI - log_ndtr(x))


def _frontier_design(
    logx: np.ndarray, t: np.ndarray, names: Sequence[str], form: str, trend: bool
) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """Frontier regressors and their exact derivatives w.r.t. each ln input and t."""
    n, J = logx.shape
    var = {nm: logx[:, j] for j, nm in enumerate(names)}
    if trend:
        var["t"] = t
    keys = list(var)
    zero, one = np.zeros(n), np.ones(n)
    cols: list[tuple[str, np.ndarray, dict[str, np.ndarray]]] = [("const", one, {})]
    for a in keys:
        cols.append((a, var[a], {a: one}))
    if form == "translog":
        for i, a in enumerate(keys):
            cols.append((f"0.5*{a}^2", 0.5 * var[a] ** 2, {a: var[a]}))
            for b in keys[i + 1:]:
                cols.append((f"{a}*{b}", var[a] * var[b], {a: var[b], b: var[a]}))
    X = np.column_stack([c[1] for c in cols])
    deriv = {a: np.column_stack([c[2].get(a, zero) for c in cols]) for a in keys}
    return X, [c[0] for c in cols], deriv


class PanelSFA:
    """Panel stochastic production frontier ln y_it = f(ln x_it, t) + v_it - u_it.

    v_it ~ N(0, sigma_v^2); u_it = g_it u_i with u_i ~ N+(mu, sigma_u^2) (mu = 0 unless
    ``mu=True``) and

    * ``'bc92'``: g_it = exp(-eta (t - T_i)), T_i the entity's last period
      (Battese & Coelli 1992, Stata ``xtfrontier, tvd`` convention);
    * ``'scaling'``: g_it = exp(z_it' delta), the direct (not within-transformed)
      scaling form of seed 000 eq. 19, u_it = h(z_it, delta) u_i*; ``z`` must not
      contain a constant (it is not identified against sigma_u);
    * ``'half-normal'``: g_it = 1, the time-invariant Pitt & Lee (1981) model.

    ``form`` is ``'translog'`` (seed eq. 21: inputs, t, halved squares and all
    cross-products) or ``'cobb-douglas'`` (inputs and a linear trend). With
    ``take_logs=True`` output and inputs are levels and are logged here. The trend
    t is ``time - min(time) + 1`` for numeric time, else the rank of the period.

    Estimation is maximum likelihood with the analytic score (L-BFGS-B followed
    by Newton steps), internally in (ln sigma^2, logit gamma), sigma^2 = sigma_u^2 +
    sigma_v^2, gamma = sigma_u^2/sigma^2. Standard errors come from the inverse of
    the observed information, the Hessian obtained by central differences of the
    analytic score; sigma2 and gamma are reported with delta-method errors.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        inputs: Sequence[str],
        entity: str,
        time: str,
        form: str = "translog",
        inefficiency: str = "bc92",
        z: Sequence[str] | None = None,
        mu: bool = False,
        take_logs: bool = True,
        trend: bool = True,
    ) -> None:
        if form not in ("translog", "cobb-douglas"):
            raise PanelError(f"PanelSFA: form={form!r}; allowed: 'translog', 'cobb-douglas'")
        if inefficiency not in ("bc92", "scaling", "half-normal"):
            raise PanelError(f"PanelSFA: inefficiency={inefficiency!r}; allowed: 'bc92', 'scaling', 'half-normal'")
        if inefficiency == "scaling" and not z:
            raise PanelError("PanelSFA: the scaling model needs z columns")
        self.y_name, self.inputs = y, list(inputs)
        self.entity, self.time = entity, time
        self.form, self.inefficiency, self.mu = form, inefficiency, bool(mu)
        self.z_names = list(z) if inefficiency == "scaling" else []
        self.take_logs, self.trend = take_logs, trend

        who = "PanelSFA"
        vars_ = list(dict.fromkeys([y, *self.inputs, *self.z_names]))
        require_columns(data, [entity, time, *vars_], who)
        missing_keys(data, [entity, time], who)
        num = numeric_columns(data, vars_, who, [entity, time])
        d = pd.concat([data[[entity, time]], num], axis=1).dropna()
        d = d.sort_values([entity, time], kind="stable").reset_index(drop=True)
        no_duplicates(d, [entity, time], who)
        n_e, n_t = int(d[entity].nunique()), int(d[time].nunique())
        enough(who, len(d), 0, n_entities=n_e, min_entities=2, entity=entity, time=time)
        if (trend or inefficiency == "bc92") and n_t < 2:
            raise PanelError(f"{who}: {n_t} distinct value{'s' if n_t != 1 else ''} of {time!r}; at least 2 periods "
                             f"are needed ({'the trend t' if trend else ''}{' and ' if trend and inefficiency == 'bc92' else ''}"
                             f"{'eta of bc92' if inefficiency == 'bc92' else ''} not identified)")
        yv = d[y].to_numpy(float)
        xv = d[self.inputs].to_numpy(float)
        if take_logs:
            for c, v in [(y, yv), *zip(self.inputs, xv.T)]:
                bad = v <= 0
                if bad.any():
                    r = d.loc[bad].iloc[0]
                    raise PanelError(f"{who}: column {c!r} has {int(bad.sum())} values <= 0 (first {r[c]!r} at "
                                     f"{entity}={r[entity]!r}, {time}={r[time]!r}); output and inputs must be "
                                     "positive to take logs")
            yv, xv = np.log(yv), np.log(xv)
        self.data = d
        self.index = pd.MultiIndex.from_frame(d[[entity, time]])
        codes, uniq = pd.factorize(d[entity])
        self.codes, self.entities = codes.astype(np.intp), uniq
        self.N, self.n = len(uniq), len(d)
        tv = d[time]
        if pd.api.types.is_numeric_dtype(tv):
            t = tv.to_numpy(float) - float(tv.min()) + 1.0
        else:
            t = pd.Series(pd.factorize(tv, sort=True)[0]).to_numpy(float) + 1.0
        self.t = t
        self.Ti = np.bincount(self.codes, minlength=self.N).astype(float)
        self.logy, self.logx = yv, xv
        self.X, self.exog_names, self._dX = _frontier_design(xv, t, self.inputs, form, trend)
        self.k = self.X.shape[1]
        constant_columns(self.X[:, 1:], self.exog_names[1:], who, " in the frontier (with the constant)")
        collinear_columns(self.X, self.exog_names, who, why=" in the frontier")
        enough(who, self.n, self.k + 2 + self.m_guess(inefficiency, z), entity=entity, time=time)
        if inefficiency == "bc92":
            tlast = pd.Series(t).groupby(self.codes).transform("max").to_numpy()
            self.W = -(t - tlast)[:, None]
            self.g_names = ["eta"]
        elif inefficiency == "scaling":
            self.W = d[self.z_names].to_numpy(float)
            for j in np.flatnonzero(np.ptp(self.W, axis=0) == 0):
                raise PanelError(f"{who}: z column {self.z_names[j]!r} is constant; it is not identified "
                                 "against sigma_u (z must not contain a constant)")
            collinear_columns(self.W, self.z_names, who, why=" among the z columns")
            self.g_names = [f"delta_{c}" for c in self.z_names]
        else:
            self.W = np.zeros((self.n, 0))
            self.g_names = []
        self.m = self.W.shape[1]
        self.param_names = (
            list(self.exog_names) + (["mu"] if self.mu else []) + self.g_names
            + ["ln_sigma2", "logit_gamma"]
        )

    @staticmethod
    def m_guess(inefficiency: str, z) -> int:
        """Number of inefficiency-shape parameters (eta, or one delta per z column)."""
        return {"bc92": 1, "scaling": len(z or ()), "half-normal": 0}[inefficiency]

    # ------------------------------------------------------------------ likelihood
    def _unpack(self, theta: np.ndarray):
        theta = np.asarray(theta, float)
        k, m = self.k, self.m
        beta = theta[:k]
        pos = k
        mu = 0.0
        if self.mu:
            mu = theta[pos]
            pos += 1
        dg = theta[pos:pos + m]
        s2, gam = np.exp(theta[-2]), expit(theta[-1])
        return beta, mu, dg, s2, gam

    def _core(self, theta: np.ndarray) -> dict[str, Any]:
        beta, mu, dg, s2, gam = self._unpack(theta)
        b, a = gam * s2, (1.0 - gam) * s2
        e = self.logy - self.X @ beta
        g = np.exp(self.W @ dg) if self.m else np.ones(self.n)
        c, N = self.codes, self.N
        See = np.bincount(c, e * e, N)
        Sge = np.bincount(c, g * e, N)
        Sgg = np.bincount(c, g * g, N)
        D = a + b * Sgg
        num = mu * a - b * Sge
        sq = np.sqrt(a * b * D)
        r = num / sq
        r0 = mu / np.sqrt(b)
        return dict(beta=beta, mu=mu, s2=s2, gam=gam, a=a, b=b, e=e, g=g, See=See, Sge=Sge,
                    Sgg=Sgg, D=D, num=num, sq=sq, r=r, r0=r0)

    def loglike_entity(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood contribution of each entity at ``theta`` (layout ``param_names``)."""
        q = self._core(theta)
        Ti, a, b, D = self.Ti, q["a"], q["b"], q["D"]
        return (
            -0.5 * Ti * _LN2PI - 0.5 * (Ti - 1.0) * np.log(a) - 0.5 * np.log(D)
            - 0.5 * (q["See"] / a + q["mu"] ** 2 / b) + 0.5 * q["r"] ** 2
            + log_ndtr(q["r"]) - log_ndtr(q["r0"])
        )

    def loglike(self, theta: np.ndarray) -> float:
        """Log-likelihood at ``theta`` = (betas, [mu], eta|delta, ln sigma2, logit gamma)."""
        return float(self.loglike_entity(theta).sum())

    def score(self, theta: np.ndarray) -> np.ndarray:
        """Analytic gradient of :meth:`loglike`."""
        q = self._core(theta)
        a, b, D, sq, r, r0, mu = q["a"], q["b"], q["D"], q["sq"], q["r"], q["r0"], q["mu"]
        See, Sge, Sgg, e, g = q["See"], q["Sge"], q["Sgg"], q["e"], q["g"]
        psi = r + _mills(r)
        lam0 = _mills(np.full_like(r, r0))
        L_ee = -0.5 / a
        L_ge = -psi * b / sq
        L_gg = -0.5 * b / D * (1.0 + psi * r)
        L_a = (-0.5 * (self.Ti - 1.0) / a - 0.5 / D + 0.5 * See / a**2
               + psi * (mu / sq - 0.5 * r * (1.0 / a + 1.0 / D)))
        L_b = (-0.5 * Sgg / D + 0.5 * mu**2 / b**2
               + psi * (-Sge / sq - 0.5 * r * (1.0 / b + Sgg / D))
               + lam0 * mu * 0.5 * b ** -1.5)
        c = self.codes
        grad = [self.X.T @ (-2.0 * L_ee * e - L_ge[c] * g)]
        if self.mu:
            grad.append(np.atleast_1d(np.sum(-mu / b + psi * a / sq - lam0 / np.sqrt(b))))
        if self.m:
            grad.append(self.W.T @ ((2.0 * g * L_gg[c] + e * L_ge[c]) * g))
        ga, gb = L_a.sum(), L_b.sum()
        grad.append(np.array([a * ga + b * gb, q["s2"] * q["gam"] * (1 - q["gam"]) * (gb - ga)]))
        return np.concatenate(grad)

    # ------------------------------------------------------------------ estimation
    def start_params(self) -> np.ndarray:
        """OLS frontier with a COLS intercept shift and method-of-moments variances."""
        beta, *_ = np.linalg.lstsq(self.X, self.logy, rcond=None)
        e = self.logy - self.X @ beta
        e = e - e.mean()
        m2, m3 = np.mean(e**2), np.mean(e**3)
        c3 = np.sqrt(2 / np.pi) * (4 / np.pi - 1)
        su = (-m3 / c3) ** (1 / 3) if m3 < 0 else 0.0
        su2 = min(max(su**2, 0.1 * m2), 0.9 * m2 / (1 - 2 / np.pi))
        sv2 = max(m2 - (1 - 2 / np.pi) * su2, 0.05 * m2)
        beta = beta.copy()
        beta[0] += np.sqrt(2 / np.pi) * np.sqrt(su2)
        s2 = su2 + sv2
        return np.concatenate([
            beta, [0.0] if self.mu else [], np.zeros(self.m),
            [np.log(s2), np.log(su2 / sv2)],
        ])

    def _scaling_matrix(self) -> np.ndarray:
        """Linear map from well-conditioned optimiser coordinates to natural parameters."""
        p = len(self.param_names)
        M = np.eye(p)
        mX = self.X[:, 1:].mean(0)
        sX = self.X[:, 1:].std(0)
        sX = np.where(sX > 0, sX, 1.0)
        M[1:self.k, 1:self.k] = np.diag(1.0 / sX)
        M[0, 1:self.k] = -mX / sX
        if self.m:
            sW = np.sqrt(np.mean(self.W**2, 0))
            sW = np.where(sW > 0, sW, 1.0)
            j = self.k + int(self.mu)
            M[j:j + self.m, j:j + self.m] = np.diag(1.0 / sW)
        return M

    def _hessian(self, f_grad, x: np.ndarray) -> np.ndarray:
        p = len(x)
        H = np.empty((p, p))
        for j in range(p):
            h = 1e-5 * max(1.0, abs(x[j]))
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            H[:, j] = (f_grad(xp) - f_grad(xm)) / (2 * h)
        return 0.5 * (H + H.T)

    def fit(self, start: np.ndarray | None = None, maxiter: int = 5000) -> "SFAResult":
        """Maximum likelihood; returns an :class:`SFAResult` (single-threaded BLAS on small panels)."""
        with blas_threads(self.n * len(self.param_names)):
            return self._fit(start, maxiter)

    def _fit(self, start: np.ndarray | None, maxiter: int) -> "SFAResult":
        from scipy import optimize

        M = self._scaling_matrix()
        Minv = np.linalg.inv(M)
        th0 = self.start_params() if start is None else np.asarray(start, float)
        n = self.n

        def f(s):
            return -self.loglike(M @ s) / n

        def gr(s):
            return -(M.T @ self.score(M @ s)) / n

        s0 = Minv @ th0
        opt = optimize.minimize(f, s0, jac=gr, method="L-BFGS-B",
                                options=dict(maxiter=maxiter, ftol=1e-15, gtol=1e-10, maxcor=30))
        s = opt.x
        fs = f(s)
        H = self._hessian(gr, s)
        for _ in range(20):
            gvec = gr(s)
            if np.max(np.abs(gvec)) < 1e-10:
                break
            try:
                step = np.linalg.solve(H, gvec)
            except np.linalg.LinAlgError:
                break
            lam, improved = 1.0, False
            for _ls in range(30):
                cand = s - lam * step
                fc = f(cand)
                if np.isfinite(fc) and fc <= fs:
                    s, fs, improved = cand, fc, True
                    break
                lam *= 0.5
            if not improved:
                break
            H = self._hessian(gr, s)
        gmax = float(np.max(np.abs(gr(s))))
        converged = bool(gmax < 1e-5)
        if not converged:
            warnings.warn(f"PanelSFA: max |score|/n = {gmax:.2e} at the optimum", RuntimeWarning)
        Hn = H * n
        try:
            cov_s = np.linalg.inv(Hn)
            if np.any(np.diag(cov_s) <= 0):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            warnings.warn("PanelSFA: Hessian not negative definite; pseudo-inverse used", RuntimeWarning)
            cov_s = np.linalg.pinv(Hn)
        theta = M @ s
        cov = M @ cov_s @ M.T
        return self._make_result(theta, cov, converged, gmax)

    def _make_result(self, theta, cov, converged, gmax) -> "SFAResult":
        s2, gam = np.exp(theta[-2]), expit(theta[-1])
        J = np.eye(len(theta))
        J[-2, -2], J[-1, -1] = s2, gam * (1 - gam)
        names = self.param_names[:-2] + ["sigma2", "gamma"]
        rep = theta.copy()
        rep[-2:] = s2, gam
        cov_r = J @ cov @ J.T
        se = np.sqrt(np.clip(np.diag(cov_r), 0, None))
        ll = self.loglike(theta)
        beta_ols, *_ = np.linalg.lstsq(self.X, self.logy, rcond=None)
        ssr = np.sum((self.logy - self.X @ beta_ols) ** 2)
        ll_ols = -0.5 * self.n * (_LN2PI + np.log(ssr / self.n) + 1.0)
        su2, sv2 = gam * s2, (1 - gam) * s2
        res = SFAResult(
            params=pd.Series(rep, index=names),
            std_errors=pd.Series(se, index=names),
            nobs=self.n,
            model_name=f"Panel SFA ({self.form}, {self.inefficiency})",
            cov=pd.DataFrame(cov_r, index=names, columns=names),
            dist="normal",
            stats={
                "Log-likelihood": ll,
                "LR (no inefficiency)": 2.0 * (ll - ll_ols),
                "sigma_u2": su2,
                "sigma_v2": sv2,
                "lambda": float(np.sqrt(su2 / sv2)),
                "Entities": float(self.N),
                "Converged": float(converged),
                "max |score|/n": gmax,
            },
            model=self,
            theta=theta,
            theta_cov=cov,
        )
        res.stats["Mean TE"] = float(res.efficiency().mean())
        return res

    # ------------------------------------------------------------------ prediction
    def _te(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E[exp(-u_it)|e_i] and E[u_it|e_i] (Battese & Coelli 1988, 1992)."""
        q = self._core(theta)
        c = self.codes
        mus = (q["num"] / q["D"])[c]
        sgs = np.sqrt(q["a"] * q["b"] / q["D"])[c]
        r = q["r"][c]
        g = q["g"]
        lnte = -g * mus + 0.5 * g**2 * sgs**2 + log_ndtr(r - g * sgs) - log_ndtr(r)
        eu = g * (mus + sgs * _mills(r))
        return np.exp(lnte), eu


@dataclass(eq=False, repr=False)
class SFAResult(EstimationResult):
    """Panel SFA estimates; adds efficiency prediction and TFP growth decomposition."""

    model: PanelSFA | None = None
    theta: np.ndarray | None = None
    theta_cov: np.ndarray | None = None

    def efficiency(self) -> pd.Series:
        """Technical efficiency E[exp(-u_it) | e_i] per observation, indexed (entity, time)."""
        te, _ = self.model._te(self.theta)
        return pd.Series(te, index=self.model.index, name="TE")

    def inefficiency(self) -> pd.Series:
        """Conditional mean E[u_it | e_i] (Jondrow et al. 1982 for panels)."""
        _, eu = self.model._te(self.theta)
        return pd.Series(eu, index=self.model.index, name="u")

    def elasticities(self) -> pd.DataFrame:
        """Output elasticities d ln f / d ln x_j, returns to scale and d ln f / dt."""
        mdl = self.model
        beta = self.theta[: mdl.k]
        out = {f"e_{a}": mdl._dX[a] @ beta for a in mdl.inputs}
        out["RTS"] = np.sum([out[f"e_{a}"] for a in mdl.inputs], axis=0)
        out["TC"] = mdl._dX["t"] @ beta if mdl.trend else np.zeros(mdl.n)
        return pd.DataFrame(out, index=mdl.index)

    def decompose(self) -> pd.DataFrame:
        """TFP growth = TC + TE + TS per entity-period (log points per period).

        TC = d ln f/dt at (i, t); TE = ln TE_it - ln TE_i,t-1 with the Battese–Coelli
        predictor; TS = (RTS - 1) sum_j (e_j / RTS) d ln x_j with elasticities at (i, t)
        and d ln x_j the change since the entity's previous period. The first period of
        each entity has no TE, TS or TFP growth.
        """
        mdl = self.model
        el = self.elasticities()
        c = mdl.codes
        first = np.r_[True, c[1:] != c[:-1]]
        dlx = np.vstack([np.zeros((1, len(mdl.inputs))), np.diff(mdl.logx, axis=0)])
        dlx[first] = np.nan
        rts = el["RTS"].to_numpy()
        shares = np.column_stack([el[f"e_{a}"].to_numpy() for a in mdl.inputs]) / rts[:, None]
        ts = (rts - 1.0) * np.sum(shares * dlx, axis=1)
        lnte = np.log(self.efficiency().to_numpy())
        te = np.r_[np.nan, np.diff(lnte)]
        te[first] = np.nan
        tc = el["TC"].to_numpy()
        return pd.DataFrame(
            {"TC": tc, "TE": te, "TS": ts, "TFP": tc + te + ts, "RTS": rts}, index=mdl.index
        )
