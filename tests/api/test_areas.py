"""Growing-area records through the API, on SQLite and PostgreSQL; refusals leave the database unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import mapping, shape

from api.orm import Role
from tests.conftest import make_account, row_counts, token_for
from tests.data.make_areas import feature_collection, write_fixtures, write_shapefile_zip

SOC_TRANG = {"province": "Sóc Trăng"}


@pytest.fixture
def fixtures(tmp_path: Path) -> dict[str, Path]:
    return write_fixtures(tmp_path / "fx")


def area_payload(code: str = "VN-STOR-0001", i: int = 0, **kw: object) -> dict:
    f = feature_collection(i + 1)["features"][i]
    return {"code": code, "name": "Ruộng", "crop": "rice", "variety": "ST25", "boundary": f["geometry"],
            "province": "Sóc Trăng", "commune": "Hòa Tú 1", **kw}


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_the_api_docs_page_needs_no_internet(client: TestClient) -> None:
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    # every script and style sheet of the page is served here (FastAPI's default page loads them from a CDN)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/") or u.startswith("data:") for u in urls), urls
    for u in urls:
        if u.startswith("/"):
            assert client.get(u).status_code == 200, u
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/favicon.ico").status_code == 204  # browsers ask on every page: no 404 in their consoles


def test_every_area_route_needs_a_token(client: TestClient) -> None:
    for method, url in [("get", "/v1/areas"), ("post", "/v1/areas"), ("get", "/v1/areas/VN-STOR-0001"),
                        ("get", "/v1/areas/lookup?lat=9.56&lon=105.97"), ("get", "/v1/areas/export")]:
        r = getattr(client, method)(url)
        assert r.status_code == 401, (method, url, r.status_code)
    r = client.get("/v1/areas", headers={"Authorization": "Bearer forged.token.value"})
    assert r.status_code == 401 and "not valid" in r.json()["detail"]


def test_wrong_password_is_refused(client: TestClient, admin: dict) -> None:
    r = client.post("/v1/auth/token", data={"username": "admin", "password": "nope-nope"})
    assert r.status_code == 401


def test_create_read_area_with_utm_area(client: TestClient, admin: dict, engine) -> None:
    r = client.post("/v1/areas", json=area_payload(), headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["code"] == "VN-STOR-0001"
    assert body["utm_epsg"] == 32648
    # the fixture field is ~120 m x 60 m built in UTM 48N: 0.72 ha (corner jitter of a few metres)
    assert body["area_ha"] == pytest.approx(0.72, abs=0.02)
    assert body["warnings"] == []
    assert client.get("/v1/areas/vn-stor-0001", headers=admin).json()["name"] == "Ruộng"


def test_small_area_warns_but_is_recorded(client: TestClient, admin: dict) -> None:
    tiny = {"type": "Polygon", "coordinates": [[[105.97, 9.56], [105.9702, 9.56], [105.9702, 9.5602],
                                               [105.97, 9.5602], [105.97, 9.56]]]}
    r = client.post("/v1/areas", json=area_payload(boundary=tiny), headers=admin)
    assert r.status_code == 201
    assert "legal minimum" in r.json()["warnings"][0]
    r = client.post("/v1/areas", json=area_payload("VN-STOR-0002", i=1, crop="fruit"), headers=admin)
    assert "1.0 ha legal minimum" in r.json()["warnings"][0]


def test_boundary_outside_vietnam_warns_but_is_recorded(client: TestClient, admin: dict) -> None:
    """A field moved by a coordinate slip (here 9.56 N 15.97 E, a digit of the longitude lost: southern Chad) is stored,
    with a warning that says where it lies; a change of its boundary back into Vietnam clears the warning."""
    f = area_payload()["boundary"]
    slipped = {"type": "Polygon", "coordinates": [[[x - 90.0, y] for x, y in f["coordinates"][0]]]}
    r = client.post("/v1/areas", json=area_payload(boundary=slipped), headers=admin)
    assert r.status_code == 201, r.text
    (w,) = r.json()["warnings"]
    assert "outside Vietnam" in w and "9.5" in w and "15.9" in w
    r = client.patch("/v1/areas/VN-STOR-0001", json={"boundary": f}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == []

@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"code": "STOR-1"}, 422, "does not match"),
        ({"boundary": {"type": "Point", "coordinates": [105.97, 9.56]}}, 422, "Polygon or MultiPolygon"),
        ({"boundary": {"type": "Polygon", "coordinates": [[[105.97, 9.56], [105.98, 9.56], [105.98, 9.57]]]}},
         422, "at least 4"),
        ({"boundary": {"type": "Polygon", "coordinates": [[[105.97, 9.56], [105.98, 9.56], [105.98, 9.57],
                                                           [105.97, 9.57], [105.971, 9.561]]]}}, 422, "not closed"),
        ({"boundary": {"type": "Polygon", "coordinates": [[[105.97, 9.56], [105.98, 9.57], [105.98, 9.56],
                                                           [105.97, 9.57], [105.97, 9.56]]]}}, 422, "Self-intersection"),
        ({"boundary": {"type": "Polygon", "coordinates": [[[580000, 1057000], [580100, 1057000], [580100, 1057100],
                                                           [580000, 1057000]]]}}, 422, "projected CRS"),
        ({"boundary": {"type": "Polygon", "coordinates": [[[179.999, -16.8], [-179.999, -16.8], [-179.999, -16.798],
                                                           [179.999, -16.798], [179.999, -16.8]]]}}, 422, "antimeridian"),
        ({"owner_username": "nobody"}, 422, "no account named"),
        ({"bogus": 1}, 422, "bogus"),
    ],
)
def test_bad_area_is_refused_and_nothing_written(client, admin, engine, change, status, words) -> None:
    before = row_counts(engine)
    r = client.post("/v1/areas", json=area_payload(**change), headers=admin)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert row_counts(engine) == before


def test_duplicate_code_conflicts(client: TestClient, admin: dict, engine) -> None:
    assert client.post("/v1/areas", json=area_payload(), headers=admin).status_code == 201
    before = row_counts(engine)
    r = client.post("/v1/areas", json=area_payload(i=1), headers=admin)
    assert r.status_code == 409 and "already registered" in r.json()["detail"]
    assert row_counts(engine) == before


def test_lookup_by_point(client: TestClient, admin: dict) -> None:
    client.post("/v1/areas", json=area_payload(), headers=admin)
    client.post("/v1/areas", json=area_payload("VN-STOR-0002", i=1), headers=admin)
    inside = shape(area_payload(i=1)["boundary"]).representative_point()
    r = client.get(f"/v1/areas/lookup?lat={inside.y}&lon={inside.x}", headers=admin)
    assert r.status_code == 200 and r.json()["code"] == "VN-STOR-0002"
    r = client.get("/v1/areas/lookup?lat=10.5&lon=106.5", headers=admin)
    assert r.status_code == 404


def test_list_filters_and_pagination(client: TestClient, admin: dict) -> None:
    for i in range(3):
        client.post("/v1/areas", json=area_payload(f"VN-STOR-000{i + 1}", i=i,
                                                   crop="rice" if i < 2 else "sugarcane"), headers=admin)
    page = client.get("/v1/areas?limit=2", headers=admin).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert client.get("/v1/areas?limit=2&offset=2", headers=admin).json()["items"][0]["code"] == "VN-STOR-0003"
    assert client.get("/v1/areas?crop=sugarcane", headers=admin).json()["total"] == 1
    # a known crop in any of its names is stored under one ("lúa" made a second row in the weekly report)
    for i, typed in enumerate(("lúa", "Lúa ", "RICE", "Hành tím")):
        r = client.post("/v1/areas", json=area_payload(f"VN-STOR-001{i}", i=4 + i, crop=typed), headers=admin)
        assert r.status_code == 201 and r.json()["crop"] == ("shallot" if i == 3 else "rice"), r.text
    assert client.get("/v1/areas?crop=Lúa", headers=admin).json()["total"] == 5
    assert client.patch("/v1/areas/VN-STOR-0010", json={"crop": "khoai mỡ"}, headers=admin).json()["crop"] == "khoai mỡ"
    # a sowing date years ahead is a slip (2030 for 2026): refused, on create and on change
    from datetime import date, timedelta

    slip = (date.today() + timedelta(days=400)).isoformat()
    r = client.patch("/v1/areas/VN-STOR-0010", json={"sowing_date": slip}, headers=admin)
    assert r.status_code == 422 and "more than a year ahead" in r.json()["detail"]
    r = client.post("/v1/areas", json=area_payload("VN-STOR-0020", i=9, sowing_date=slip), headers=admin)
    assert r.status_code == 422 and client.get("/v1/areas/VN-STOR-0020", headers=admin).status_code == 404
    b = shape(area_payload(i=0)["boundary"]).bounds
    assert client.get(f"/v1/areas?bbox={b[0]},{b[1]},{b[2]},{b[3]}", headers=admin).json()["total"] == 1
    assert client.get("/v1/areas?bbox=1,2,3", headers=admin).status_code == 422


def test_update_and_deactivate(client: TestClient, admin: dict) -> None:
    client.post("/v1/areas", json=area_payload(), headers=admin)
    r = client.patch("/v1/areas/VN-STOR-0001", json={"variety": "OM5451", "boundary": area_payload(i=1)["boundary"]},
                     headers=admin)
    assert r.status_code == 200 and r.json()["variety"] == "OM5451"
    assert client.delete("/v1/areas/VN-STOR-0001", headers=admin).json()["status"] == "suspended"
    assert client.get("/v1/areas?status=suspended", headers=admin).json()["total"] == 1


def test_roles_see_only_their_areas(client: TestClient, admin: dict, db) -> None:
    make_account(db, "farmer_a", Role.farmer)
    make_account(db, "farmer_b", Role.farmer)
    make_account(db, "agro_st", Role.agronomist, province="Sóc Trăng")
    make_account(db, "agro_ct", Role.agronomist, province="Cần Thơ")
    make_account(db, "pilot", Role.drone_operator, cooperative="HTX Hòa Tú")
    client.post("/v1/areas", json=area_payload(owner_username="farmer_a", cooperative="HTX Hòa Tú"), headers=admin)
    client.post("/v1/areas", json=area_payload("VN-STOR-0002", i=1, owner_username="farmer_b"), headers=admin)
    fa, fb = token_for(client, "farmer_a"), token_for(client, "farmer_b")
    st, ct, pilot = token_for(client, "agro_st"), token_for(client, "agro_ct"), token_for(client, "pilot")

    assert [a["code"] for a in client.get("/v1/areas", headers=fa).json()["items"]] == ["VN-STOR-0001"]
    assert client.get("/v1/areas/VN-STOR-0002", headers=fa).status_code == 404
    assert client.patch("/v1/areas/VN-STOR-0002", json={"name": "x"}, headers=fa).status_code == 404
    assert client.patch("/v1/areas/VN-STOR-0001", json={"status": "revoked"}, headers=fa).status_code == 403
    assert client.patch("/v1/areas/VN-STOR-0001", json={"name": "Ruộng nhà"}, headers=fa).status_code == 200
    assert client.delete("/v1/areas/VN-STOR-0001", headers=fa).status_code == 403
    assert client.post("/v1/areas", json=area_payload("VN-STOR-0009", i=2, owner_username="farmer_b"),
                       headers=fa).status_code == 403
    assert client.get("/v1/areas", headers=fb).json()["total"] == 1
    assert client.get("/v1/areas", headers=st).json()["total"] == 2
    assert client.get("/v1/areas", headers=ct).json()["total"] == 0
    assert client.get("/v1/areas/VN-STOR-0001", headers=ct).status_code == 404
    assert [a["code"] for a in client.get("/v1/areas", headers=pilot).json()["items"]] == ["VN-STOR-0001"]
    assert client.patch("/v1/areas/VN-STOR-0001", json={"name": "y"}, headers=pilot).status_code == 403
    assert client.post("/v1/accounts", json={"username": "x_user", "password": "long enough 1", "role": "farmer"},
                       headers=st).status_code == 403
    assert client.post("/v1/areas", json=area_payload("VN-STOR-0010", i=2, province="Cần Thơ"),
                       headers=st).status_code == 403


def test_admin_creates_account(client: TestClient, admin: dict) -> None:
    r = client.post("/v1/accounts", json={"username": "nong_dan", "password": "mat khau 123", "role": "farmer"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["role"] == "farmer"
    assert "password" not in r.text and "hash" not in r.text
    assert client.post("/v1/accounts", json={"username": "nong_dan", "password": "mat khau 123", "role": "farmer"},
                       headers=admin).status_code == 409
    r = client.post("/v1/accounts", json={"username": "agro", "password": "mat khau 123", "role": "agronomist"},
                    headers=admin)
    assert r.status_code == 422 and "province or cooperative" in r.json()["detail"]
    me = client.get("/v1/accounts/me", headers=token_for(client, "nong_dan", "mat khau 123")).json()
    assert me["username"] == "nong_dan"


def test_import_geojson_then_export_same_geometry(client, admin, fixtures) -> None:
    with fixtures["geojson"].open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("areas.geojson", fh, "application/geo+json")},
                        headers=admin)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == ["VN-STOR-0001", "VN-STOR-0002", "VN-STOR-0003"] and report["rejected"] == []
    exported = client.get("/v1/areas/export", headers=admin).json()
    original = json.loads(fixtures["geojson"].read_text())
    for a, b in zip(original["features"], exported["features"], strict=True):
        assert b["properties"]["code"] == a["properties"]["code"]
        assert shape(a["geometry"]).equals_exact(shape(b["geometry"]), 1e-12)
    csv_text = client.get("/v1/areas/export?format=csv", headers=admin).text
    assert csv_text.splitlines()[0].startswith("code,name,crop") and "POLYGON" in csv_text


def test_import_zipped_shapefile_in_utm_is_reprojected(client, admin, fixtures) -> None:
    with fixtures["shp_zip"].open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("areas.zip", fh, "application/zip")}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == ["VN-STOR-0100", "VN-STOR-0101"]
    assert "32648" in r.json()["source_crs"]
    a = client.get("/v1/areas/VN-STOR-0100", headers=admin).json()
    lon, lat = shape(a["boundary"]).centroid.coords[0]
    assert 105.96 < lon < 105.98 and 9.55 < lat < 9.57
    assert a["area_ha"] == pytest.approx(0.72, abs=0.02)


def test_a_shapefiles_ten_character_field_names_are_read(client, admin, tmp_path) -> None:
    """QGIS and ogr2ogr write sowing_date and cooperative as sowing_dat and cooperativ (a Shapefile's names hold 10
    characters), in Windows-1258 here: the import kept neither, without a word."""
    fc = feature_collection(1)
    fc["features"][0]["properties"] = {"code": "VN-STOR-0200", "name": "Ruộng Bà Tư", "crop": "lúa",
                                       "cooperative": "HTX Hòa Tú", "sowing_date": "2026-11-15",
                                       "province": "Sóc Trăng"}
    z = write_shapefile_zip(tmp_path / "a.zip", fc, encoding="CP1258")
    with z.open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("a.zip", fh, "application/zip")}, headers=admin)
    assert r.status_code == 200 and r.json()["created"] == ["VN-STOR-0200"], r.text
    a = client.get("/v1/areas/VN-STOR-0200", headers=admin).json()
    assert (a["name"], a["crop"], a["cooperative"], a["sowing_date"]) == ("Ruộng Bà Tư", "rice", "HTX Hòa Tú",
                                                                           "2026-11-15")


@pytest.mark.parametrize("fmt", ["gpkg", "kml", "geojson"])
def test_the_areas_export_imports_again_as_unchanged(client, admin, fixtures, tmp_path, fmt: str) -> None:
    """Each export format imports again as it was (the README): the GeoPackage's one-part MultiPolygons and KML's 7
    decimals made the areas "already registered" (26 and 15 of 28 in a sweep)."""
    with fixtures["geojson"].open("rb") as fh:
        assert client.post("/v1/areas/import", files={"file": ("a.geojson", fh, "application/geo+json")},
                           headers=admin).status_code == 200
    r = client.get(f"/v1/areas/export?format={fmt}", headers=admin)
    assert r.status_code == 200
    path = tmp_path / f"areas.{fmt}"
    path.write_bytes(r.content)
    with path.open("rb") as fh:
        rep = client.post("/v1/areas/import", files={"file": (path.name, fh, "application/octet-stream")},
                          headers=admin).json()
    assert (rep["unchanged"], rep["created"], rep["rejected"]) == (["VN-STOR-0001", "VN-STOR-0002", "VN-STOR-0003"],
                                                                    [], []), rep


def test_the_geojson_export_orients_rings_as_rfc_7946_asks(client, admin) -> None:
    """An outline drawn clockwise in another tool is exported counter-clockwise (it was exported as given); a tiny
    area's warning gives square metres, not "0.000 ha"."""
    from shapely.geometry import Polygon
    from shapely.geometry.polygon import orient

    ring = shape(area_payload()["boundary"])
    cw = orient(ring, -1.0)
    r = client.post("/v1/areas", json=area_payload(boundary=mapping(cw)), headers=admin)
    assert r.status_code == 201, r.text
    (feature,) = client.get("/v1/areas/export", headers=admin).json()["features"]
    assert Polygon(feature["geometry"]["coordinates"][0]).exterior.is_ccw
    c = ring.centroid
    x, y = c.x + 0.01, c.y  # away from the first area
    tiny = Polygon([(x, y), (x + 2e-5, y), (x + 2e-5, y + 2e-5), (x, y + 2e-5)])  # about 5 m²
    r = client.post("/v1/areas", json=area_payload("VN-STOR-0009", boundary=mapping(tiny)), headers=admin)
    assert r.status_code == 201 and " m² is under" in " ".join(r.json()["warnings"]), r.text


