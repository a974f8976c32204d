"""Fit time of each estimator on panels of the studies' sizes.

Province panel 30 x 15 = 450 rows (seed 000), city panel 336 x 6 = 2,016 (seed 001), firm
panel 2,657 x 7 = 18,599 (seed 002; the Bartik IV sample drops the first year of a
1,967-firm panel: 11,802 rows; the staggered DiD drops firms treated from the first year).
Plus two 200k-row cases: TwoWayFE (28,572 firms x 7 years, firm + year effects, firm
clusters) and NVAR (2,000 nodes x 100 periods, eq. 14 with six controls, HC1), each also
fitted by pyfixest ``feols`` on the same model (the pyfixest column; for NVAR on the design
NVAR builds, so pyfixest's time excludes the network term).

Data are drawn from a seeded Generator. Each timing is the median of ``--repeat`` fits (one
fit for bootstraps). Targets: every estimator under 1 s, the threshold model with 300
bootstrap draws under 30 s, the 200k-row TwoWayFE and NVAR within 1.5x of pyfixest. The
previous commit's code (``--old``, default /work/base_7434cd2) is timed in a subprocess in
the same run on the same data ("old" column). Prints the coefficient agreement with pyfixest
and linearmodels and the SE agreement with fixest's default small-sample rule; asserts
nothing. ``--threads`` caps the BLAS/OpenMP threads (default 1; 0 keeps the libraries'
default): on a busy 2-core machine multithreaded BLAS oversubscribes the cores.

Usage: python benchmarks/estimators.py [--seed 0] [--repeat 3] [--threads 1] [--old DIR|none]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (0: library default)")
    ap.add_argument("--old", default="/work/base_7434cd2", help="tree of the previous commit ('none' to skip)")
    ap.add_argument("--code", default=None, help=argparse.SUPPRESS)  # worker: tree whose analysis/ is timed
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # worker: print timings as JSON
    return ap.parse_args()


ARGS = (_args() if __name__ == "__main__" else
        argparse.Namespace(seed=0, repeat=3, threads=0, old="none", code=None, json=False))
if ARGS.threads > 0:  # before numpy is imported
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import json  # noqa: E402
import subprocess  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(ARGS.code).resolve() if ARGS.code else ROOT))

FIRM_CONTROLS = ["lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy", "Mshare",
                 "TobinQ"]
CITY_CONTROLS = ["logpeo", "logfin", "logfou", "loginvest", "logretail", "logagri", "logindus", "loginex"]


def province_panel(rng: np.random.Generator, province_weights: Callable) -> pd.DataFrame:
    W = province_weights("geo")
    codes = list(W.index)
    N, years = len(codes), np.arange(2007, 2023)
    T = len(years)
    ent = np.tile(np.arange(N), T)
    t = np.repeat(np.arange(1, T + 1), N).astype(float)
    lk = rng.normal(0, 1, N)[ent] + 0.08 * t + rng.normal(0, 0.2, N * T)
    ll = rng.normal(0, 1, N)[ent] + 0.02 * t + rng.normal(0, 0.2, N * T)
    u = np.abs(rng.normal(0, 0.3, N))[ent] * np.exp(-0.03 * (t - T))
    lny = (1 + 0.4 * lk + 0.5 * ll + 0.03 * t - 0.025 * lk**2 - 0.02 * ll**2 + 0.02 * lk * ll
           + 0.006 * lk * t - 0.004 * ll * t - 0.0005 * t**2 + rng.normal(0, 0.05, N * T) - u)
    df = pd.DataFrame({"province": np.array(codes)[ent], "year": years[t.astype(int) - 1],
                       "Y": np.exp(lny), "K": np.exp(lk), "L": np.exp(ll)})
    ind = rng.normal(size=(N * T, 5)) + rng.normal(size=(N * T, 1))
    for j in range(5):
        df[f"ind{j}"] = ind[:, j]
    df["DF_qty"] = ind.mean(axis=1)
    for j in range(6):
        df[f"Z{j}"] = rng.normal(size=N * T)
    qty = df["DF_qty"].to_numpy().reshape(T, N)
    net = qty @ W.to_numpy().T
    y = np.zeros((T, N))
    for s in range(1, T):
        y[s] = 0.03 * net[s] + 0.7 * y[s - 1] + 0.01 * qty[s] + rng.normal(0, 0.1, N)
    df["lnTFP"] = y.ravel()
    return df


def city_panel(rng: np.random.Generator) -> pd.DataFrame:
    N, years = 336, np.arange(2017, 2023)
    T = len(years)
    a = np.repeat(rng.normal(size=N), T)
    x = 0.5 * a + rng.normal(size=N * T)
    q = np.repeat(rng.uniform(0, 4, N), T) + rng.normal(0, 0.3, N * T)
    slope = np.array([-0.36, 0.1, 0.03])[np.searchsorted([1.0, 3.0], q)]
    df = pd.DataFrame({"city_id": np.repeat(np.arange(N), T), "year": np.tile(years, N), "logcomputing": x, "gdp": q})
    C = rng.normal(size=(len(CITY_CONTROLS), N * T))
    for j, c in enumerate(CITY_CONTROLS):
        df[c] = C[j]
    df["loggdp"] = 5 + a + slope * x + 0.05 * C.sum(axis=0) + rng.normal(0, 0.2, N * T)
    return df


def firm_panel(rng: np.random.Generator, N: int) -> pd.DataFrame:
    years = np.arange(2017, 2024)
    T = len(years)
    ind = rng.integers(0, 30, N)
    a = rng.normal(size=N)
    prop = np.exp(0.5 * a)
    idc = np.zeros((N, T))
    idc[:, 0] = rng.uniform(size=N) < rng.uniform(0, 0.03, 30)[ind] * prop
    for t in range(1, T):
        share = pd.Series(idc[:, t - 1]).groupby(ind).mean().reindex(range(30)).to_numpy()
        idc[:, t] = np.maximum(idc[:, t - 1], rng.uniform(size=N) < (0.5 * share[ind] + 0.004) * prop)
    first = np.where(idc.any(axis=1), years[np.argmax(idc, axis=1)], 0)
    D = idc.ravel()
    X = rng.normal(size=(len(FIRM_CONTROLS), N * T))
    df = pd.DataFrame({"firm_id": np.repeat(np.arange(N), T), "year": np.tile(years, N),
                       "industry": np.repeat(ind, T), "IDC": D, "cohort": np.repeat(first, T)})
    for j, c in enumerate(FIRM_CONTROLS):
        df[c] = X[j]
    df["EXPY"] = 10 + np.repeat(a, T) + 0.3 * D + np.linspace(-0.2, 0.2, len(FIRM_CONTROLS)) @ X \
        + rng.normal(0, 0.8, N * T)
    return df


def big_fe_panel(rng: np.random.Generator) -> pd.DataFrame:
    """200,004 firm-years (28,572 firms x 7 years) with the seed 002 controls."""
    return firm_panel(rng, 28_572)


def big_nvar_panel(rng: np.random.Generator, N: int = 2000, T: int = 101) -> tuple[pd.DataFrame, np.ndarray]:
    """N nodes x T periods (the first only supplies the lag: 200,000 rows), a random row-normalised W."""
    A = (rng.uniform(size=(N, N)) < 5.0 / N) * rng.uniform(0.5, 1.5, size=(N, N))
    np.fill_diagonal(A, 0.0)
    W = A / np.maximum(A.sum(axis=1, keepdims=True), 1e-12)
    x = rng.normal(size=(T, N))
    Z = rng.normal(size=(6, T, N))
    y = np.zeros((T, N))
    for t in range(1, T):
        y[t] = 0.03 * (x[t] @ W.T) + 0.7 * y[t - 1] + 0.01 * x[t] + 0.05 * Z[:, t].sum(axis=0) + rng.normal(0, 0.1, N)
    df = pd.DataFrame({"node": np.tile(np.arange(N), T), "t": np.repeat(np.arange(T), N),
                       "y": y.ravel(), "x": x.ravel()})
    for j in range(6):
        df[f"Z{j}"] = Z[j].ravel()
    return df, W


def pyfixest_fe(*names: str) -> str:
    """Effects in pyfixest 0.60's own (set) order: it labels set-ordered columns in formula order."""
    return " + ".join(set(names))


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def suite(args: argparse.Namespace) -> dict[str, tuple[int, float]]:
    """Fit times of every case with the analysis package on sys.path: name -> (rows, seconds)."""
    from analysis import (
        IV2SLS,
        NVAR,
        PSM,
        PanelSFA,
        PanelThreshold,
        StaggeredDiD,
        TwoWayFE,
        bartik_instrument,
        distortion_indices,
        pca_index,
        province_weights,
    )

    rng = np.random.default_rng(args.seed)
    prov, city = province_panel(rng, province_weights), city_panel(rng)
    firm = firm_panel(rng, 2657)
    ivp = firm_panel(rng, 1967)
    ivp["Bartik"] = bartik_instrument(ivp, "IDC", "industry", "year", "firm_id")
    big = big_fe_panel(np.random.default_rng(args.seed + 1))
    bnv, bW = big_nvar_panel(np.random.default_rng(args.seed + 2))
    W = province_weights("geo", sorted(prov["province"].unique()))
    p450 = prov.loc[prov["year"] >= 2008]
    did = firm.loc[firm["cohort"] != firm["year"].min()]
    thr = PanelThreshold(city, "loggdp", ["logcomputing"], "gdp", "city_id", "year", CITY_CONTROLS,
                         n_thresholds=2, time_effects=True)
    r = args.repeat
    out: dict[str, tuple[int, float]] = {}

    def add(name: str, n: int, fn: Callable[[], object], rep: int = r) -> None:
        out[name] = (n, timed(fn, rep))
        if not args.json:
            print(f"  {name:<52} {out[name][1]:8.3f} s", flush=True)

    add("PanelSFA translog, bc92 + TC/TE/TS (province)", len(p450), lambda: PanelSFA(
        p450, "Y", ["K", "L"], "province", "year", form="translog").fit().decompose())
    n_nvar = NVAR(prov, "lnTFP", "DF_qty", W, "province", "year").fit().nobs
    add("NVAR eq. 14, HC1 (province)", n_nvar, lambda: NVAR(
        prov, "lnTFP", "DF_qty", W, "province", "year", [f"Z{j}" for j in range(6)]).fit())
    add("PCA index, 5 indicators (province)", len(p450), lambda: pca_index(p450, [f"ind{j}" for j in range(5)]))
    add("Distortion indices, CRS elasticity (province)", len(p450), lambda: distortion_indices(p450, "Y", "K", "L"))
    add("TwoWayFE, firm-clustered (firm)", len(firm), lambda: TwoWayFE(
        firm, "EXPY", ["IDC", *FIRM_CONTROLS], "firm_id", "year").fit())
    n_iv = int(ivp["Bartik"].notna().sum())
    add("IV2SLS Bartik + KP, two-way FE absorbed (firm)", n_iv, lambda: IV2SLS(
        ivp, "EXPY", "IDC", "Bartik", FIRM_CONTROLS, entity="firm_id", time="year", entity_effects=True,
        time_effects=True, cluster="entity").fit())
    add("PSM 1:4 nearest neighbour, ATT + AI SE (firm)", len(firm), lambda: PSM(
        firm, "IDC", FIRM_CONTROLS, "EXPY", k=4).fit())
    add("StaggeredDiD Callaway-Sant'Anna (firm)", len(did), lambda: StaggeredDiD(
        did, "EXPY", "firm_id", "year", "cohort").fit())
    add("PanelThreshold, 2 thresholds, fit (city)", len(city), lambda: PanelThreshold(
        city, "loggdp", ["logcomputing"], "gdp", "city_id", "year", CITY_CONTROLS, n_thresholds=2,
        time_effects=True).fit())
    add("PanelThreshold, F1+F2 with 300 bootstrap draws", len(city), lambda: thr.test_thresholds(
        B=300, rng=args.seed), 1)
    add("TwoWayFE 200k, firm + year FE, firm-clustered", len(big), lambda: TwoWayFE(
        big, "EXPY", ["IDC", *FIRM_CONTROLS], "firm_id", "year").fit())
    add("NVAR 200k, eq. 14 + 6 controls, HC1", len(bnv) - bW.shape[0], lambda: NVAR(
        bnv, "y", "x", bW, "node", "t", [f"Z{j}" for j in range(6)]).fit())
    return out


