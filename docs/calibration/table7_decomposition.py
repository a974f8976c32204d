"""Seed 000 table 7's interaction estimates split into the parts of lnTFP that produce them.

Eq. 16 (pooled OLS of lnTFP on M x W·DF_qty, M, lagged lnTFP, DF_qty and Z0-Z5) is linear in the
outcome, so its M x W·DF_qty coefficient is the sum of the same regression run on each additive part
of lnTFP_t - beta2 lnTFP_t-1 (the model's TFP equation, ``sim.studies.provinces.tfp_drivers``):
the innovation terms, the distortion terms, the controls, the common drift, the province effect
and the shock. Prints the mean over the seeds of each part's coefficient (log TFP per unit of
M x W·DF_qty), for M = innovation quantity and quality, at the committed parameters.

    python docs/calibration/table7_decomposition.py 1,2,3,4
"""

from __future__ import annotations

import sys
from itertools import chain
from types import SimpleNamespace

import numpy as np
import pandas as pd

from analysis import replicate as rep
from sim.config import ModelConfig
from sim.model import SuanLiModel
from sim.outputs import collect_panels
from sim.studies import provinces as pv

# Each part of the TFP equation is ``tfp_drivers`` with only its own coefficients left on (the
# innovation events' part, whose ln(N / baseline) the panels do not carry, is the rest of ln Z's increment).
GROUPS = {
    "innovation: phi x patents": ("phi_pat_qty", "phi_pat_qual"),
    "innovation: theta x patents x W·DF_qty": ("theta_patqty_netqty", "theta_patqual_netqty"),
    "innovation: theta x patents x W·DF_qual": ("theta_patqty_netqual", "theta_patqual_netqual"),
    "distortions": ("phi_tau_k", "phi_tau_l", "theta_tauk_netqty", "theta_taul_netqty", "theta_tauk_netqual",
                    "theta_taul_netqual"),
    "controls": tuple(f"gamma_z{j}" for j in range(6)),
}
COEFFICIENTS = ("beta0", "innov_g", *chain.from_iterable(GROUPS.values()))
PARTS = ("lnTFP", "innovation: g x events", *GROUPS, "drift", "province effect", "shock")


def _only(P: SimpleNamespace, names: tuple[str, ...]) -> SimpleNamespace:
    """The province parameters with every TFP-equation coefficient but ``names`` set to 0."""
    return SimpleNamespace(**{**vars(P), **{k: 0.0 for k in COEFFICIENTS if k not in names}})


def parts(seed: int) -> pd.DataFrame:
    """Eq. 16's M x W·DF_qty coefficient on each part of lnTFP (rows) for M = inn_qty, inn_qual (columns)."""
    m = SuanLiModel(ModelConfig(end_year=pv.STUDY_WINDOW[1]), seed=seed).run()
    P = m.params.province_economy
    pan = collect_panels(m)
    lat = pan["latent_provinces"][["province", "year", "lnZ", "net_qty", "net_qual", "mu", "eps", "pat_intensity_qty",
                                   "pat_intensity_qual"]]
    df = pan["study_provinces"].merge(lat, on=["province", "year"]).sort_values(["province", "year"])
    by = df.groupby("province")
    df["lag"] = by["lnTFP"].shift()
    innov = (df["lnZ"] - P.beta2 * by["lnZ"].shift()).to_numpy()
    zero = np.zeros(len(df))
    args = [df[c].to_numpy() for c in ("pat_intensity_qty", "pat_intensity_qual", "net_qty", "net_qual", "tau_K",
                                       "tau_L")]
    Z = df[list(pv.CONTROLS)].to_numpy().T
    own = {name: pv.tfp_drivers(_only(P, names), zero, *args, Z, zero, zero)[0] for name, names in GROUPS.items()}
    events = innov - sum(own[k] for k in GROUPS if k.startswith("innovation"))
    Y = pd.DataFrame({PARTS[0]: df["lnTFP"].to_numpy(), PARTS[1]: events, **own,
                      "drift": (P.tfp_drift * (df["year"] - P.translog_t_ref)).to_numpy(),
                      "province effect": df["mu"].to_numpy(), "shock": df["eps"].to_numpy()}, index=df.index)
    rest = df["lnTFP"] - P.beta2 * df["lag"] - P.beta0 - Y.iloc[:, 1:].sum(axis=1)
    keep = df["lag"].notna().to_numpy()
    assert np.abs(rest[keep]).max() < 1e-9, "the parts do not add up to lnTFP"
    d, Y = df[keep], Y[keep]
    out = {}
    for mname in ("inn_qty", "inn_qual"):
        X = np.column_stack([np.ones(len(d)), d[mname] * d["net_qty"], d[mname], d["lag"], d["DF_qty"],
                             d[list(rep.P1_CONTROLS)].to_numpy()])
        out[mname] = np.linalg.lstsq(X, Y.to_numpy(), rcond=None)[0][1]
    t7 = rep.p1_table7(df.drop(columns="lag"), innovation=("inn_qty", "inn_qual"))
    for mname in ("inn_qty", "inn_qual"):
        est = float(t7.results[f"Quantity: {mname}"].params[f"{mname}:network"])
        assert abs(est - out[mname][0]) < 1e-8, (mname, est, out[mname][0])
    return pd.DataFrame(out, index=list(PARTS))


if __name__ == "__main__":
    seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "1,2,3,4").split(",")]
    tab = sum(parts(s) for s in seeds) / len(seeds)
    tab.columns = ["p1_inn_qty_qty (M = inn_qty)", "p1_inn_qual_qty (M = inn_qual)"]
    print(f"Eq. 16 coefficient on M x W·DF_qty by part of lnTFP, mean over seeds {seeds} (published 0.0061, 0.0068):")
    print(tab.round(4).to_string())
