"""Checks of the built-in world data (sim/data) against published national figures and
internal consistency: codes, regions, coordinates, totals, hub/cluster counts, sources."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "sim" / "data"
TABLES = ["provinces", "generation", "hubs", "clusters", "cities", "technologies", "national_paths", "national_gdp",
          "utilisation_facts"]

NBS_REGIONS = {
    "east": {"BJ", "TJ", "HE", "SH", "JS", "ZJ", "FJ", "SD", "GD", "HI"},
    "central": {"SX", "AH", "JX", "HA", "HB", "HN"},
    "west": {"NM", "GX", "CQ", "SC", "GZ", "YN", "XZ", "SN", "GS", "QH", "NX", "XJ"},
    "northeast": {"LN", "JL", "HL"},
}
GBT2260 = {"BJ": 11, "TJ": 12, "HE": 13, "SX": 14, "NM": 15, "LN": 21, "JL": 22, "HL": 23,
           "SH": 31, "JS": 32, "ZJ": 33, "AH": 34, "FJ": 35, "JX": 36, "SD": 37, "HA": 41,
           "HB": 42, "HN": 43, "GD": 44, "GX": 45, "HI": 46, "CQ": 50, "SC": 51, "GZ": 52,
           "YN": 53, "XZ": 54, "SN": 61, "GS": 62, "QH": 63, "NX": 64, "XJ": 65}
# Published end-2023 national installed capacity (CEC), GW.
CAPACITY_2023_GW = {"coal": 1165, "gas": 126, "hydro": 422, "nuclear": 57, "wind": 441, "solar": 609}
# Provinces whose prefecture-level rows omit many residents (province-administered
# county-level units): Hainan's 15 counties and county-level cities are not prefecture rows.
POP_EXCEPTIONS = {"HI"}
# NBS gross regional product 2020 (bn CNY, provincial communiqués / Statistical Yearbook 2021).
GDP_2020_BN = {"BJ": 3610, "TJ": 1408, "HE": 3621, "SX": 1765, "NM": 1736, "LN": 2512, "JL": 1231,
               "HL": 1370, "SH": 3870, "JS": 10272, "ZJ": 6461, "AH": 3868, "FJ": 4390, "JX": 2569,
               "SD": 7313, "HA": 5500, "HB": 4344, "HN": 4178, "GD": 11076, "GX": 2216, "HI": 553,
               "CQ": 2500, "SC": 4860, "GZ": 1783, "YN": 2452, "XZ": 190, "SN": 2618, "GS": 902,
               "QH": 301, "NX": 392, "XJ": 1380}
SEED001_CITIES = {"张家口市", "上海市", "苏州市", "嘉兴市", "芜湖市", "韶关市", "成都市", "重庆市",
                  "庆阳市", "中卫市", "贵阳市", "呼和浩特市", "乌兰察布市"}


def _read(name):
    return pd.read_csv(DATA / f"{name}.csv", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def t():
    return {n: _read(n) for n in TABLES + ["sources"]}


def _km(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def test_files_are_utf8_with_snake_case_headers():
    for n in TABLES + ["sources"]:
        raw = (DATA / f"{n}.csv").read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), f"{n}.csv has a BOM"
        header = raw.decode("utf-8").splitlines()[0].split(",")
        bad = [c for c in header if not re.fullmatch(r"[a-z][a-z0-9_]*", c)]
        assert not bad, f"{n}.csv non-snake_case columns {bad}"


def test_provinces_codes_and_regions(t):
    p = t["provinces"]
    assert len(p) == 31 and p["code"].is_unique
    assert set(p["code"]) == set(GBT2260)
    got = {r: set(p.loc[p["region"] == r, "code"]) for r in NBS_REGIONS}
    assert got == NBS_REGIONS, f"regions differ from NBS lists: {got}"
    assert p.notna().all().all()


def test_coordinates_inside_china(t):
    for n, (la, lo) in {"provinces": ("capital_lat_deg", "capital_lon_deg"),
                        "cities": ("lat_deg", "lon_deg"), "clusters": ("lat_deg", "lon_deg")}.items():
        d = t[n]
        assert d[la].between(3.8, 53.6).all() and d[lo].between(73.5, 135.1).all(), n
        mainland = d[la] >= 18.0
        assert (~mainland).sum() <= (1 if n == "cities" else 0), f"{n}: only Sansha lies south of 18 N"


def test_capitals_match_city_rows_and_lie_within_province(t):
    p, c = t["provinces"], t["cities"]
    for r in p.itertuples():
        own = c[c["province"] == r.code]
        row = own[own["name_zh"] == r.capital_zh]
        assert len(row) == 1, f"{r.code}: capital {r.capital_zh} not among its city rows"
        d = _km(r.capital_lat_deg, r.capital_lon_deg, row["lat_deg"].iloc[0], row["lon_deg"].iloc[0])
        assert d < 30, f"{r.code}: capital {d:.0f} km from its city row"
        if len(own) > 2:
            lat_ok = own["lat_deg"].min() - 1 <= r.capital_lat_deg <= own["lat_deg"].max() + 1
            lon_ok = own["lon_deg"].min() - 1 <= r.capital_lon_deg <= own["lon_deg"].max() + 1
            assert lat_ok and lon_ok, f"{r.code}: capital outside the extent of its cities"


def test_national_totals_match_published(t):
    p = t["provinces"]
    gdp = p["gdp_2023_bn_cny"].sum()
    assert abs(gdp / 126058 - 1) < 0.05, f"GDP 2023 sum {gdp:.0f} bn vs NBS 126,058 bn"
    pop = p["pop_2023_mn"].sum()
    assert abs(pop / 1409.67 - 1) < 0.02, f"population 2023 sum {pop:.1f} mn vs NBS 1,409.67 mn"
    elec = p["elec_consumption_2023_twh"].sum()
    assert abs(elec / 9224 - 1) < 0.03, f"electricity 2023 sum {elec:.0f} TWh vs CEC 9,224 TWh"
    gdp08 = p["gdp_2008_bn_cny"].sum()
    assert abs(gdp08 / 31952 - 1) < 0.08, f"GDP 2008 sum {gdp08:.0f} bn vs NBS 31,952 bn (revised)"
    pop08 = p["pop_2008_mn"].sum()
    assert abs(pop08 / 1328.02 - 1) < 0.03, f"population 2008 sum {pop08:.0f} mn vs NBS 1,328 mn"
    emp = p["digital_employment_2020_k"].sum()
    assert 4000 < emp < 5600, f"ICT employment 2020 {emp} k vs NBS about 4.9 mn"
    growth = p["gdp_2023_bn_cny"] / p["gdp_2008_bn_cny"]
    assert growth.between(1.5, 8).all(), growth[~growth.between(1.5, 8)]
    pc = p["gdp_2023_bn_cny"] / p["pop_2023_mn"]
    assert pc.between(45, 220).all(), f"GDP per head 2023 (thousand CNY) implausible: {pc.round(0).to_dict()}"
    assert p["industrial_power_price_cny_per_kwh"].between(0.3, 1.0).all()


def test_generation_totals_and_structure(t):
    g = t["generation"]
    assert set(g["tech"]) == set(CAPACITY_2023_GW)
    assert not g.duplicated(["code", "tech"]).any() and len(g) == 31 * 6
    assert set(g["code"]) == set(t["provinces"]["code"])
    assert (g["capacity_gw"] >= 0).all()
    tot = g.groupby("tech")["capacity_gw"].sum()
    for tech, ref in CAPACITY_2023_GW.items():
        assert abs(tot[tech] / ref - 1) < 0.10, f"{tech}: {tot[tech]:.0f} GW vs CEC {ref} GW"
    nuc = set(g.loc[(g["tech"] == "nuclear") & (g["capacity_gw"] > 0), "code"])
    assert nuc == {"LN", "SD", "JS", "ZJ", "FJ", "GD", "GX", "HI"}, nuc
    cap = g.groupby("code")["capacity_gw"].sum()
    elec = t["provinces"].set_index("code")["elec_consumption_2023_twh"]
    ratio = cap * 8.76 * 0.35 / elec
    assert ratio.between(0.2, 6).all(), f"capacity vs consumption implausible: {ratio.round(2).to_dict()}"


def test_hubs_and_clusters(t):
    h, cl, c = t["hubs"], t["clusters"], t["cities"]
    assert len(h) == 8 and h["hub_id"].is_unique
    assert (h["role"] == "demand").sum() == 4 and (h["role"] == "resource").sum() == 4
    assert set(h.loc[h["role"] == "resource", "hub_id"]) == set(h.loc[h["region"] == "west", "hub_id"])
    assert (h["plan_year"] == 2021).all() and (h["designation_year"] == 2022).all()
    codes = set(t["provinces"]["code"])
    for r in h.itertuples():
        assert set(r.provinces.split(";")) <= codes, r.hub_id
    assert set(cl["hub_id"]) == set(h["hub_id"])
    assert cl.loc[cl["in_seed003"] == 1, "cluster_id"].nunique() == 10
    assert (cl["in_seed001"] == 1).sum() == 13
    assert set(cl.loc[cl["in_seed001"] == 1, "city_zh"]) == SEED001_CITIES
    hp = h.set_index("hub_id")["provinces"].str.split(";")
    cities = c.set_index("city_id")
    for r in cl.itertuples():
        assert r.province in hp[r.hub_id], f"{r.cluster_id} province {r.province} not in hub {r.hub_id}"
        city = cities.loc[r.city_id]
        assert city["name_zh"] == r.city_zh and city["province"] == r.province
        d = _km(r.lat_deg, r.lon_deg, city["lat_deg"], city["lon_deg"])
        assert d < 120, f"{r.cluster_id}/{r.city_zh}: start area {d:.0f} km from city seat"
    assert set(c.loc[c["is_cluster_city"] == 1, "city_id"]) == set(cl["city_id"])


def test_cities(t):
    c, p = t["cities"], t["provinces"].set_index("code")
    assert 330 <= len(c) <= 340
    assert c["city_id"].is_unique and not c.duplicated(["province", "name_zh"]).any()
    assert set(c["province"]) == set(p.index)
    assert (c["city_id"] // 100 == c["province"].map(GBT2260)).all(), "city_id prefix != GB/T 2260 province code"
    assert c["open_data_platform_2020"].isin([0, 1]).all()
    assert 100 <= c["open_data_platform_2020"].sum() <= 160
    share = c.groupby("province")["pop_2020_mn"].sum() / p["pop_2023_mn"] - 1
    bad = share[(share.abs() > 0.10) & ~share.index.isin(POP_EXCEPTIONS)]
    assert bad.empty, f"city population sums off by >10 %: {bad.round(3).to_dict()}"
    assert c["pop_2020_mn"].sum() == pytest.approx(1411.78, rel=0.02), "7th census total 1,411.78 mn"
    assert c["gdp_2020_bn_cny"].sum() == pytest.approx(101599, rel=0.05), "NBS GDP 2020 101,599 bn"
    gshare = c.groupby("province")["gdp_2020_bn_cny"].sum() / pd.Series(GDP_2020_BN) - 1
    gbad = gshare[(gshare.abs() > 0.08) & ~gshare.index.isin(POP_EXCEPTIONS)]
    assert gbad.empty, f"city GDP sums vs provincial GDP 2020 off by >8 %: {gbad.round(3).to_dict()}"
    big = c[c["pop_2020_mn"] > 0.1]
    pc = big["gdp_2020_bn_cny"] / big["pop_2020_mn"]
    assert pc.between(10, 250).all(), big.loc[~pc.between(10, 250), "name_zh"].tolist()


def test_sources_document_every_column(t):
    s = t["sources"]
    assert list(s.columns) == ["table", "column", "unit", "year", "source", "note"]
    documented = set(zip(s["table"], s["column"]))
    actual = {(n, col) for n in TABLES for col in t[n].columns}
    assert actual - documented == set(), f"undocumented columns: {sorted(actual - documented)}"
    stale = {(a, b) for a, b in documented if a in TABLES} - actual
    assert stale == set(), f"documented but absent: {sorted(stale)}"
    assert not s.duplicated(["table", "column"]).any()
    assert s[["unit", "year", "source", "note"]].notna().all().all()
    assert s["year"].astype(str).str.fullmatch(r"-|(19|20)\d\d").all()
    approx = s["note"].str.contains("approximate") | s["source"].str.contains("Derived")
    for col in ["capital_stock_2008_bn_cny", "industrial_power_price_cny_per_kwh", "digital_employment_2020_k"]:
        assert approx[(s["table"] == "provinces") & (s["column"] == col)].all(), col