def test_a_google_earth_placemark_with_a_label_point_imports_its_polygon(client, admin, tmp_path) -> None:
    """Google Earth keeps a label point beside the polygon in one MultiGeometry: the import refused it ("got
    'GeometryCollection'"); the polygon is the boundary."""
    ring = "105.92552352,9.62264566,0 105.92552598,9.62355002,0 105.92461468,9.62355246,0 105.92461223,9.62264810,0 " \
           "105.92552352,9.62264566,0"
    kml = tmp_path / "ge.kml"
    kml.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>'
        "<name>Ruộng có nhãn</name><ExtendedData><Data name=\"code\"><value>VN-STOR-0300</value></Data>"
        "<Data name=\"crop\"><value>lúa</value></Data></ExtendedData><MultiGeometry><Point><coordinates>"
        "105.925069,9.623099,0</coordinates></Point><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        f"{ring}</coordinates></LinearRing></outerBoundaryIs></Polygon></MultiGeometry></Placemark></Document></kml>",
        encoding="utf-8")
    with kml.open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("ge.kml", fh, "application/vnd.google-earth.kml+xml")},
                        headers=admin)
    assert r.status_code == 200 and r.json()["created"] == ["VN-STOR-0300"], r.text
    a = client.get("/v1/areas/VN-STOR-0300", headers=admin).json()
    assert shape(a["boundary"]).geom_type == "Polygon" and a["area_ha"] == pytest.approx(1.0, abs=0.05)


