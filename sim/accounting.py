"""Accounting identities checked every simulated year; a violation raises with the numbers.

Market-day identities (demand = served + unserved, capacity, latency) are in
``sim.market.check_assignment``; these are the yearly energy and money identities. Every
comparison is written so that NaN or infinity fails it (``not gap <= tol``), and the
tolerances are relative to each element's own size.
"""

from __future__ import annotations

import numpy as np

from sim.market import KINDS, AccountingError


def _close(a: float, b: float, rel: float) -> bool:
    """|a - b| <= rel x max(|a|, |b|, 1); False for any NaN or infinity."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return False
    return bool(abs(a - b) <= rel * max(abs(a), abs(b), 1.0))


def _first_bad(ok: np.ndarray) -> tuple[int, ...] | None:
    bad = ~np.asarray(ok, dtype=bool)
    return tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None


def check_energy(year: int, facility_mwh: np.ndarray, it_mwh: np.ndarray, pue: np.ndarray, rel: float = 1e-9) -> None:
    """Each data centre's energy drawn (MWh) = its IT energy x PUE, all finite and non-negative."""
    facility_mwh, it_mwh, pue = (np.asarray(v, dtype=float) for v in (facility_mwh, it_mwh, pue))
    gap = np.abs(facility_mwh - it_mwh * pue)
    i = _first_bad((gap <= rel * np.maximum(np.abs(facility_mwh), 1.0)) & (it_mwh >= 0))
    if i is not None:
        i = i[0]
        raise AccountingError(
            f"{year}: data centre #{i} energy {facility_mwh[i]:.6g} MWh != IT {it_mwh[i]:.6g} MWh x PUE {pue[i]:.4f}"
        )


def check_power(year: int, dc_drawn_mwh: float, supplied_mwh: float, rel: float = 1e-9) -> None:
    """Energy drawn by all data centres (MWh) = energy the grids supplied to them."""
    if not _close(dc_drawn_mwh, supplied_mwh, rel):
        raise AccountingError(f"{year}: data centres drew {dc_drawn_mwh:.9g} MWh but grids supplied {supplied_mwh:.9g} MWh")


def check_grid_balance(year: int, load_mw: np.ndarray, generation_mw: np.ndarray, shortage_mw: np.ndarray, rel: float = 1e-9) -> None:
    """Every grid's load (MW) = generation + emergency imports, in every snapshot."""
    load_mw = np.asarray(load_mw, dtype=float)
    gap = np.abs(load_mw - generation_mw.sum(axis=1) - shortage_mw)
    i = _first_bad(gap <= rel * np.maximum(np.abs(load_mw), 1.0))
    if i is not None:
        raise AccountingError(f"{year}: grid #{i[0]} balance off by {gap[i]:.6g} MW at snapshot {i[1:]} (load {load_mw[i]:.6g} MW)")


def check_money(year: int, paid_by_users: float, dc_revenue: float, transfer_charges: float, rel: float = 1e-9) -> None:
    """Money paid by users (CNY) = data-centre revenue + transfer charges."""
    if not _close(paid_by_users, dc_revenue + transfer_charges, rel):
        raise AccountingError(
            f"{year}: users paid {paid_by_users:.9g} CNY but data centres earned {dc_revenue:.9g} and links "
            f"{transfer_charges:.9g} CNY (sum {dc_revenue + transfer_charges:.9g})"
        )


def check_work(year: int, demanded: np.ndarray, served: np.ndarray, unserved: np.ndarray, rel: float = 1e-9,
               codes: list[str] | None = None) -> None:
    """Yearly compute demanded = served + unserved per origin and kind [O,K] (PFLOP-h).

    ``unserved`` must be the market's own shortfall (booked day by day), not demanded -
    served, so the identity tests that the days add up to the year and that no class was
    over-served. Every element must be finite and non-negative and unserved <= demanded.
    """
    demanded, served, unserved = (np.asarray(v, dtype=float) for v in (demanded, served, unserved))
    if not (demanded.shape == served.shape == unserved.shape):
        raise AccountingError(f"{year}: work arrays differ in shape: demanded {demanded.shape}, served {served.shape}, "
                              f"unserved {unserved.shape}")
    tol = rel * np.maximum(np.abs(demanded), 1.0)
    gap = np.abs(demanded - served - unserved)
    checks = (
        ("demanded is not finite and non-negative", (demanded >= 0) & np.isfinite(demanded)),
        ("served is not finite and non-negative", (served >= -tol) & np.isfinite(served)),
        ("unserved is not finite and non-negative", (unserved >= -tol) & np.isfinite(unserved)),
        ("unserved exceeds demanded", unserved <= demanded + tol),
        ("demanded != served + unserved", gap <= tol),
    )
    for what, ok in checks:
        i = _first_bad(ok)
        if i is not None:
            origin = codes[i[0]] if codes is not None else f"#{i[0]}"
            kind = KINDS[i[1]] if demanded.ndim > 1 and i[1] < len(KINDS) else str(i[1:])
            raise AccountingError(
                f"{year}: origin {origin} kind {kind}: {what}: demanded {demanded[i]:.9g}, served {served[i]:.9g}, "
                f"unserved {unserved[i]:.9g} PFLOP-h"
            )