def pyfixest_and_agreement(args: argparse.Namespace) -> tuple[dict[str, float], list[str]]:
    """pyfixest's time on the 200k models and the agreement lines (coefficients, SEs)."""
    import pyfixest as pf
    from linearmodels import PanelOLS

    from analysis import NVAR, TwoWayFE

    warnings.filterwarnings("ignore")
    r = args.repeat
    big = big_fe_panel(np.random.default_rng(args.seed + 1))
    xs = ["IDC", *FIRM_CONTROLS]
    fml = "EXPY ~ " + " + ".join(xs) + " | " + pyfixest_fe("firm_id", "year")
    times = {"TwoWayFE 200k, firm + year FE, firm-clustered":
             timed(lambda: pf.feols(fml, big, vcov={"CRV1": "firm_id"}).se(), r)}
    ours = TwoWayFE(big, "EXPY", xs, "firm_id", "year").fit()
    ref = pf.feols(fml, big, vcov={"CRV1": "firm_id"})
    p = big.set_index(["firm_id", "year"])
    lm = PanelOLS(p["EXPY"], p[xs].assign(const=1.0), entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True)
    lines = [
        f"TwoWayFE 200k: max |coef - pyfixest| = {np.abs(ours.params[xs] - ref.coef()[xs]).max():.2e}, "
        f"max |coef - linearmodels PanelOLS| = {np.abs(ours.params[xs] - lm.params[xs]).max():.2e}",
        f"TwoWayFE 200k: max |SE / pyfixest default CRV1 SE - 1| = "
        f"{np.abs(ours.std_errors[xs] / ref.se()[xs] - 1).max():.2e} (fixest rule: K = {len(xs)} slopes + 7 "
        f"years, firm effects nested in the clusters; t df = {ours.df_resid:.0f} = G - 1)",
    ]
    bnv, bW = big_nvar_panel(np.random.default_rng(args.seed + 2))
    ctrl = [f"Z{j}" for j in range(6)]
    mod = NVAR(bnv, "y", "x", bW, "node", "t", ctrl)
    yv, X, ec, tc, names = mod.design()
    d = X.drop(columns="beta0").assign(y=yv.to_numpy(), node=ec, t=tc)
    nf = "y ~ " + " + ".join(c for c in d.columns if c not in ("y", "node", "t"))
    times["NVAR 200k, eq. 14 + 6 controls, HC1"] = timed(lambda: pf.feols(nf, d, vcov="hetero").se(), r)
    res = mod.fit()
    rn = pf.feols(nf, d, vcov="hetero")
    keys = [c for c in names if c != "beta0"]
    lines.append(f"NVAR 200k: max |coef - pyfixest| = {np.abs(res.params[keys] - rn.coef()[keys]).max():.2e}, "
                 f"max |HC1 SE / pyfixest - 1| = {np.abs(res.std_errors[keys] / rn.se()[keys] - 1).max():.2e}")
    resc = NVAR(bnv, "y", "x", bW, "node", "t", ctrl, cov="cluster", effects="two-way").fit()
    fc = nf + " | " + pyfixest_fe("node", "t")
    rc = pf.feols(fc, d, vcov={"CRV1": "node"})
    lines.append(f"NVAR 200k, two-way FE, node clusters: max |coef - pyfixest| = "
                 f"{np.abs(resc.params[keys] - rc.coef()[keys]).max():.2e}, max |SE / pyfixest default - 1| = "
                 f"{np.abs(resc.std_errors[keys] / rc.se()[keys] - 1).max():.2e}")
    return times, lines