def test_import_reports_each_rejected_feature(client, admin, tmp_path) -> None:
    fc = feature_collection(3)
    fc["features"][1]["properties"]["code"] = "bad code"
    del fc["features"][2]["properties"]["crop"]
    p = tmp_path / "mixed.geojson"
    p.write_text(json.dumps(fc))
    with p.open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("mixed.geojson", fh)}, headers=admin)
    rep = r.json()
    assert rep["created"] == ["VN-STOR-0001"]
    assert [(x["feature"], x["code"]) for x in rep["rejected"]] == [(1, "BAD CODE"), (2, "VN-STOR-0003")]
    assert "does not match" in rep["rejected"][0]["reason"] and "crop" in rep["rejected"][1]["reason"]
    # a date written the local way: one plain sentence saying how to write it (it was pydantic's dump with a URL)
    fc = feature_collection(1)
    fc["features"][0]["properties"]["sowing_date"] = "31/12/2026"
    p.write_text(json.dumps(fc))
    with p.open("rb") as fh:
        reason = client.post("/v1/areas/import", files={"file": ("d.geojson", fh)}, headers=admin).json()["rejected"][0]
    assert reason["reason"] == "sowing_date: write a date as YYYY-MM-DD, e.g. 2026-12-31 (given: '31/12/2026')", reason
    # the corrected file imported again: the area already in is unchanged, not refused as "already registered"
    p.write_text(json.dumps(feature_collection(3)))
    with p.open("rb") as fh:
        rep = client.post("/v1/areas/import", files={"file": ("fixed.geojson", fh)}, headers=admin).json()
    assert (rep["unchanged"], rep["created"], rep["rejected"]) == (["VN-STOR-0001"], ["VN-STOR-0002", "VN-STOR-0003"], [])
    moved = feature_collection(1, seed=5)  # the same code with another boundary: still refused
    assert moved["features"][0]["geometry"] != feature_collection(1)["features"][0]["geometry"]
    p.write_text(json.dumps(moved))
    with p.open("rb") as fh:
        rep = client.post("/v1/areas/import", files={"file": ("m.geojson", fh)}, headers=admin).json()
    assert rep["unchanged"] == [] and "already registered" in rep["rejected"][0]["reason"]
    renamed = feature_collection(1)  # the same ground, a corrected name: not dropped as "unchanged"
    renamed["features"][0]["properties"]["name"] = "Ruộng đã sửa tên"
    p.write_text(json.dumps(renamed))
    with p.open("rb") as fh:
        rep = client.post("/v1/areas/import", files={"file": ("n.geojson", fh)}, headers=admin).json()
    assert rep["unchanged"] == [] and "already registered" in rep["rejected"][0]["reason"]


