"""Accounting identities checked every simulated year; a violation raises with the numbers.

Market-day identities (demand = served + unserved, capacity, latency) are in
``sim.market.check_assignment``; these are the yearly energy and money identities.
"""

from __future__ import annotations

import numpy as np

from sim.market import AccountingError


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1.0)


def check_energy(year: int, facility_mwh: np.ndarray, it_mwh: np.ndarray, pue: np.ndarray, rel: float = 1e-9) -> None:
    """Each data centre's energy drawn = its IT energy x PUE."""
    gap = np.abs(facility_mwh - it_mwh * pue)
    if (gap > rel * np.maximum(facility_mwh, 1.0)).any():
        i = int(np.argmax(gap))
        raise AccountingError(
            f"{year}: data centre #{i} energy {facility_mwh[i]:.6g} MWh != IT {it_mwh[i]:.6g} MWh x PUE {pue[i]:.4f}"
        )


def check_power(year: int, dc_drawn_mwh: float, supplied_mwh: float, rel: float = 1e-9) -> None:
    """Energy drawn by all data centres = energy the grids supplied to them."""
    if not _close(dc_drawn_mwh, supplied_mwh, rel):
        raise AccountingError(f"{year}: data centres drew {dc_drawn_mwh:.9g} MWh but grids supplied {supplied_mwh:.9g} MWh")


def check_grid_balance(year: int, load_mw: np.ndarray, generation_mw: np.ndarray, shortage_mw: np.ndarray, rel: float = 1e-9) -> None:
    """Every grid's load = generation + emergency imports, in every snapshot."""
    gap = np.abs(load_mw - generation_mw.sum(axis=1) - shortage_mw)
    if (gap > rel * np.maximum(load_mw, 1.0)).any():
        raise AccountingError(f"{year}: grid balance off by up to {gap.max():.6g} MW")


def check_money(year: int, paid_by_users: float, dc_revenue: float, transfer_charges: float, rel: float = 1e-9) -> None:
    """Money paid by users = data-centre revenue + transfer charges."""
    if not _close(paid_by_users, dc_revenue + transfer_charges, rel):
        raise AccountingError(
            f"{year}: users paid {paid_by_users:.9g} CNY but data centres earned {dc_revenue:.9g} and links "
            f"{transfer_charges:.9g} CNY (sum {dc_revenue + transfer_charges:.9g})"
        )


def check_work(year: int, demanded: np.ndarray, served: np.ndarray, unserved: np.ndarray, rel: float = 1e-9) -> None:
    """Yearly compute demanded = served + unserved per origin and kind (PFLOP-h)."""
    gap = np.abs(demanded - served - unserved)
    if (gap > rel * np.maximum(demanded, 1.0)).any():
        i = np.unravel_index(int(np.argmax(gap)), gap.shape)
        raise AccountingError(
            f"{year}: origin {i[0]} kind {i[1]}: demanded {demanded[i]:.9g} != served {served[i]:.9g} + "
            f"unserved {unserved[i]:.9g} PFLOP-h"
        )