def main(args: argparse.Namespace = ARGS) -> None:
    if args.json:
        print(json.dumps(suite(args)))
        return
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "library default") if args.threads else "library default"
    print(f"Estimator fit times (seed {args.seed}, median of {args.repeat}, BLAS threads: {threads})")
    print("new code:")
    new = suite(args)
    old: dict[str, tuple[int, float]] = {}
    if args.old != "none":
        print(f"old code ({args.old}) in a subprocess ...", flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--code", args.old, "--seed", str(args.seed),
               "--repeat", str(args.repeat), "--threads", str(args.threads)]
        env = dict(os.environ, PYTHONPATH=args.old)
        run = subprocess.run(cmd, cwd=args.old, env=env, capture_output=True, text=True)
        if run.returncode == 0:
            old = {k: tuple(v) for k, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}
        else:
            print("  old code failed: " + (run.stderr.strip().splitlines() or ["?"])[-1])
    print("pyfixest on the 200k-row models ...", flush=True)
    pfx, lines = pyfixest_and_agreement(args)

    print()
    header = (f"{'estimator':<52} {'rows':>8} {'old s':>8} {'new s':>8} {'new/old':>8} {'pyfixest s':>10} "
              f"{'new/pyfx':>8}  target")
    print(header)
    print("-" * len(header))
    met = 0
    for name, (n, secs) in new.items():
        o = old.get(name, (n, float("nan")))[1]
        pf_s = pfx.get(name, float("nan"))
        if name in pfx:
            target, ok = "< 1.5x pyfixest", secs < 1.5 * pf_s
        else:
            lim = 30.0 if "bootstrap" in name else 1.0
            target, ok = f"< {lim:g} s", secs < lim
        met += ok
        print(f"{name:<52} {n:>8,} {o:>8.3f} {secs:>8.3f} {secs / o:>8.2f} "
              f"{pf_s:>10.3f} {secs / pf_s:>8.2f}  {target} {'yes' if ok else 'NO'}")
    print(f"\n{met} of {len(new)} targets met")
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
