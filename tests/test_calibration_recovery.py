"""Parameter recovery on the model itself (CI size): pseudo-targets at a known theta*, a fit from a
different start, theta* recovered within two Monte Carlo SEs.

Small on purpose: two seed 002 parameters (the deployment effect on core-technology patents and
on the technical staff share), the two mechanism rows they move (eq. 2 step 1, which runs on any
window; the table functions insist on the study's full window), a 2016-2021 span with a quarter of the firms, R = 1 CRN
replication (both parameters are the firm study's own, so every evaluation after the first replays that study
on the cached core run: seconds) and pseudo-data on the fit's own CRN seed, so that the
objective is zero at theta* and the test is whether the search finds it. The full-size run is
``suanli calibrate --recover`` (see ``experiments/calibrate.py``).
"""

from __future__ import annotations

import numpy as np

from calibration import fit

FREE = ("firm_outcomes.lnCTI_effect", "firm_outcomes.TS_effect")
TRUTH = {FREE[0]: 1.2, FREE[1]: 0.26}
START = {FREE[0]: 2.2, FREE[1]: 0.10}
BOX = {FREE[0]: (0.5, 3.0), FREE[1]: (0.05, 0.4)}


def test_recovery_of_known_parameters():
    from sim.config import ModelConfig

    free = fit.free_parameters(FREE, bounds=BOX, start=START)
    obj = fit.Objective(("p3_mech_cti", "p3_mech_ts"), free, reps=1, end_year=2021,
                        base_config=ModelConfig(start_year=2016, firm_scale=0.25))
    res = fit.recover(obj, TRUTH, budget=3, refine=12, seed=0)
    t = res.table
    assert np.isfinite(t["se"]).all() and (t["se"] > 0).all()
    # identified: the SE is a small part of the box, so "within 2 SE" is a real constraint
    assert (t["se"] < 0.25 * np.array([b - a for a, b in BOX.values()])).all(), res.summary()
    assert t["recovered"].all(), res.summary()
    # the fit moved from the start towards the truth
    assert ((t["fitted"] - t["truth"]).abs() < (t["start"] - t["truth"]).abs()).all(), res.summary()
