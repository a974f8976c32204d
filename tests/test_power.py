"""Merit-order dispatch against an independent least-cost LP (HiGHS via scipy)."""

import numpy as np
import pytest
from scipy.optimize import linprog

from sim.power import dispatch


def lp_dispatch_cost(avail, load, mc):
    res = linprog(mc, A_eq=np.ones((1, len(mc))), b_eq=[load], bounds=list(zip(np.zeros(len(mc)), avail)), method="highs")
    return res.fun


def test_merit_order_is_least_cost_and_prices_the_marginal_unit():
    rng = np.random.default_rng(3)
    n_p, n_t = 6, 5
    mc = np.sort(rng.uniform(0, 600, n_t))
    cap = rng.uniform(1, 10, (n_p, n_t))
    avail = rng.uniform(0.2, 1.0, (n_t, 2, 3))
    total = (cap[:, :, None, None] * 1000 * avail[None]).sum(axis=1)
    load = total * rng.uniform(0.1, 0.95, total.shape)
    d = dispatch(cap, avail, load, mc, np.zeros(n_t), price_cap=5000.0)
    for p in range(n_p):
        for s in range(2):
            for h in range(3):
                a = cap[p] * 1000 * avail[:, s, h]
                ours = (d.generation_mw[p, :, s, h] * mc).sum()
                assert ours == pytest.approx(lp_dispatch_cost(a, load[p, s, h], mc), rel=1e-9, abs=1e-6)
                running = d.generation_mw[p, :, s, h] > 1e-9
                assert d.price_cny_per_mwh[p, s, h] == mc[np.flatnonzero(running).max()]
    assert np.allclose(d.generation_mw.sum(axis=1), load)
    assert np.allclose(d.shortage_mw, 0.0, atol=1e-6)


def test_shortage_priced_at_cap_and_balanced():
    cap = np.array([[1.0, 1.0]])
    avail = np.ones((2, 1, 2))
    load = np.array([[[1500.0, 2500.0]]])
    d = dispatch(cap, avail, load, np.array([10.0, 50.0]), np.array([0.0, 1.0]), price_cap=999.0)
    assert d.shortage_mw[0, 0, 1] == pytest.approx(500.0)
    assert d.price_cny_per_mwh[0, 0, 1] == 999.0
    assert d.price_cny_per_mwh[0, 0, 0] == 50.0
    assert np.allclose(d.generation_mw.sum(axis=1) + d.shortage_mw, load)
    assert d.carbon_t_per_mwh[0, 0, 0] == pytest.approx(500.0 / 1500.0)
