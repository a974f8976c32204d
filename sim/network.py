"""The East–West backbone: a networkx graph of provinces, latencies, transfer costs, weights.

Nodes are provincial capitals. Links join each province to its nearest neighbours and a
core mesh of national backbone nodes; hub direct-connect links are added at designation.
One-way link latency (ms) = great-circle km x detour / fibre speed (km/ms) + hop delay.
Also the spatial weight matrices of seed 000 (eq. 14, table 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

EARTH_RADIUS_KM = 6371.0088
CORE_NODES = ("BJ", "SH", "GD", "HB", "SN", "SC", "LN", "JS")


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance in km; broadcasts over arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def distance_matrix(provinces: pd.DataFrame) -> np.ndarray:
    lat = provinces["capital_lat_deg"].to_numpy(float)
    lon = provinces["capital_lon_deg"].to_numpy(float)
    return great_circle_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])


@dataclass
class NetworkSettings:
    speed_km_per_ms: float = 200.0
    detour: float = 1.35
    hop_delay_ms: float = 0.6
    intra_province_ms: float = 1.0
    link_capacity_gbps: float = 4000.0
    cost_cny_per_gb_1000km: float = 0.35
    cost_cny_per_gb_hop: float = 0.05
    direct_link_speedup: float = 0.7
    neighbours: int = 3

    @classmethod
    def from_params(cls, params, **overrides) -> "NetworkSettings":
        fields = {k: getattr(params.network, k) for k in cls.__dataclass_fields__ if hasattr(params.network, k)}
        fields.update(overrides)
        return cls(**fields)


class Backbone:
    """Backbone graph with all-pairs shortest-latency routes and the per-pair matrices.

    ``latency_ms[o, d]`` is the round-trip latency (ms), ``route_km``, ``hops`` and
    ``cost_per_gb[o, d]`` (CNY per GB) follow the shortest-latency route.
    """

    def __init__(self, provinces: pd.DataFrame, settings: NetworkSettings, direct_links: list[tuple[str, str]] = ()):
        self.codes = list(provinces.index)
        self.settings = settings
        self.km = distance_matrix(provinces)
        self.graph = self._build(direct_links)
        self._routes()

    def _link(self, g: nx.Graph, a: str, b: str, direct: bool = False) -> None:
        s = self.settings
        i, j = self.codes.index(a), self.codes.index(b)
        route_km = self.km[i, j] * s.detour
        latency = route_km / s.speed_km_per_ms + s.hop_delay_ms
        if direct:
            latency *= s.direct_link_speedup
        g.add_edge(
            a,
            b,
            km=route_km,
            latency_ms=latency,
            capacity_gbps=s.link_capacity_gbps,
            cost_per_gb=route_km / 1000 * s.cost_cny_per_gb_1000km + s.cost_cny_per_gb_hop,
            direct=direct,
        )

    def _build(self, direct_links) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(self.codes)
        order = np.argsort(self.km, axis=1, kind="stable")
        for i, a in enumerate(self.codes):
            for j in order[i, 1 : 1 + self.settings.neighbours]:
                self._link(g, a, self.codes[j])
        core = [c for c in CORE_NODES if c in self.codes]
        for x in range(len(core)):
            for y in range(x + 1, len(core)):
                self._link(g, core[x], core[y])
        for a, b in direct_links:
            self._link(g, a, b, direct=True)
        if not nx.is_connected(g):
            comps = sorted(nx.connected_components(g), key=len)
            raise ValueError(f"backbone graph is not connected: {comps[0]}")
        return g

    def _routes(self) -> None:
        n = len(self.codes)
        idx = {c: i for i, c in enumerate(self.codes)}
        self.paths: dict[tuple[int, int], list[tuple[str, str]]] = {}
        one_way = np.zeros((n, n))
        self.route_km = np.zeros((n, n))
        self.hops = np.zeros((n, n), dtype=int)
        self.cost_per_gb = np.zeros((n, n))
        km, cost = {}, {}
        for a, b, data in self.graph.edges(data=True):
            km[a, b] = km[b, a] = data["km"]
            cost[a, b] = cost[b, a] = data["cost_per_gb"]
        for src, (dist, paths) in nx.all_pairs_dijkstra(self.graph, weight="latency_ms"):
            i = idx[src]
            for dst, path in paths.items():
                j = idx[dst]
                edges = list(zip(path[:-1], path[1:]))
                self.paths[i, j] = edges
                one_way[i, j] = dist[dst]
                self.route_km[i, j] = sum(km[e] for e in edges)
                self.hops[i, j] = len(edges)
                self.cost_per_gb[i, j] = sum(cost[e] for e in edges)
        self.latency_ms = 2 * one_way
        np.fill_diagonal(self.latency_ms, self.settings.intra_province_ms)
        self.edges = list(self.graph.edges)
        self._edge_index = {e: k for k, e in enumerate(self.edges)}
        self._edge_index.update({(b, a): k for (a, b), k in list(self._edge_index.items())})
        inc = np.zeros((n * n, len(self.edges)))
        for (i, j), edges in self.paths.items():
            for e in edges:
                inc[i * n + j, self._edge_index[e]] = 1.0
        self.route_incidence = inc

    def link_loads(self, data_gb: np.ndarray) -> pd.DataFrame:
        """Data carried by each link (GB) for an origin x destination matrix of data moved."""
        load = data_gb.reshape(-1) @ self.route_incidence
        cap_gb_per_year = np.array([self.graph.edges[e]["capacity_gbps"] for e in self.edges]) / 8 * 3600 * 8760
        return pd.DataFrame(
            {
                "a": [e[0] for e in self.edges],
                "b": [e[1] for e in self.edges],
                "data_gb": load,
                "utilisation": load / cap_gb_per_year,
            }
        )


def weight_matrix(provinces: pd.DataFrame, kind: str = "geo", values: np.ndarray | None = None) -> np.ndarray:
    """Row-normalised spatial weight matrix with zero diagonal (seed 000 eq. 14, table 4).

    ``geo``: inverse great-circle distance between capitals; ``econ``: inverse absolute
    GDP gap; ``pop``: inverse absolute population gap. ``values`` overrides the GDP or
    population vector (default: the mean of the 2008 and 2023 columns).
    """
    if kind == "geo":
        gap = distance_matrix(provinces)
    elif kind in ("econ", "pop"):
        if values is None:
            cols = ("gdp_2008_bn_cny", "gdp_2023_bn_cny") if kind == "econ" else ("pop_2008_mn", "pop_2023_mn")
            values = provinces[list(cols)].to_numpy(float).mean(axis=1)
        v = np.asarray(values, dtype=float)
        gap = np.abs(v[:, None] - v[None, :])
    else:
        raise ValueError(f"weight kind {kind!r}: allowed geo, econ, pop")
    with np.errstate(divide="ignore"):
        w = np.where(gap > 0, 1.0 / np.where(gap > 0, gap, 1.0), 0.0)
    np.fill_diagonal(w, 0.0)
    return w / w.sum(axis=1, keepdims=True)
