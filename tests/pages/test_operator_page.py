"""The drone operator's page in headless Chromium against a real server: open a flight analysed from the real Bali
orthomosaic, see the imagery, draw the field's boundary and a no-spray area on the map, upload a canal as KML, make a
plan with a product dose, see the summary, download every format (the DJI package among them) and read each back
with GDAL, then switch area and see the old plan go."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pyogrio
import rasterio
import shapely
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from shapely.geometry import LineString, box, mapping

from inference.geo import reproject
from inference.sensors import validate_raster
from tests.data.make_rasters import BALI

EXT = {"geojson": ".geojson", "shp": ".zip", "kml": ".kml", "kmz": ".kmz", "gpkg": ".gpkg", "dji": ".zip",
       "isoxml": ".zip"}


BACKGROUND = (221, 229, 216)  # #dde5d8, the map's background in style.css


def assert_imagery_under_the_field(d, png: Path) -> None:
    import numpy as np
    from PIL import Image

    m = d.find_element(By.ID, "map")
    d.save_screenshot(str(png))
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    ratio = d.execute_script("return window.devicePixelRatio") or 1
    x, y, w, h = (int(v * ratio) for v in (m.location["x"], m.location["y"], m.size["width"], m.size["height"]))
    centre = img[y + h // 2 - h // 8 : y + h // 2 + h // 8, x + w // 2 - w // 8 : x + w // 2 + w // 8]
    background = (np.abs(centre - np.array(BACKGROUND)).sum(axis=2) <= 6).mean()
    assert background < 0.05, f"{background:.0%} of the field's pixels are the empty map's colour"
    assert centre.std() > 8  # texture of the paddies, not a flat fill


def draw_polygon(d, corners: list[tuple[float, float]]) -> None:
    """Click the corners (fractions of the map's width and height from its centre), then the first one again."""
    m = d.find_element(By.ID, "map")
    w, h = m.size["width"], m.size["height"]
    for fx, fy in [*corners, corners[0]]:
        ActionChains(d).move_to_element_with_offset(m, int(fx * w), int(fy * h)).click().perform()
        time.sleep(0.3)


def test_operator_plans_on_bali_and_downloads_everything(live_server, browser, tmp_path: Path) -> None:
    admin = live_server.token()
    url = live_server.url
    httpx.post(f"{url}/v1/accounts", headers=admin, json={"username": "pilot", "password": "bay drone 123",
                                                          "role": "drone_operator", "province": "Bali"})
    info = validate_raster(BALI)
    a, _, c, _, e, f = info.transform
    x0, x1, y1, y0 = c, c + a * info.width, f, f + e * info.height
    field = box(x0 + 60, y0 + 60, x1 - 60, y1 - 60)  # the paddies, inside the mosaic
    area = {"code": "ID-BALI-0001", "name": "Bali paddies", "crop": "rice", "province": "Bali",
            "boundary": mapping(reproject(field, info.crs, "EPSG:4326"))}
    assert httpx.post(f"{url}/v1/areas", headers=admin, json=area).status_code == 201
    other = {**area, "code": "ID-BALI-0002", "name": "Bali north", "boundary": mapping(reproject(
        box(x0 + 10, y1 - 50, x0 + 50, y1 - 10), info.crs, "EPSG:4326"))}
    assert httpx.post(f"{url}/v1/areas", headers=admin, json=other).status_code == 201
    evil = {**other, "code": "ID-BALI-0003", "name": '<img src=x onerror="window.__xss = 1">',  # users name areas
            "boundary": mapping(reproject(box(x1 - 50, y1 - 50, x1 - 10, y1 - 10), info.crs, "EPSG:4326"))}
    assert httpx.post(f"{url}/v1/areas", headers=admin, json=evil).status_code == 201
    pilot = live_server.token("pilot", "bay drone 123")
    with BALI.open("rb") as fh:
        r = httpx.post(f"{url}/v1/flights", headers=pilot, files={"file": ("bali.tif", fh, "image/tiff")},
                       data={"area_code": "ID-BALI-0001"}, timeout=120)
    assert r.status_code == 202, r.text
    for _ in range(240):
        job = httpx.get(f"{url}/v1/jobs/{r.json()['id']}", headers=pilot).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    # a canal crossing the field, to be excluded with its buffer
    mid = (x0 + x1) / 2
    canal = reproject(LineString([(mid, y0), (mid, y1)]), info.crs, "EPSG:4326")
    canal_file = tmp_path / "canal.kml"  # uploaded as KML: the page takes what area import reads
    pyogrio.raw.write(canal_file, np.array([shapely.to_wkb(canal)], dtype=object), [np.array(["canal"], dtype=object)],
                      ["name"], geometry_type="LineString", crs="EPSG:4326", driver="KML")

    d = browser
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    d.set_window_size(1280, 900)
    wait = WebDriverWait(d, 60)
    d.get(f"{url}/operator/")
    d.find_element(By.ID, "username").send_keys("pilot")
    d.find_element(By.ID, "password").send_keys("wrong")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()  # a wrong password is said in words
    wait.until(lambda _: "Sai tên đăng nhập hoặc mật khẩu" in d.find_element(By.ID, "signin-error").text)
    d.find_element(By.ID, "password").clear()
    d.find_element(By.ID, "password").send_keys("bay drone 123")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(ec.visibility_of_element_located((By.ID, "work")))
    wait.until(lambda _: Select(d.find_element(By.ID, "job")).first_selected_option.get_attribute("value"))
    names = [o.text for o in Select(d.find_element(By.ID, "area")).options]
    assert any("<img" in n for n in names) and d.execute_script("return window.__xss === undefined")  # text, not HTML
    chosen = Select(d.find_element(By.ID, "job")).first_selected_option
    assert chosen.get_attribute("value") == str(job["id"]) and "bali.tif" in chosen.text  # flights named by file
    # a PNG named .tif is refused in the page's language (the server's reason), and no job is made
    fake = tmp_path / "not_an_ortho.tif"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    d.find_element(By.CSS_SELECTOR, "#work details summary").click()
    d.find_element(By.ID, "ortho").send_keys(str(fake))
    d.find_element(By.ID, "upload-btn").click()
    wait.until(lambda _: "không phải GeoTIFF" in d.find_element(By.ID, "job-error").text)
    # the orthomosaic itself under the analysis layer: tiles loaded, and the map's pixels under the field are
    # imagery, not the page's background colour
    wait.until(lambda _: len(d.find_elements(By.CSS_SELECTOR, "img.leaflet-tile-loaded")) >= 2 and
               not d.find_elements(By.CSS_SELECTOR, "img.leaflet-tile:not(.leaflet-tile-loaded)"))
    time.sleep(0.5)  # the fade-in
    assert_imagery_under_the_field(d, tmp_path / "base.png")
    flight = d.find_element(By.ID, "flight")
    assert flight.is_displayed() and "ha" in d.find_element(By.ID, "flight-list").text
    warning = d.find_element(By.ID, "flight-warning").text  # the model card's warning, or the index method's
    assert "kiểm tra" in warning.lower() and "Trained on" not in warning  # in the page's language (Vietnamese)
    Select(d.find_element(By.ID, "layer")).select_by_value("growth")
    wait.until(lambda _: any("/tiles/growth/" in (i.get_attribute("data-src") or "") for i in
                             d.find_elements(By.CSS_SELECTOR, "img.leaflet-tile-loaded")))
    # the operator's own field: a square inside the area, drawn on the map; a no-spray pond drawn in it
    d.find_element(By.ID, "draw-boundary").click()
    draw_polygon(d, [(-0.12, -0.2), (0.12, -0.2), (0.12, 0.2), (-0.12, 0.2)])
    wait.until(lambda _: "ranh giới đã vẽ" in d.find_element(By.ID, "boundary-state").text.lower())
    d.find_element(By.ID, "draw-exclusion").click()
    draw_polygon(d, [(-0.1, -0.15), (-0.05, -0.15), (-0.05, -0.1), (-0.1, -0.1)])
    wait.until(lambda _: d.find_element(By.ID, "exclusion-state").text.startswith("1 "))
    d.find_element(By.ID, "exclusion").send_keys(str(canal_file))
    wait.until(lambda _: d.find_element(By.ID, "exclusion-state").text.startswith("2 "))
    # the form's numbers in the page's language: 21,6 beside the dose's 0,3 (the speed read "21.6")
    assert d.find_element(By.ID, "speed").get_attribute("value") == "21,6"
    assert d.find_element(By.ID, "dose").get_attribute("placeholder") == "0,3"
    d.find_element(By.ID, "dose").send_keys("0,3")  # a Vietnamese decimal comma (a number input made it 03: 3 kg/ha)
    Select(d.find_element(By.ID, "dose-unit")).select_by_value("kg")
    d.find_element(By.ID, "plan-btn").click()
    wait.until(ec.visibility_of_element_located((By.ID, "summary")))
    text = d.find_element(By.ID, "summary-list").text
    assert "ha" in text and "L" in text and "%" in text and "kg" in text, text
    assert d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")  # zones and exclusions drawn
    sm = httpx.get(f"{url}/v1/areas/ID-BALI-0001/spray-maps", headers=pilot).json()[0]
    sm = httpx.get(f"{url}/v1/spray-maps/{sm['id']}", headers=pilot).json()
    drawn, own = shapely.geometry.shape(sm["boundary"]), reproject(field, info.crs, "EPSG:4326")
    assert own.contains(drawn) and 0.05 < drawn.area / own.area < 0.9, "the plan is for the drawn field"
    assert len(sm["config"]["exclusions"]) == 2 and sm["summary"]["product_quantity"]["unit"] == "kg"
    assert sm["config"]["product_dose_per_ha"] == 0.3
    stored = httpx.get(f"{url}/v1/areas/ID-BALI-0001", headers=pilot).json()["boundary"]
    assert shapely.geometry.shape(stored).equals_exact(own, 1e-9), "the area's record is unchanged"
    legend = d.find_element(By.CSS_SELECTOR, ".legend").text
    assert "10 L/ha" in legend and "20 L/ha" in legend
    d.save_screenshot(str(tmp_path / "operator.png"))
    buttons = d.find_elements(By.CSS_SELECTOR, "#downloads button")
    assert [b.get_attribute("data-format") for b in buttons] == list(EXT)
    for b in buttons:
        b.click()
        time.sleep(0.5)
    logs = d.get_log("browser") if hasattr(d, "get_log") else []
    for _ in range(100):
        files = [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")]
        if len(files) == len(EXT):
            break
        time.sleep(0.2)
    files = {p.name: p for p in downloads.iterdir()}
    assert len(files) == len(EXT), (sorted(files), logs)
    for fmt, ext in EXT.items():
        name = next(n for n in files if (f"_{fmt}" in n and n.endswith(ext)) or (fmt in ("geojson", "kml", "kmz",
                                                                                              "gpkg") and n.endswith(ext)))
        p = files[name]
        if fmt == "dji":
            with zipfile.ZipFile(p) as zf:
                manifest = json.loads(zf.read("prescription_ID-BALI-0001/manifest.json"))
            assert manifest["unit"] == "L/ha"
            with rasterio.open(f"/vsizip/{p}/prescription_ID-BALI-0001/rate_map.tif") as r:
                assert r.crs.to_epsg() == 4326
        elif fmt == "isoxml":
            assert "TASKDATA/TASKDATA.XML" in zipfile.ZipFile(p).namelist()
        else:
            src = f"/vsizip/{p}" if fmt == "shp" else str(p)
            meta, *_ = pyogrio.raw.read(src, layer="spray_zones" if fmt in ("kml", "kmz", "gpkg") else None)
            assert "4326" in meta["crs"] and "rate" in list(meta["fields"])
    # no stale state: switching the flight (or the area) takes the plan, its summary and its downloads away
    d.execute_script("document.getElementById('job').dispatchEvent(new Event('change'))")
    wait.until(ec.invisibility_of_element_located((By.ID, "summary")))
    assert d.find_elements(By.CSS_SELECTOR, "#downloads button") == []
    d.find_element(By.ID, "plan-btn").click()  # the drawings stay with the flight's area: plan again
    wait.until(ec.visibility_of_element_located((By.ID, "summary")))
    Select(d.find_element(By.ID, "area")).select_by_value("ID-BALI-0002")
    wait.until(ec.invisibility_of_element_located((By.ID, "summary")))
    assert d.find_elements(By.CSS_SELECTOR, "#downloads button") == []
    assert d.find_element(By.ID, "exclusion-state").text == ""  # the other area's drawings went with it
    # on a phone the map comes first, half the screen high (it once had no height: flex-basis 0 in a column), and
    # stays in view while the operator scrolls down to the plan's settings (it sat below 2,600 px of form)
    d.set_window_size(390, 844)
    time.sleep(0.3)
    inner = d.execute_script("return window.innerHeight")
    assert d.find_element(By.ID, "map").size["height"] >= 0.45 * inner
    d.execute_script("document.getElementById('plan-btn').scrollIntoView({block: 'end'})")
    time.sleep(0.3)
    top = d.execute_script("return document.getElementById('map').getBoundingClientRect().top")
    plan = d.execute_script("return document.getElementById('plan-btn').getBoundingClientRect().bottom")
    assert -1 <= top <= 1 and plan <= inner + 1, (top, plan)  # the map at the top, the button visible under it
