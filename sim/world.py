"""The world's facts as tables: provinces, cities, hubs, clusters, generation fleet.

Everything here is read from ``sim/data/*.csv`` (units in the column names, sources in
``sources.csv``). Yearly paths between anchor years are log-linear interpolations of
the national anchors in ``national_paths.csv``, scaled by each province's 2023 share.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).with_name("data")
TECHS = ("solar", "wind", "hydro", "nuclear", "coal", "gas")
REGIONS = ("east", "central", "west", "northeast")
IMPORT = "import"


LONG_RUN_GROWTH = 0.045
CONVERGENCE = 0.15


def _read(name: str, data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(data_dir / name, keep_default_na=False, na_values=[""])


def loglinear(years: np.ndarray, values: np.ndarray, at: float) -> np.ndarray:
    """Log-linear interpolation of positive anchors (rows = years); flat beyond the ends."""
    at = float(np.clip(at, years[0], years[-1]))
    j = int(np.searchsorted(years, at, side="right")) - 1
    j = min(max(j, 0), len(years) - 2)
    w = (at - years[j]) / (years[j + 1] - years[j])
    lo, hi = np.maximum(values[j], 1e-9), np.maximum(values[j + 1], 1e-9)
    return np.exp((1 - w) * np.log(lo) + w * np.log(hi))


@dataclass(frozen=True)
class World:
    """Immutable world data; ``World.load()`` reads the built-in tables."""

    provinces: pd.DataFrame
    cities: pd.DataFrame
    hubs: pd.DataFrame
    clusters: pd.DataFrame
    generation: pd.DataFrame
    technologies: pd.DataFrame
    national: pd.DataFrame
    national_gdp: pd.DataFrame

    @classmethod
    def load(cls, data_dir: str | Path | None = None) -> "World":
        d = Path(data_dir) if data_dir else DATA_DIR
        provinces = _read("provinces.csv", d).set_index("code", drop=False)
        cities = _read("cities.csv", d)
        cities = cities[cities["province"].isin(provinces.index)].reset_index(drop=True)
        gen = _read("generation.csv", d).pivot_table(index="code", columns="tech", values="capacity_gw", aggfunc="sum")
        gen = gen.reindex(index=provinces.index, columns=list(TECHS)).fillna(0.0)
        tech = _read("technologies.csv", d).set_index("tech").loc[list(TECHS) + [IMPORT]]
        return cls(
            provinces=provinces,
            cities=cities,
            hubs=_read("hubs.csv", d).set_index("hub_id", drop=False),
            clusters=_read("clusters.csv", d),
            generation=gen,
            technologies=tech,
            national=_read("national_paths.csv", d).set_index("year"),
            national_gdp=_read("national_gdp.csv", d).set_index("year"),
        )

    @property
    def codes(self) -> list[str]:
        return list(self.provinces.index)

    @property
    def n(self) -> int:
        return len(self.provinces)

    @cached_property
    def region_of(self) -> np.ndarray:
        return self.provinces["region"].to_numpy()

    @cached_property
    def hub_province_role(self) -> pd.Series:
        """Role of each province in the hub programme: 'demand', 'resource' or ''."""
        role = pd.Series("", index=self.provinces.index, dtype=object)
        for _, hub in self.hubs.iterrows():
            for code in str(hub["provinces"]).split(";"):
                code = code.strip()
                if code in role.index:
                    role[code] = hub["role"]
        return role

    @cached_property
    def cluster_city_ids(self) -> np.ndarray:
        return self.cities.loc[self.cities["is_cluster_city"] == 1, "city_id"].to_numpy()

    def capacity_gw(self, year: float) -> np.ndarray:
        """Installed capacity (GW) by province x technology in ``year``: 2023 fleet x national path."""
        cols = [f"{t}_gw" for t in TECHS]
        yrs = self.national.index.to_numpy(dtype=float)
        nat = loglinear(yrs, self.national[cols].to_numpy(dtype=float), year)
        share = self.generation.to_numpy() / np.maximum(self.generation.to_numpy().sum(axis=0), 1e-9)
        return share * nat[None, :]

    def consumption_twh(self, year: float) -> np.ndarray:
        """Electricity consumption (TWh/yr) by province in ``year``: 2023 share x national path."""
        yrs = self.national.index.to_numpy(dtype=float)
        nat = loglinear(yrs, self.national[["consumption_twh"]].to_numpy(dtype=float), year)[0]
        share = self.provinces["elec_consumption_2023_twh"].to_numpy(dtype=float)
        return share / share.sum() * nat

    def gdp_history(self, year: int) -> np.ndarray:
        """Historical GDP (bn CNY, current prices) by province in ``year``: national GDP times the
        province's share, the share log-linear between its 2008 and 2023 statistics. After 2023 the
        national growth rate converges from its 2018-2023 mean to ``LONG_RUN_GROWTH`` at rate
        ``CONVERGENCE`` and the shares' drift fades at the same rate (a projection, not history)."""
        p, nat = self.provinces, self.national_gdp["gdp_bn_cny"]
        s08 = p["gdp_2008_bn_cny"].to_numpy(float) / p["gdp_2008_bn_cny"].sum()
        s23 = p["gdp_2023_bn_cny"].to_numpy(float) / p["gdp_2023_bn_cny"].sum()
        drift = np.log(s23 / s08) / 15.0
        last = int(nat.index.max())
        if year <= last:
            years_on = year - 2008
            level = float(nat.loc[max(year, int(nat.index.min()))])
        else:
            g0 = float(np.log(nat.loc[last] / nat.loc[last - 5]) / 5.0)
            k = np.arange(1, year - last + 1)
            w = np.exp(-CONVERGENCE * k)
            level = float(nat.loc[last] * np.exp(np.sum(w * g0 + (1 - w) * LONG_RUN_GROWTH)))
            years_on = 15.0 + np.sum(np.exp(-CONVERGENCE * k))
        share = s08 * np.exp(drift * years_on)
        return level * share / share.sum()

    def gdp_growth(self) -> np.ndarray:
        """Mean nominal GDP growth 2008-2023 by province (log, 1/yr)."""
        p = self.provinces
        return np.log(p["gdp_2023_bn_cny"].to_numpy(float) / p["gdp_2008_bn_cny"].to_numpy(float)) / 15.0

    def pop_growth(self) -> np.ndarray:
        p = self.provinces
        return np.log(p["pop_2023_mn"].to_numpy(float) / p["pop_2008_mn"].to_numpy(float)) / 15.0