def test_import_all_or_nothing_writes_nothing(client, admin, tmp_path, engine) -> None:
    fc = feature_collection(2)
    fc["features"][1]["properties"]["code"] = "bad"
    p = tmp_path / "mixed.geojson"
    p.write_text(json.dumps(fc))
    before = row_counts(engine)
    with p.open("rb") as fh:
        r = client.post("/v1/areas/import?all_or_nothing=true", files={"file": ("m.geojson", fh)}, headers=admin)
    assert r.json()["created"] == [] and len(r.json()["rejected"]) == 1
    assert row_counts(engine) == before


@pytest.mark.parametrize(
    ("name", "content", "status", "words"),
    [
        ("empty.geojson", b"", 400, "empty"),
        ("junk.geojson", b"\x00\x01 not json at all", 422, "its content is none of these formats"),  # not GDAL's
        # "prefixing the file path with '<DRIVER>:'"
        ("areas.txt", b"hello", 415, "unsupported file type"),
        ("bad.zip", b"PK\x03\x04 truncated", 422, "not a readable zip"),
    ],
)
def test_bad_uploads_are_refused(client, admin, engine, name, content, status, words) -> None:
    before = row_counts(engine)
    r = client.post("/v1/areas/import", files={"file": (name, content)}, headers=admin)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert row_counts(engine) == before


