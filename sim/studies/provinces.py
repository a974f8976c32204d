"""Seed 000 inside the model: provincial compute infrastructure, its network spillover on TFP,
factor-price distortions, innovation and the stochastic-frontier structure of output.

Every year (after the market has cleared) each of the 30 panel provinces (Tibet excluded;
W = inverse-distance ``geo`` weights of ``sim.network`` on the 30, re-row-normalised) gets:

* **Infrastructure.** Latent scale s = ln S rises with the province's data-centre capacity
  (``outcomes["pflops"]``), its backbone links, its GDP and an AR(1) shock; five indicators
  (IPv4 addresses, domains per 10k people, long-haul fibre km, websites per legal entity,
  broadband ports) are ln x_k = a_k + b_k (s - s_ref) + c_k (t - t0) + noise. DF_qty is the
  first principal component (``sim.measurement.pca_index``) of the standardised log
  indicators. The seed does not say how its scores were located and scaled (its Table 1 mean
  -0.39, sd 0.84 is not a pooled PC score, which has mean 0 and sd sqrt(eigenvalue)); here the
  centring, scaling and loadings are fitted on the first simulated year's cross-section, so
  that the index is known in year t and is the same number that drives the mechanism, and
  the score is mapped by ``(pc1 - df_qty_shift) / df_qty_scale`` onto the seed's scale.
  Quality chi (mean Mbps) follows 3G, 4G (from 2012) and 5G (from 2019) roll-out; DF_qual is
  eq. 23-25 via ``sim.measurement.df_quality`` on users in 10k. Eq. 23's first branch is written
  ln(55 ln G) with G the mobile broadband users of the time; before 4G exists (before
  ``lte_start``) G is the 3G users, so DF_qual exists on all 450 province-years of Table 1 (the
  seed's eq. 24 text names 4G from December 2013; its Table 1 reports DF_qual on 450 rows).
* **Distortions** (eq. 11-12): ln(1+tau) = ln(1+tau_base) exp(-kappa_q (Q_q - Q_q,0) -
  kappa_c Q_c + e), Q_q = (DF_qty + W DF_qty)/2, Q_c = (DF_qual + W DF_qual)/2 - qual_pre:
  |tau| shrinks as own and network infrastructure improve (|ln(1+tau)| stands for |tau| of
  eq. 11, f(Q)^-2 = exp(-kappa Q)). Digital labour L ~ 1/(1+tau_L) and investment ~ Y/(1+tau_K)
  so the distortions show in the eq. 18 indices gamma_K, gamma_L.
* **Innovation** (eq. 1-7): events N ~ Poisson(lambda), lambda = Lambda B^u1 M^u2 (eq. 3),
  ln B = b_q DF_qty + b_c (DF_qual - qual_pre) (own knowledge accumulation), ln M = m_q W DF_qty
  + m_c (W DF_qual - qual_pre) (knowledge carried through the network), Lambda = size baseline
  x exp(zeta). Each event is an invention patent (quality) with probability pi, else a utility
  or design patent (quantity).
* **TFP** (eq. 13-17): lnTFP_t = beta0 + delta (t - t_ref) + mu_i + beta2 lnTFP_t-1 + g ln(N/Lambda)
  + phi_q p_q + phi_c p_c + sum theta_P p (W DF - ref) + phi_K tau_K + phi_L tau_L
  + sum theta_tau tau (W DF - ref) + Z'gamma + eps, p = ln patents - ref.
  Mapping: ln N = ln lambda + O(lambda^-1/2) and ln patents = ln N + const, so with
  G = g + phi_q + phi_c the reduced form (patents integrated out) is eq. 14/15 with
  beta1_qty = G u2 m_q, alpha_qty = G u1 b_q, beta1_qual = G u2 m_c, alpha_qual = G u1 b_c;
  the loadings m, b are derived from the parameter file's beta1/alpha, which are therefore
  the true NVAR coefficients (exact when the interaction terms are off; the interactions are
  centred at the sample means so that they add no first-order term). One AR coefficient beta2
  serves both networks.
* **Output and the frontier** (eq. 19-22): a translog technology
  ln Y = c_Y + lnTFP + a_K ln K + a_L ln L + b_KK/2 k^2 + b_Kt (t - t_ref) k + v, k = ln K - ln K_ref
  (the first year's mean), capital by perpetual inventory from the 2008 stock, digital labour
  from 2020 employment. The true frontier level is ln F_t = max_i lnTFP_it + u_floor, so
  u_it = ln F_t - lnTFP_it >= 0 moves with each province's infrastructure and its network
  through lnTFP, TE = exp(-u); technical change TC_it = Delta ln F_t + b_Kt k_it is biased by
  capital (b_Kt < 0: capital deepening, which the networks raise by shrinking tau_K, slows it),
  and TS = (RTS_it - 1)/RTS_it (e_K Delta ln K + a_L Delta ln L) with e_K = a_K + b_KK k + b_Kt (t - t_ref).

Draws come from the study's own stream (``StudyModule.rng``, a child of the model's seed), so
the module is reproducible from the model seed and leaves the core's own stream untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import bdtr, bdtrik, expit, logit, pdtr, pdtrik

from sim.economy import load_reference, reference_row
from sim.measurement import df_quality, pca_index
from sim.network import weight_matrix
from sim.studies.base import StudyModule, in_window, register_study

SECTION = "province_economy"
EXCLUDED = ("XZ",)
INDICATORS = ("ipv4_10k", "domains_per_10k", "fibre_km", "websites_per_entity", "broadband_ports_10k")
IND_KEYS = ("ipv4", "domains", "fibre", "websites", "ports")
CONTROLS = ("Z0", "Z1", "Z2", "Z3", "Z4", "Z5")
CONTROL_SCALE = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1e-4])  # Z5 (km) enters per 10,000 km
SPEED_3G_MBPS, SPEED_4G_MBPS, SPEED_5G_MBPS = 2.0, 55.0, 334.0
MIN_4G_SHARE_OF_REMAINING = 0.05
STUDY_WINDOW = (2008, 2022)


@dataclass(frozen=True)
class Loadings:
    """Innovation loadings implied by the reduced-form NVAR coefficients (module docstring)."""

    G: float
    b_qty: float
    m_qty: float
    b_qual: float
    m_qual: float

    @classmethod
    def from_params(cls, p) -> "Loadings":
        G = p.innov_g + p.phi_pat_qty + p.phi_pat_qual
        if G <= 0 or p.innov_u1 <= 0 or p.innov_u2 <= 0:
            raise ValueError("province_economy: innov_g + phi_pat_qty + phi_pat_qual, innov_u1 and innov_u2 must be > 0")
        return cls(G, p.alpha_qty / (G * p.innov_u1), p.beta1_qty / (G * p.innov_u2),
                   p.alpha_qual / (G * p.innov_u1), p.beta1_qual / (G * p.innov_u2))


def distortion(ln1p_base: np.ndarray, q_qty: np.ndarray, q_qual: np.ndarray, noise: np.ndarray,
               kappa_qty: float, kappa_qual: float) -> np.ndarray:
    """ln(1+tau) for capital and labour (rows): the base wedge shrunk by f(Q)^-2 = exp(-kappa Q + noise)."""
    return ln1p_base * np.exp(-kappa_qty * q_qty - kappa_qual * q_qual + noise)


def tfp_drivers(p, ln_n_rel, int_q, int_c, nq, nc, tau_k, tau_l, Z, mu, eps):
    """Non-lag part of lnTFP and its innovation part (the increment of ln Z); ``int_q``, ``int_c``
    are the patent intensities ln(patents per bn CNY of GDP) of quantity and quality patents (the
    structure's measure; the panel's ``inn_qty``, ``inn_qual`` are seed 000's, ln of the counts)."""
    pq, pc = int_q - p.pat_ref_qty, int_c - p.pat_ref_qual
    nqc, ncc = nq - p.net_ref_qty, nc - p.net_ref_qual
    innov = (p.innov_g * ln_n_rel + p.phi_pat_qty * pq + p.phi_pat_qual * pc
             + p.theta_patqty_netqty * pq * nqc + p.theta_patqual_netqty * pc * nqc
             + p.theta_patqty_netqual * pq * ncc + p.theta_patqual_netqual * pc * ncc)
    dist = (p.phi_tau_k * tau_k + p.phi_tau_l * tau_l
            + p.theta_tauk_netqty * tau_k * nqc + p.theta_taul_netqty * tau_l * nqc
            + p.theta_tauk_netqual * tau_k * ncc + p.theta_taul_netqual * tau_l * ncc)
    gamma = np.array([p.gamma_z0, p.gamma_z1, p.gamma_z2, p.gamma_z3, p.gamma_z4, p.gamma_z5])
    ctrl = (gamma * CONTROL_SCALE) @ Z
    return p.beta0 + mu + innov + dist + ctrl + eps, innov


def poisson_quantile(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) draws by inversion of uniforms ``u`` (scipy.stats.poisson.ppf's rule): one uniform per
    draw whatever ``lam`` is, and the draw rises with ``lam`` for a given ``u``. numpy's Poisson sampler
    rejects a number of uniforms that depends on ``lam``, so two scenarios whose patent rates differ in
    the fifth digit would fall out of step and share no later shock."""
    k = np.ceil(pdtrik(u, lam))
    below = np.maximum(k - 1.0, 0.0)
    return np.where(pdtr(below, lam) >= u, below, k).astype(np.int64)


def binomial_quantile(u: np.ndarray, n: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Binomial(n, prob) draws by inversion of ``u`` (scipy.stats.binom.ppf's values), for the same reason."""
    n = np.asarray(n, np.int64)
    k = np.ceil(bdtrik(u, n.astype(float), prob))
    below = np.maximum(k - 1.0, 0.0)
    out = np.where(bdtr(below, n, prob) >= u, below, k)
    return np.where(n > 0, out, 0.0).astype(np.int64)


GDP_CEILING_BN = 1e7
LN_PATENT_RATE_CEILING = 40.0


class EconomyDiverged(ValueError):
    """The province economy left every plausible range (an explosive combination of structural
    parameters, e.g. strong spillovers with a small ``df_qty_scale``); names the year and the variable."""


class ProvinceMechanism:
    """Distortions, innovation, TFP, output and frontier of n units, advanced one year at a time.

    Used by :class:`ProvinceEconomy` with the model's infrastructure and by
    :func:`simulate_synthetic` with exogenous infrastructure. ``K0`` capital (bn CNY) in the
    first year, ``L_anchor`` digital employment (k persons) in ``anchor_year``, ``gdp0`` the
    first-year GDP (bn CNY) that sets the patent baseline.
    """

    def __init__(self, p, rng: np.random.Generator, K0, L_anchor, anchor_year: int = 2020):
        self.p, self.rng = p, rng
        self.load = Loadings.from_params(p)
        self.K = np.asarray(K0, float).copy()
        self.n = len(self.K)
        self.L_anchor = np.asarray(L_anchor, float)
        self.anchor_year = anchor_year
        self.lag: np.ndarray | None = None

    def _first(self, gdp) -> None:
        p, rng, n = self.p, self.rng, self.n
        self.tau_base = np.vstack([p.tau_k_sd * rng.standard_normal(n), p.tau_l_sd * rng.standard_normal(n)])
        self.mu = p.sigma_mu * rng.standard_normal(n)
        self.pi_between = p.invention_share_sd_between * rng.standard_normal(n)
        self.ln_gdp0 = np.log(gdp)
        self.ln_lambda0 = np.log(p.patents_base_per_tn) + p.patents_gdp_elasticity_cs * np.log(gdp / 1000.0)
        self.lnF = np.nan
        self.lnK_prev = self.lnL_prev = None

    def advance(self, year: int, dfq, dfc, nq, nc, Z, gdp) -> dict[str, np.ndarray]:
        """One year given own and network infrastructure (DF_qty, structural DF_qual and W·DF),
        controls Z (6 x n, seed units) and nominal GDP (bn CNY)."""
        p, rng, n, ld = self.p, self.rng, self.n, self.load
        gdp = np.asarray(gdp, float)
        if not (np.isfinite(gdp).all() and gdp.max() < GDP_CEILING_BN):
            raise EconomyDiverged(f"year {year}: province GDP reached {np.nanmax(gdp):.3g} bn CNY (above {GDP_CEILING_BN:g} "
                                  "or not finite): the structural parameters make the economy explosive (lnTFP -> GDP -> "
                                  "compute -> DF -> lnTFP); lower the spillovers or raise province_economy.df_qty_scale")
        first = self.lag is None
        if first:
            self._first(gdp)
        qq = 0.5 * (dfq + nq)
        qc = 0.5 * (dfc + nc) - p.qual_pre
        if first:
            self.qq0 = qq.copy()
        e_tau = p.tau_noise_sd * rng.standard_normal((2, n))
        zeta = p.innov_sigma_zeta * rng.standard_normal(n)
        pi_w = p.invention_share_sd_within * rng.standard_normal(n)
        eps = p.sigma_eps * rng.standard_normal(n)
        v = p.sigma_v * rng.standard_normal(n)
        u_count, u_kind = rng.random((2, n))

        ln1p_tau = distortion(self.tau_base, qq - self.qq0, qc, e_tau, p.kappa_tau_qty, p.kappa_tau_qual)
        tau = np.expm1(ln1p_tau)

        ln_b = ld.b_qty * dfq + ld.b_qual * (dfc - p.qual_pre)
        ln_m = ld.m_qty * nq + ld.m_qual * (nc - p.qual_pre)
        ln_base = self.ln_lambda0 + p.patents_gdp_elasticity_t * (np.log(gdp) - self.ln_gdp0)
        ln_lam = ln_base + p.innov_u1 * ln_b + p.innov_u2 * ln_m + zeta
        if not ln_lam.max() < LN_PATENT_RATE_CEILING:
            raise EconomyDiverged(f"year {year}: the patent rate of the innovation equation reached exp({np.nanmax(ln_lam):.1f}) "
                                  f"(above exp({LN_PATENT_RATE_CEILING:g}) or not finite): the structural parameters make "
                                  "innovation explosive (province_economy.innov_u1/u2, patents_gdp_elasticity_t, DF scale)")
        lam = np.exp(ln_lam)
        N = poisson_quantile(u_count, lam)
        pi = expit(logit(p.invention_share) + self.pi_between + pi_w)
        Pc = binomial_quantile(u_kind, N, pi)
        Pq = N - Pc
        ln_n_rel = np.log(np.maximum(N, 1)) - ln_base

        int_q, int_c = np.log(np.maximum(Pq, 1) / gdp), np.log(np.maximum(Pc, 1) / gdp)
        x, innov = tfp_drivers(p, ln_n_rel, int_q, int_c, nq, nc, tau[0], tau[1], Z, self.mu, eps)
        x = x + p.tfp_drift * (min(year, STUDY_WINDOW[1]) - p.translog_t_ref)
        if first:
            self.lag = (x - eps) / (1.0 - p.beta2)
            self.lnZ = innov / (1.0 - p.beta2)
        lntfp = p.beta2 * self.lag + x
        self.lnZ = p.beta2 * self.lnZ + innov
        self.lag = lntfp

        if first:
            self.K = self.K * np.exp(-ln1p_tau[0])
        L = self.L_anchor * np.exp(p.digital_employment_growth * (year - self.anchor_year) - ln1p_tau[1])
        K = self.K
        lnK, lnL = np.log(K), np.log(L)
        if first:
            self.k_ref = float(lnK.mean())
            self.c_Y = float(np.mean(np.log(gdp) - p.elasticity_k * lnK - p.elasticity_l * lnL - lntfp))
        kc, tc_ = lnK - self.k_ref, float(year - p.translog_t_ref)
        curvature = 0.5 * p.translog_kk * kc**2 + p.translog_kt * tc_ * kc
        Y = np.exp(self.c_Y + lntfp + p.elasticity_k * lnK + p.elasticity_l * lnL + curvature + v)
        self.K = (1.0 - p.depreciation) * K + p.investment_rate * Y * np.exp(-ln1p_tau[0])

        lnF = float(lntfp.max()) + p.u_floor
        u = lnF - lntfp
        e_k = p.elasticity_k + p.translog_kk * kc + p.translog_kt * tc_
        rts = e_k + p.elasticity_l
        if first:
            tc, ts = np.full(n, np.nan), np.full(n, np.nan)
        else:
            tc = (lnF - self.lnF) + p.translog_kt * kc
            ts = (rts - 1.0) / rts * (e_k * (lnK - self.lnK_prev) + p.elasticity_l * (lnL - self.lnL_prev))
        self.lnF, self.lnK_prev, self.lnL_prev = lnF, lnK, lnL
        return {
            "lnTFP": lntfp, "Y": Y, "K": K, "L": L, "tau_K": tau[0], "tau_L": tau[1],
            "patents_qty": Pq.astype(float), "patents_qual": Pc.astype(float), "innovations": N.astype(float),
            "inn_qty": np.log(np.maximum(Pq, 1)), "inn_qual": np.log(np.maximum(Pc, 1)),
            "pat_intensity_qty": int_q, "pat_intensity_qual": int_c,
            "TE": np.exp(-u), "u": u, "lnF": np.full(n, lnF), "TC": tc, "TS": ts, "lnZ": self.lnZ.copy(),
            "lnK_centred": kc,
            "lambda": lam, "zeta": zeta, "invention_share": pi, "mu": self.mu.copy(), "eps": eps, "v": v,
            "ln_innov_rel": ln_n_rel,
        }


@register_study
class ProvinceEconomy(StudyModule):
    """Seed 000's province-year economy; panel in the seed's variable names (module docstring)."""

    name = "provinces"

    def __init__(self, model):
        super().__init__(model)
        self.p = getattr(model.params, SECTION)
        w = model.world
        self.idx = np.array([i for i, c in enumerate(w.codes) if c not in EXCLUDED])
        self.codes = [w.codes[i] for i in self.idx]
        self.region = np.asarray(w.region_of)[self.idx]
        prov = w.provinces.iloc[self.idx]
        self.W = weight_matrix(prov, "geo")
        self.mech = ProvinceMechanism(self.p, self.rng, prov["capital_stock_2008_bn_cny"].to_numpy(float),
                                      prov["digital_employment_2020_k"].to_numpy(float), anchor_year=2020)
        self.n = len(self.idx)
        self._rows: list[dict[str, np.ndarray]] = []
        self._pca = None
        self.reference = load_reference(self.codes)
        self.gap: np.ndarray | None = None

    # ----- exogenous-to-TFP blocks ------------------------------------------------------------
    def _first_year(self, y, gdp, pop, s):
        p, rng, n = self.p, self.rng, self.n
        self.year0 = y
        self.s_ref = float(s.mean())
        self.z_between = rng.standard_normal((6, n))
        self.z_w = rng.standard_normal((6, n))
        r = (s - self.s_ref) / max(s.std(), 1e-9)
        self.t4 = p.lte_mid - p.rollout_s_effect * r + p.rollout_sd * rng.standard_normal(n)
        self.t5 = p.nr_mid - p.rollout_s_effect * r + p.rollout_sd * rng.standard_normal(n)
        gpc = np.log(gdp / pop)
        self.gdppc_rel = gpc - gpc.mean()

    def _controls(self, y: int) -> np.ndarray:
        p = self.p
        rho = np.array([getattr(p, f"z{k}_rho") for k in range(6)])[:, None]
        self.z_w = rho * self.z_w + np.sqrt(1.0 - rho**2) * self.rng.standard_normal((6, self.n))
        out = np.empty((6, self.n))
        for k in range(6):
            lat = (getattr(p, f"z{k}_center") + getattr(p, f"z{k}_trend") * (y - 2015)
                   + getattr(p, f"z{k}_sd_between") * self.z_between[k] + getattr(p, f"z{k}_sd_within") * self.z_w[k])
            if k == 0:
                out[k] = np.log10(100.0 * expit(lat + p.z0_gdppc * self.gdppc_rel))
            elif k == 1:
                out[k] = lat
            else:
                out[k] = np.exp(lat)
        return out

    def _users(self, y: int, pop: np.ndarray):
        p = self.p
        mobile = pop * 100.0 * p.mobile_pc_max * expit(p.mobile_pc_logit_2008 + p.mobile_pc_trend * (y - 2008))
        sh4 = expit((y - self.t4) / p.lte_speed) if y >= p.lte_start else np.zeros(self.n)
        sh5 = expit((y - self.t5) / p.nr_speed) if y >= p.nr_start else np.zeros(self.n)
        u5 = mobile * sh5
        u4 = mobile * sh4 * np.maximum(1.0 - sh5, MIN_4G_SHARE_OF_REMAINING)
        u3 = np.maximum(mobile - u4 - u5, 0.0) * expit((y - p.umts_mid) / p.umts_speed)
        chi = (SPEED_4G_MBPS * u4 + SPEED_5G_MBPS * u5 + SPEED_3G_MBPS * np.maximum(mobile - u4 - u5, 0.0)) / mobile
        return mobile, u3, u4, u5, chi

    # ----- the year -----------------------------------------------------------------------------
    def step(self) -> None:
        m, p, rng, n = self.model, self.p, self.rng, self.n
        y = int(m.year)
        provs = [m.provinces[i] for i in self.idx]
        gdp = np.array([pr.gdp for pr in provs], float)
        pop = np.array([pr.pop for pr in provs], float)
        pf = np.array([float(np.sum(pr.outcomes.get("pflops", 0.0))) for pr in provs])
        deg = np.array([m.backbone.graph.degree(c) for c in self.codes], float)
        first = self._pca is None

        e_s = rng.standard_normal(n)
        if first:
            self.omega = p.s_sigma * e_s
        else:
            self.omega = p.s_rho * self.omega + p.s_sigma * np.sqrt(1.0 - p.s_rho**2) * e_s
        s = p.s_pflops * np.log1p(pf) + p.s_links * np.log(np.maximum(deg, 1.0)) + p.s_gdp * np.log(gdp) + self.omega
        if first:
            self._first_year(y, gdp, pop, s)
        a = np.array([getattr(p, f"ind_{k}_level") for k in IND_KEYS])[:, None]
        b = np.array([getattr(p, f"ind_{k}_loading") for k in IND_KEYS])[:, None]
        c = np.array([getattr(p, f"ind_{k}_drift") for k in IND_KEYS])[:, None]
        lnx = a + b * (s - self.s_ref) + c * (y - self.year0) + p.ind_noise_sd * rng.standard_normal((5, n))
        frame = pd.DataFrame(lnx.T, columns=list(INDICATORS))
        if first:
            _, self._pca = pca_index(frame, INDICATORS, standardise=True)
        res = self._pca
        pc1 = ((frame - res.mean) / res.scale).to_numpy() @ res.loadings.to_numpy()
        dfq = (pc1 - p.df_qty_shift) / p.df_qty_scale
        nq = self.W @ dfq

        mobile, u3, u4, u5, chi = self._users(y, pop)
        dfqual = np.asarray(df_quality(broadband_users(y, u3, u4, p.lte_start), u5, np.full(n, y)), float)
        dfc = np.where(np.isfinite(dfqual), dfqual, p.qual_pre)
        nc = self.W @ dfc
        Z = self._controls(y)

        out = self.mech.advance(y, dfq, dfc, nq, nc, Z, gdp)
        ref = reference_row(self.reference, y, self.codes)
        step = (p.alpha_qty * (dfq - ref["DF_qty"]) + p.beta1_qty * (nq - ref["net_qty"])
                + p.alpha_qual * (dfc - ref["DF_qual_struct"]) + p.beta1_qual * (nc - ref["net_qual"]))
        step = np.where(np.isfinite(step), step, 0.0)
        self.gap = step if self.gap is None else p.beta2 * self.gap + step
        out["tfp_gap"] = self.gap.copy()
        rec = {"year": np.full(n, y), "DF_qty": dfq, "DF_qual": dfqual, "users_3g": u3, "users_4g": u4, "users_5g": u5,
               "mobile_users": mobile, "s": s, "S": np.exp(s), "chi": chi, "DF_qual_struct": dfc,
               "net_qty": nq, "net_qual": nc, "pflops": pf, "gdp_bn_cny": gdp, "pop_mn": pop}
        rec.update({k: np.exp(lnx[j]) for j, k in enumerate(INDICATORS)})
        rec.update({k: Z[j] for j, k in enumerate(CONTROLS)})
        rec.update(out)
        self._rows.append(rec)

    def year_outcomes(self) -> dict[str, float]:
        """Mean lnTFP of all, eastern and western panel provinces this year (log points)."""
        if not self._rows:
            return {}
        t = self._rows[-1]["lnTFP"]
        return {"lntfp_mean": float(t.mean()), "lntfp_east_mean": float(t[self.region == "east"].mean()),
                "lntfp_west_mean": float(t[self.region == "west"].mean())}

    def tfp_gap(self) -> dict[str, float]:
        """Last year's TFP gap to the reference path by province code, which the Province agents'
        production reads (``sim.economy``): G_t = beta2 G_t-1 + alpha_qty dDF_qty + beta1_qty dW·DF_qty
        + alpha_qual dDF_qual + beta1_qual dW·DF_qual, d = deviation from the reference infrastructure
        path. It is the response of lnTFP to infrastructure and its network through the mechanism's own
        reduced form (whose coefficients the innovation loadings are built to give), so a scenario that
        builds different infrastructure moves output; the year's shocks, already in historical GDP, do not."""
        return dict(zip(self.codes, self.gap.tolist())) if self.gap is not None else {}

    # ----- outputs --------------------------------------------------------------------------------
    def _frame(self) -> pd.DataFrame:
        if not self._rows:
            return pd.DataFrame()
        cols = self._rows[0].keys()
        df = pd.DataFrame({k: np.concatenate([r[k] for r in self._rows]) for k in cols})
        T = len(self._rows)
        df.insert(0, "province", pd.array(np.tile(self.codes, T), dtype="string"))
        df.insert(1, "region", pd.array(np.tile(self.region, T), dtype="string"))
        df["year"] = df["year"].astype(int)
        return df.sort_values(["province", "year"], kind="stable").reset_index(drop=True)

    PANEL_COLUMNS = ("province", "year", "region", "lnTFP", "DF_qty", "DF_qual", "Y", "K", "L", *INDICATORS,
                     "users_3g", "users_4g", "users_5g", *CONTROLS, "tau_K", "tau_L", "patents_qty", "patents_qual",
                     "inn_qty", "inn_qual", "gdp_bn_cny", "pop_mn")
    LATENT_COLUMNS = ("province", "year", "TE", "u", "lnF", "TC", "TS", "lnK_centred", "lnZ", "S", "s", "chi", "DF_qual_struct",
                      "net_qty", "net_qual", "lambda", "innovations", "invention_share", "zeta", "mu", "eps", "v",
                      "tfp_gap", "pat_intensity_qty", "pat_intensity_qual")

    def panel(self) -> pd.DataFrame:
        """Province-year panel in seed 000's names (Y, K in bn CNY at base-year prices, L in k persons,
        users in 10k, patents as counts), sorted by province and year."""
        df = self._frame()
        if df.empty:
            return pd.DataFrame(columns=list(self.PANEL_COLUMNS))
        return df[list(self.PANEL_COLUMNS)]

    def latent(self) -> pd.DataFrame:
        """True TE, inefficiency u, frontier ln F, TC and TS growth, technology ln Z, S, chi, intensities."""
        df = self._frame()
        if df.empty:
            return pd.DataFrame(columns=list(self.LATENT_COLUMNS))
        return df[list(self.LATENT_COLUMNS)]

    def truth(self) -> pd.DataFrame:
        """The parameter file's [province_economy] and the loadings derived from it (``derived.*``)."""
        ld = self.mech.load
        p = self.p
        derived = pd.DataFrame(
            [
                ("G", ld.G, "elasticity", "TFP elasticity of innovation events: innov_g + phi_pat_qty + phi_pat_qual"),
                ("b_qty", ld.b_qty, "log points per DF unit", "ln B loading on own DF_qty = alpha_qty / (G u1)"),
                ("m_qty", ld.m_qty, "log points per DF unit", "ln M loading on W·DF_qty = beta1_qty / (G u2)"),
                ("b_qual", ld.b_qual, "log points per DF unit", "ln B loading on own DF_qual = alpha_qual / (G u1)"),
                ("m_qual", ld.m_qual, "log points per DF unit", "ln M loading on W·DF_qual = beta1_qual / (G u2)"),
                ("rts", p.elasticity_k + p.elasticity_l, "ratio", "returns to scale of the frontier"),
                ("c_Y", getattr(self.mech, "c_Y", np.nan), "log", "output scale fitted to first-year GDP"),
            ],
            columns=["name", "value", "unit", "meaning"],
        )
        derived["name"] = "derived." + derived["name"]
        derived["value"] = derived["value"].astype(float)
        return pd.concat([self.parameter_rows(SECTION), derived], ignore_index=True)


def synthetic_weights(rng: np.random.Generator, n: int, k: int = 6) -> np.ndarray:
    """k-nearest-neighbour inverse-distance weights of n random points, row-normalised, zero diagonal."""
    pts = rng.uniform(size=(n, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    W = np.zeros((n, n))
    rows = np.repeat(np.arange(n), k)
    W[rows, nn.ravel()] = 1.0 / d[rows, nn.ravel()]
    return W / W.sum(axis=1, keepdims=True)


def simulate_synthetic(p, n_units: int, n_years: int, rng: np.random.Generator, start_year: int = 2000,
                       burn: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """A large panel from :class:`ProvinceMechanism` with exogenous infrastructure (for recovery tests).

    DF_qty_it = a_i + 0.1 t + AR(1) noise, DF_qual_it = qual_pre + 0.5 + a'_i + 0.08 t + AR(1) noise,
    controls N(0,1) AR(1) in Z0..Z4 and 10^4 (1 + AR(1)) in Z5, GDP constant 1,000 bn CNY and
    equal capital and labour: no unit constants other than mu_i and the invention share.
    The first ``burn`` years are dropped. ``p`` is a parameter namespace (``Parameters.province_economy``).
    """
    n, T = n_units, n_years + burn
    W = synthetic_weights(rng, n)
    mech = ProvinceMechanism(p, rng, np.full(n, 2000.0), np.full(n, 100.0), anchor_year=start_year)
    a_q, a_c = 0.6 * rng.standard_normal(n), 0.4 * rng.standard_normal(n)
    e_q, e_c, ez = np.zeros(n), np.zeros(n), rng.standard_normal((6, n))
    gdp = np.full(n, 1000.0)
    rows = []
    for t in range(T):
        e_q = 0.6 * e_q + 0.4 * rng.standard_normal(n)
        e_c = 0.6 * e_c + 0.4 * rng.standard_normal(n)
        ez = 0.7 * ez + np.sqrt(1 - 0.49) * rng.standard_normal((6, n))
        dfq = a_q + 0.1 * (t - T / 2) + e_q
        dfc = p.qual_pre + 0.5 + a_c + 0.08 * t + e_c
        Z = ez.copy()
        Z[5] = 1e4 * (1.0 + 0.2 * ez[5])
        out = mech.advance(start_year + t, dfq, dfc, W @ dfq, W @ dfc, Z, gdp)
        rec = {"unit": np.arange(n), "year": np.full(n, start_year + t), "DF_qty": dfq, "DF_qual": dfc,
               "net_qty": W @ dfq, "net_qual": W @ dfc}
        rec.update({k: Z[j] for j, k in enumerate(CONTROLS)})
        rec.update(out)
        rows.append(rec)
    df = pd.concat([pd.DataFrame(r) for r in rows[burn:]], ignore_index=True)
    return df.sort_values(["unit", "year"]).reset_index(drop=True), W


def broadband_users(year, users_3g, users_4g, lte_start: int):
    """Mobile broadband users G of eq. 24 (10k): the 4G users from ``lte_start`` on, the 3G users before 4G exists."""
    return np.where(np.asarray(year) >= lte_start, users_4g, users_3g)


def study_sample(panel: pd.DataFrame, start: int = STUDY_WINDOW[0], end: int = STUDY_WINDOW[1]) -> pd.DataFrame:
    """Seed 000's sample from a province panel: province-years ``start``..``end`` (30 x 15 = 450;
    DF_qual exists from 4G on, which leaves the 2012-2022 window of 330 for the quality network)."""
    return in_window(panel, start, end)
