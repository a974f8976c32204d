"""`suanli replicate`: the studies' tables on a run directory, cut to the studies' windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from linearmodels.panel import PanelOLS

from experiments.cli import main
from experiments.replication import load_study_samples, replicate_run
from sim.config import ModelConfig
from sim.model import SuanLiModel
from sim.outputs import write_run
from sim.studies.firms import CONTROLS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "seed4"
    write_run(SuanLiModel(ModelConfig(end_year=2023), seed=4).run(), out)
    return out


def test_samples_have_the_studies_windows(run_dir):
    s = load_study_samples(run_dir)
    prov, city, firm = s["provinces"], s["cities"], s["firms"]
    assert (prov["year"].min(), prov["year"].max(), len(prov)) == (2008, 2022, 450)
    assert prov["DF_qual"].notna().sum() == 450  # seed 000 Table 1: DF_qual on all 450 province-years
    assert (city["year"].min(), city["year"].max(), len(city)) == (2017, 2022, 336 * 6)
    assert (firm["year"].min(), firm["year"].max()) == (2017, 2023)
    raw = pd.read_parquet(run_dir / "study_firms.parquet")
    raw = raw[raw["year"].between(2017, 2023)]
    assert len(firm) == len(raw)
    lo, hi = raw["EXPY"].quantile([0.01, 0.99])
    assert firm["EXPY"].min() == pytest.approx(lo) and firm["EXPY"].max() == pytest.approx(hi)


def test_replicated_fe_matches_linearmodels_on_the_sample(run_dir):
    """Table 3 column (2) on the run equals PanelOLS with firm and year effects on the sample."""
    reps = replicate_run(run_dir, ["p3_table3", "p2_fe"])
    assert set(reps) == {"p3_table3", "p2_fe"}
    firm = load_study_samples(run_dir)["firms"].set_index(["firm_id", "year"])
    ref = PanelOLS(firm["EXPY"], firm[["IDC", *CONTROLS]], entity_effects=True, time_effects=True).fit()
    ours = reps["p3_table3"].results["(2)"]
    np.testing.assert_allclose(ours.params[["IDC", *CONTROLS]], ref.params[["IDC", *CONTROLS]], rtol=1e-8, atol=1e-10)
    assert ours.nobs == len(firm)
    row = reps.compare().set_index("target").loc["p3_idc_fe"]
    assert row["estimate"] == pytest.approx(float(ref.params["IDC"]), rel=1e-8)
    assert row["published"] == 0.3061


def test_cli_replicate_errors_name_the_problem(run_dir, tmp_path, capsys):
    assert main(["replicate", str(tmp_path / "missing")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["replicate", str(run_dir), "--tables", "p9_table1"]) == 2
    err = capsys.readouterr().err
    assert "p9_table1" in err and "p3_table3" in err


def test_cli_replicate_writes_the_comparison(run_dir, tmp_path, capsys):
    assert main(["replicate", str(run_dir), "--tables", "p2_fe,p2_pivot", "--compare-only",
                 "--out", str(tmp_path / "cmp")]) == 0
    cmp = pd.read_csv(tmp_path / "cmp.csv")
    assert set(cmp["target"]) == {"p2_fe_computing", "p2_pivot_2021"}
    assert "p2_fe_computing" in capsys.readouterr().out
