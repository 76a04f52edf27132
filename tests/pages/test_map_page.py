"""The department's base map in a real headless Chromium, on the server as `make run` starts it (`serve --sample`):
the sample's areas as clusters when zoomed out, coloured polygons with a popup when zoomed in, the outbreak layer's
totals, a filter; the traceability page of a sample area without signing in."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from api.devserver import running_server
from tests.pages.signin import sign_in


def test_base_map_with_the_sample(browser, tmp_path) -> None:
    with running_server(tmp_path, args=("--sample",)) as server:
        d = browser
        d.set_window_size(1280, 900)
        wait = WebDriverWait(d, 60)
        sign_in(d, f"{server.url}/map/", "admin", server.admin_password)
        wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "path.cluster"))  # zoom 11: clusters
        assert "12" in d.find_element(By.ID, "count").text
        wait.until(lambda _: "Bệnh đạo ôn" in d.find_element(By.ID, "totals").text)  # outbreaks of 14 days
        d.execute_script("map.setView([9.5605, 105.9706], 16)")
        wait.until(lambda _: len(d.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path:not(.cluster)"))
                   >= 2 and "gộp nhóm" not in d.find_element(By.ID, "count").text)
        d.save_screenshot(str(tmp_path / "map.png"))
        d.execute_script("map.eachLayer((l) => { if (l.feature && l.feature.id === 'VN-MAU-0001') l.fire('click', { latlng: l.getBounds().getCenter() }, true); })")
        wait.until(lambda _: "VN-MAU-0001" in d.find_element(By.CSS_SELECTOR, ".leaflet-popup-content").text)
        Select(d.find_element(By.ID, "f-crop")).select_by_value("shallot")
        wait.until(lambda _: d.find_element(By.ID, "count").text.startswith("1 "))
        # the filters speak the page's language, and follow a switch (they were written once at sign-in)
        assert Select(d.find_element(By.ID, "f-crop")).first_selected_option.text == "Hành tím"
        d.find_element(By.ID, "lang").click()
        wait.until(lambda _: Select(d.find_element(By.ID, "f-crop")).first_selected_option.text == "Shallot")
        diseases = [o.text for o in Select(d.find_element(By.ID, "f-disease")).options]
        assert "Blast" in diseases and "Bệnh đạo ôn" not in diseases
        d.find_element(By.ID, "lang").click()
        page = httpx.get(f"{server.url}/trace/VN-MAU-0001")
        assert page.status_code == 200 and "Beam 75WP" in page.text and "mau_hoatu" not in page.text
        # the buyer opens it from the stamp's QR code on a phone: nothing runs off the screen (it was 492 px wide)
        d.set_window_size(390, 844)
        d.get(f"{server.url}/trace/VN-MAU-0001")
        wait.until(lambda _: "Beam 75WP" in d.find_element(By.TAG_NAME, "body").text)
        width = d.execute_script("return document.documentElement.clientWidth")
        assert d.execute_script("return document.documentElement.scrollWidth") <= width
        status = d.find_element(By.CSS_SELECTOR, "td[data-h='Tình trạng']")
        assert status.is_displayed() and status.location["x"] + status.size["width"] <= width
