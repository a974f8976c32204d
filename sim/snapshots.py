"""Representative hours: 4 seasons x 24 hours, each snapshot weighted to fill 8,760 h.

Profiles are stylised shapes (prior, not fitted): solar (annual capacity factor about
0.14, China ~1,250 full-load hours 2023, CEC), wind (about 0.23, ~2,200 h), hydro by
season, base electricity load, and compute arrivals by task kind. Each season's
representative day stands for ``DAYS_PER_SEASON`` days.
"""

from __future__ import annotations

import numpy as np

SEASONS = ("winter", "spring", "summer", "autumn")
N_SEASONS, N_HOURS = 4, 24
HOURS_PER_YEAR = 8760.0
DAYS_PER_SEASON = 365.0 / N_SEASONS
SNAPSHOT_WEIGHT_H = HOURS_PER_YEAR / (N_SEASONS * N_HOURS)

_h = np.arange(N_HOURS)
_DAYLENGTH = np.array([10.0, 12.5, 14.0, 11.5])
_SOLAR_PEAK = np.array([0.55, 0.72, 0.78, 0.62])
_WIND_SEASON = np.array([1.15, 1.20, 0.78, 0.87])
_HYDRO_SEASON = np.array([0.28, 0.38, 0.62, 0.46])
_LOAD_SEASON = np.array([1.04, 0.94, 1.10, 0.92])
PEAK_HOURS = np.isin(_h, [8, 9, 10, 17, 18, 19, 20])
VALLEY_HOURS = _h < 7


def solar_profile() -> np.ndarray:
    """Available share of solar capacity [season, hour]."""
    sunrise = 12.5 - _DAYLENGTH / 2
    x = (_h[None, :] + 0.5 - sunrise[:, None]) / _DAYLENGTH[:, None]
    return np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0) * _SOLAR_PEAK[:, None]


def wind_profile() -> np.ndarray:
    """Available share of wind capacity [season, hour]: stronger at night and in spring."""
    diurnal = 1 + 0.18 * np.cos(2 * np.pi * (_h - 2) / 24)
    return 0.23 * _WIND_SEASON[:, None] * diurnal[None, :]


def hydro_profile() -> np.ndarray:
    return np.repeat(_HYDRO_SEASON[:, None], N_HOURS, axis=1)


def availability(techs: tuple[str, ...], flat: dict[str, float]) -> np.ndarray:
    """Available share of capacity [tech, season, hour]; non-profiled techs use ``flat``."""
    shapes = {"solar": solar_profile, "wind": wind_profile, "hydro": hydro_profile}
    out = np.empty((len(techs), N_SEASONS, N_HOURS))
    for t, name in enumerate(techs):
        out[t] = shapes[name]() if name in shapes else float(flat[name])
    return out


def load_profile() -> np.ndarray:
    """Base electricity load relative to the annual mean [season, hour] (mean 1)."""
    diurnal = 1 + 0.12 * np.sin(2 * np.pi * (_h - 8) / 24) + 0.05 * PEAK_HOURS
    prof = _LOAD_SEASON[:, None] * diurnal[None, :]
    return prof / prof.mean()


def compute_profiles() -> np.ndarray:
    """Arrival profile of compute work by kind [kind, hour], mean 1: training, inference, interactive, batch."""
    training = np.ones(N_HOURS)
    inference = 1 + 0.45 * np.sin(2 * np.pi * (_h - 14) / 24)
    interactive = 1 + 0.35 * np.sin(2 * np.pi * (_h - 13) / 24)
    batch = 1 - 0.35 * np.sin(2 * np.pi * (_h - 14) / 24)
    prof = np.vstack([training, inference, interactive, batch])
    return prof / prof.mean(axis=1, keepdims=True)


def tou_multiplier(peak: float, valley: float) -> np.ndarray:
    """Time-of-use tariff multiplier by hour, normalised so the flat-load mean is 1."""
    m = np.where(PEAK_HOURS, peak, np.where(VALLEY_HOURS, valley, 1.0))
    return m / m.mean()