@pytest.mark.parametrize(("key", "words"), [("zipslip", "outside the archive"), ("shp_noprj", "no .prj")])
def test_dangerous_or_unlocated_zips_are_refused(client, admin, engine, fixtures, key, words) -> None:
    before = row_counts(engine)
    with fixtures[key].open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("areas.zip", fh)}, headers=admin)
    assert r.status_code == 422 and words in r.json()["detail"]
    assert row_counts(engine) == before


def test_oversized_upload_is_refused(client, admin, engine, monkeypatch) -> None:
    from api.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", 1000)
    r = client.post("/v1/areas/import", files={"file": ("big.geojson", b" " * 5000)}, headers=admin)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_import_kml(client, admin, tmp_path) -> None:
    import numpy as np
    import pyogrio.raw
    import shapely

    fc = feature_collection(2)
    geoms = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
    names = ["code", "name", "crop"]
    data = [np.array([f["properties"][n] for f in fc["features"]], dtype=object) for n in names]
    p = tmp_path / "areas.kml"
    pyogrio.raw.write(p, np.array(shapely.to_wkb(geoms), dtype=object), data, names, crs="EPSG:4326", driver="KML",
                      geometry_type="Polygon")
    with p.open("rb") as fh:
        r = client.post("/v1/areas/import", files={"file": ("areas.kml", fh)}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == ["VN-STOR-0001", "VN-STOR-0002"]
    got = shape(client.get("/v1/areas/VN-STOR-0001", headers=admin).json()["boundary"])
    assert got.equals_exact(geoms[0], 1e-6)


def test_vietnamese_text_is_compared_in_one_form(client: TestClient, admin: dict, db) -> None:
    """A province typed decomposed (NFD: macOS, some keyboards) or with a trailing space is the agronomist's province
    (it was refused on import and hidden from them); a name of spaces only is no name."""
    import unicodedata

    make_account(db, "ks_soctrang", Role.agronomist, province="Sóc Trăng")
    ks = token_for(client, "ks_soctrang")
    make_account(db, "farmer_c", Role.farmer)
    nfd = unicodedata.normalize("NFD", "Sóc Trăng") + " "
    r = client.post("/v1/areas", json=area_payload(province=nfd, owner_username="farmer_c"), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["province"] == "Sóc Trăng"
    assert client.get("/v1/areas/VN-STOR-0001", headers=ks).status_code == 200
    blank = client.post("/v1/areas", json=area_payload("VN-STOR-0002", i=1, name="   ", owner_username="farmer_c"),
                        headers=admin)
    assert blank.status_code == 422 and "name" in blank.text
    assert client.patch("/v1/areas/VN-STOR-0001", json={"crop": "  "}, headers=admin).status_code == 422


def test_a_boundary_the_size_of_a_province_is_refused(client: TestClient, admin: dict) -> None:
    """0.9 x 0.9 degrees (982,880 ha) was accepted, and then every other owner's import inside it was an overlap."""
    square = {"type": "Polygon", "coordinates": [[[105.47, 9.16], [106.37, 9.16], [106.37, 10.06], [105.47, 10.06],
                                                  [105.47, 9.16]]]}
    r = client.post("/v1/areas", json=area_payload(boundary=square), headers=admin)
    assert r.status_code == 422 and "ha" in r.json()["detail"] and r.json().get("reason") == "boundary_too_large"


@pytest.mark.parametrize("fmt", ["kml", "geojson", "csv"])
def test_an_export_imports_again_as_it_was(client: TestClient, admin: dict, db, fmt: str) -> None:
    """KML: the placemark's <name> is the code, and GDAL reads the attribute `name` beside it as `name2` (every name
    became the code); GeoJSON and KML: season and sowing date come back; an agronomist who owns areas may import their
    own export ("ks1 is a agronomist; areas are owned by farmers")."""
    make_account(db, "ks_owner", Role.agronomist, province="Sóc Trăng")
    ks = token_for(client, "ks_owner")
    r = client.post("/v1/areas", headers=ks, json=area_payload(name="Ruộng Bà Tư", season="Đông Xuân 2026-2027",
                                                               sowing_date="2026-11-20"))
    assert r.status_code == 201, r.text
    text = client.get(f"/v1/areas/export?format={fmt}", headers=ks).text.replace("VN-STOR-0001", "VN-STOR-0101")
    # the same field under a new code: refused while the first code holds it (the same owner's twin), taken once
    # the first code is revoked
    r = client.post("/v1/areas/import", files={"file": (f"areas.{fmt}", text.encode())}, headers=ks)
    assert r.json()["created"] == [] and "the same owner's area VN-STOR-0001" in r.json()["rejected"][0]["reason"]
    assert client.patch("/v1/areas/VN-STOR-0001", json={"status": "revoked"}, headers=ks).status_code == 200
    r = client.post("/v1/areas/import", files={"file": (f"areas.{fmt}", text.encode())}, headers=ks)
    assert r.status_code == 200 and r.json()["created"] == ["VN-STOR-0101"], r.text
    again = client.get("/v1/areas/VN-STOR-0101", headers=ks).json()
    assert (again["name"], again["season"], again["sowing_date"]) == ("Ruộng Bà Tư", "Đông Xuân 2026-2027", "2026-11-20")
    assert again["owner_username"] == "ks_owner"


def test_an_import_error_names_the_users_file_only(client: TestClient, admin: dict) -> None:
    """"empty.geojson: upload.geojson holds no features" named the server's temporary copy."""
    body = b'{"type": "FeatureCollection", "features": []}'
    r = client.post("/v1/areas/import", files={"file": ("empty.geojson", body)}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"] == "empty.geojson: it holds no features"


def test_moving_a_boundary_with_records_off_its_ground_is_warned(client: TestClient, farm: dict) -> None:
    """The photos stay with the code: a boundary that no longer overlaps its old ground says so (it was silent)."""
    from shapely.affinity import translate
    from shapely.geometry import mapping

    from tests.api.test_photos import upload
    from tests.data.make_photos import real_photo

    area = client.get("/v1/areas/VN-STOR-0001", headers=farm["a"]).json()
    far = mapping(translate(shape(area["boundary"]), xoff=0.05))  # about 5.5 km east
    r = client.patch("/v1/areas/VN-STOR-0001", json={"boundary": far}, headers=farm["a"])
    assert r.status_code == 200 and not r.json()["warnings"]  # no records yet: nothing to say
    assert upload(client, farm["a"], real_photo("blast", 0).read_bytes(), area_code="VN-STOR-0001").status_code == 201
    r = client.patch("/v1/areas/VN-STOR-0001", json={"boundary": area["boundary"]}, headers=farm["a"])
    assert r.status_code == 200 and "does not overlap" in r.json()["warnings"][0] and "5." in r.json()["warnings"][0]
    nudged = mapping(translate(shape(area["boundary"]), xoff=0.00002))  # a corrected corner: overlapping, no warning
    assert not client.patch("/v1/areas/VN-STOR-0001", json={"boundary": nudged}, headers=farm["a"]).json()["warnings"]
