"""Backbone latencies and the seed-000 weight matrices."""

import numpy as np
import pytest

from calibration import load_parameters
from sim.network import Backbone, NetworkSettings, great_circle_km, weight_matrix
from sim.world import World


@pytest.fixture(scope="module")
def world():
    return World.load()


@pytest.fixture(scope="module")
def backbone(world):
    return Backbone(world.provinces, NetworkSettings.from_params(load_parameters()))


def test_haversine_matches_published_distance():
    # Beijing (39.904 N, 116.407 E) to Shanghai (31.230 N, 121.474 E): 1,067 km great circle.
    assert great_circle_km(39.904, 116.407, 31.230, 121.474) == pytest.approx(1067, rel=0.01)


@pytest.mark.parametrize("a,b", [("HL", "GD"), ("XJ", "SH"), ("BJ", "SH")])
def test_known_pairs_within_10pct_of_straight_line(world, backbone, a, b):
    """Routed one-way latency vs a straight-line estimate: great circle x detour at fibre speed, one hop."""
    s = backbone.settings
    i, j = backbone.codes.index(a), backbone.codes.index(b)
    straight = backbone.km[i, j] * s.detour / s.speed_km_per_ms + s.hop_delay_ms
    one_way = backbone.latency_ms[i, j] / 2
    assert one_way == pytest.approx(straight, rel=0.10), (a, b, one_way, straight)


def test_every_latency_at_least_light_in_fibre(backbone):
    s = backbone.settings
    one_way = backbone.latency_ms / 2
    bound = backbone.km / s.speed_km_per_ms
    off = ~np.eye(len(backbone.codes), dtype=bool)
    assert (one_way[off] >= bound[off] - 1e-9).all()
    assert np.allclose(backbone.latency_ms, backbone.latency_ms.T)
    assert (one_way[off] <= 3 * bound[off] + 10).all()


def test_direct_links_cut_latency(world):
    s = NetworkSettings.from_params(load_parameters())
    plain = Backbone(world.provinces, s)
    linked = Backbone(world.provinces, s, [("SH", "GZ")])
    i, j = plain.codes.index("SH"), plain.codes.index("GZ")
    assert linked.latency_ms[i, j] < plain.latency_ms[i, j]


def test_link_loads_conserve_data(backbone):
    n = len(backbone.codes)
    data = np.random.default_rng(0).uniform(0, 1, (n, n))
    np.fill_diagonal(data, 0)
    loads = backbone.link_loads(data)
    assert loads["data_gb"].sum() == pytest.approx((data * backbone.hops).sum())


@pytest.mark.parametrize("kind", ["geo", "econ", "pop"])
def test_weight_matrix_row_normalised_zero_diagonal(world, kind):
    w = weight_matrix(world.provinces, kind)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.all(np.diag(w) == 0)
    assert (w[~np.eye(len(w), dtype=bool)] > 0).all()


def test_geo_weights_favour_neighbours(world):
    w = weight_matrix(world.provinces, "geo")
    codes = list(world.provinces.index)
    bj = codes.index("BJ")
    assert w[bj, codes.index("TJ")] > 10 * w[bj, codes.index("XJ")]


def test_econ_weights_are_inverse_gdp_gaps(world):
    gdp = np.array([1.0, 2.0, 4.0])
    prov = world.provinces.iloc[:3]
    w = weight_matrix(prov, "econ", values=gdp)
    raw = np.array([[0, 1, 1 / 3], [1, 0, 1 / 2], [1 / 3, 1 / 2, 0]])
    assert np.allclose(w, raw / raw.sum(axis=1, keepdims=True))
