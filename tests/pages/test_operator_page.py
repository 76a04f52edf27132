"""The drone operator's page in headless Chromium against a real server: open a flight analysed from the real Bali
orthomosaic, make a plan with an exclusion crossing the field, see the summary, download every format (the DJI
package among them) and read each back with GDAL."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import httpx
import pyogrio
import rasterio
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
    canal_file = tmp_path / "canal.geojson"
    canal_file.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "canal"}, "geometry": mapping(canal)}]}))

    d = browser
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    d.set_window_size(1280, 900)
    wait = WebDriverWait(d, 60)
    d.get(f"{url}/operator/")
    d.find_element(By.ID, "username").send_keys("pilot")
    d.find_element(By.ID, "password").send_keys("bay drone 123")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(ec.visibility_of_element_located((By.ID, "work")))
    wait.until(lambda _: Select(d.find_element(By.ID, "job")).first_selected_option.get_attribute("value"))
    assert Select(d.find_element(By.ID, "job")).first_selected_option.get_attribute("value") == str(job["id"])
    # the orthomosaic itself under the analysis layer: tiles loaded, and the map's pixels under the field are
    # imagery, not the page's background colour
    wait.until(lambda _: len(d.find_elements(By.CSS_SELECTOR, "img.leaflet-tile-loaded")) >= 2 and
               not d.find_elements(By.CSS_SELECTOR, "img.leaflet-tile:not(.leaflet-tile-loaded)"))
    time.sleep(0.5)  # the fade-in
    assert_imagery_under_the_field(d, tmp_path / "base.png")
    flight = d.find_element(By.ID, "flight")
    assert flight.is_displayed() and "ha" in d.find_element(By.ID, "flight-list").text
    assert d.find_element(By.ID, "flight-warning").text  # the model card's warning, or the index method's
    Select(d.find_element(By.ID, "layer")).select_by_value("growth")
    wait.until(lambda _: any("/tiles/growth/" in (i.get_attribute("data-src") or "") for i in
                             d.find_elements(By.CSS_SELECTOR, "img.leaflet-tile-loaded")))
    d.find_element(By.ID, "exclusion").send_keys(str(canal_file))
    d.find_element(By.ID, "plan-btn").click()
    wait.until(ec.visibility_of_element_located((By.ID, "summary")))
    text = d.find_element(By.ID, "summary-list").text
    assert "ha" in text and "L" in text and "%" in text
    assert d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")  # zones and exclusions drawn
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
            src = f"/vsizip/{p}" if fmt == "shp" else f"/vsizip/{p}/doc.kml" if fmt == "kmz" else str(p)
            meta, *_ = pyogrio.raw.read(src, layer="spray_zones" if fmt == "gpkg" else None)
            assert "4326" in meta["crs"]
    # no stale state: switching the flight (or the area) takes the plan, its summary and its downloads away
    d.execute_script("document.getElementById('job').dispatchEvent(new Event('change'))")
    wait.until(ec.invisibility_of_element_located((By.ID, "summary")))
    assert d.find_elements(By.CSS_SELECTOR, "#downloads button") == []
