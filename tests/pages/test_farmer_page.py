"""The farmer's page in a real headless Chromium against a real server: sign in, upload a real photo, see the
diagnosis and the area's history, on a phone-sized screen, in Vietnamese and English."""

from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.api.test_areas import area_payload
from tests.api.test_spray_log import LOG
from tests.data.make_photos import dark_jpeg, real_photo

LABELS_VI = {"Bệnh bạc lá", "Bệnh đạo ôn", "Bệnh đốm nâu", "Chưa chắc chắn", "Không thấy triệu chứng bệnh"}


def test_farmer_signs_in_uploads_and_sees_diagnosis(live_server, browser, tmp_path) -> None:
    admin = live_server.token()
    r = httpx.post(f"{live_server.url}/v1/accounts", headers=admin,
                   json={"username": "nong_dan", "password": "mat khau 123", "role": "farmer"})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{live_server.url}/v1/areas", headers=admin, json=area_payload(owner_username="nong_dan"))
    assert r.status_code == 201, r.text
    r = httpx.post(f"{live_server.url}/v1/areas/VN-STOR-0001/spray-applications", headers=admin,
                   json={**LOG, "applied_on": "2026-11-02T06:30:00"})  # the pesticide log shows in the history
    assert r.status_code == 201, r.text

    d = browser
    wait = WebDriverWait(d, 60)
    d.get(f"{live_server.url}/")
    assert "Đăng nhập" in d.find_element(By.ID, "signin").text  # Vietnamese by default
    d.find_element(By.ID, "username").send_keys("nong_dan")
    d.find_element(By.ID, "password").send_keys("wrong password")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(lambda _: d.find_element(By.ID, "signin-error").text)
    assert "Sai" in d.find_element(By.ID, "signin-error").text
    d.find_element(By.ID, "password").clear()
    d.find_element(By.ID, "password").send_keys("mat khau 123")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(ec.visibility_of_element_located((By.ID, "upload")))
    wait.until(lambda _: Select(d.find_element(By.ID, "area")).options)
    assert Select(d.find_element(By.ID, "area")).first_selected_option.get_attribute("value") == "VN-STOR-0001"

    # a slow link for the drawing only: the page says it is coming instead of leaving a gap
    d.execute_script("const f = window.fetch; window.fetch = (u, o) => String(u).includes('lesions.jpg') ? "
                     "new Promise((ok) => setTimeout(() => ok(f(u, o)), 1500)) : f(u, o);")
    # the photo button in the page's language (the browser's own said "Choose File", "No file chosen")
    assert d.find_element(By.CSS_SELECTOR, "label.file .file-button").text == "Chụp hoặc chọn ảnh"
    assert d.find_element(By.ID, "photo-name").text == "Chưa chọn ảnh"
    d.find_element(By.ID, "photo").send_keys(str(real_photo("blast", 0)))
    assert d.find_element(By.ID, "photo-name").text == real_photo("blast", 0).name
    d.find_element(By.ID, "send").click()
    wait.until(ec.visibility_of_element_located((By.ID, "result")))
    wait.until(lambda _: "Đang tải hình phần đã đo" in d.find_element(By.ID, "lesions").text)
    assert d.find_element(By.ID, "lesions").is_displayed()
    diagnosis = d.find_element(By.ID, "diagnosis").text
    assert diagnosis in LABELS_VI, diagnosis
    assert "%" in d.find_element(By.ID, "confidence").text
    assert d.find_element(By.ID, "advice").text
    wait.until(lambda _: "SES" in d.find_element(By.ID, "history-list").text or
               d.find_element(By.ID, "history-list").text)
    # the growth chart and a thumbnail in the history
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#growth-chart circle.pt-photo"))
    # one day's photos stand in the middle of the axis, not stacked on its left edge
    cx = [float(c.get_attribute("cx")) for c in d.find_elements(By.CSS_SELECTOR, "#growth-chart circle.pt-photo")]
    assert cx == [170.0], cx
    wait.until(lambda _: d.execute_script("const i = document.querySelector('#history-list img');"
                                          "return !!i && i.naturalWidth > 0"))
    assert "Tải nhật ký canh tác (PDF)" in d.find_element(By.ID, "history-list").text
    assert "Đã phun thuốc · Chess 50WG · 40 L · thu hoạch từ 9/11/2026" in d.find_element(By.ID, "history-list").text
    # at the records' local time (06:30 in Sóc Trăng), not the browser's (this one runs in UTC: 23:30 the day before)
    spray = next(li.text for li in d.find_elements(By.CSS_SELECTOR, "#history-list li") if "Chess" in li.text)
    assert "06:30" in spray and "2/11/2026" in spray, spray
    if d.find_element(By.ID, "diagnosis").text != "Chưa chắc chắn":  # cited guidance under a named disease
        assert d.find_element(By.ID, "advice-detail").is_displayed()
        review = d.execute_script("return document.querySelector('#detail-body p.hint').textContent")
        assert "bản nháp" in review and "draft" not in review, review  # its review status in Vietnamese too
        # a draft names no chemical to buy: said why instead
        body = d.execute_script("return document.getElementById('detail-body').textContent")
        assert "chưa được kỹ sư nông học duyệt" in body and "Hoạt chất được khuyến cáo" not in body, body
    measured = bool(d.find_element(By.ID, "severity").text)
    assert measured  # this blast leaf is measured (a retake or a field patch would have no severity)
    if measured:  # what the severity counted, drawn: the leaf outlined, the lesions in pink
        wait.until(lambda _: d.execute_script("const i = document.getElementById('lesions-img');"
                                              "return !document.getElementById('lesions').hidden && i.naturalWidth > 0"))
        assert "vết bệnh" in d.find_element(By.ID, "lesions").text
    # phone-width layout: nothing wider than the screen
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    d.save_screenshot(str(tmp_path / "farmer_vi.png"))
    # "did it go?": the same photo sent again is the same record (the page's Idempotency-Key), not a second one
    d.find_element(By.ID, "send").click()
    wait.until(lambda _: d.find_element(By.ID, "progress").is_displayed() or d.find_element(By.ID, "send").is_enabled())
    wait.until(lambda _: not d.find_element(By.ID, "progress").is_displayed() and d.find_element(By.ID, "send").is_enabled())
    assert d.find_element(By.ID, "result").is_displayed() and not d.find_element(By.ID, "upload-error").text
    assert len(httpx.get(f"{live_server.url}/v1/areas/VN-STOR-0001/observations", headers=admin).json()) == 1
    wait.until(lambda _: d.execute_script("const i = document.getElementById('lesions-img');"
                                          "return !document.getElementById('lesions').hidden && i.naturalWidth > 0"))

    d.find_element(By.ID, "lang").click()
    assert d.find_element(By.ID, "advice").text != "" and "Result" in d.find_element(By.ID, "result").text
    if measured:
        assert "What was measured" in d.find_element(By.ID, "lesions").text
        assert d.find_element(By.ID, "lesions-img").get_attribute("alt").startswith("The leaf")
    d.save_screenshot(str(tmp_path / "farmer_en.png"))
    obs = httpx.get(f"{live_server.url}/v1/areas/VN-STOR-0001/observations", headers=admin).json()
    assert len(obs) == 1 and obs[0]["source"] == "photo"

    # "wrong, it is ...": the farmer names something the model does not know
    d.find_element(By.ID, "fb-wrong").click()
    wait.until(ec.visibility_of_element_located((By.ID, "fb-form")))
    Select(d.find_element(By.ID, "fb-label")).select_by_value("other")
    wait.until(ec.visibility_of_element_located((By.ID, "fb-other")))
    d.find_element(By.ID, "fb-send").click()  # no name yet: asked for it in the page's language, nothing sent
    wait.until(lambda _: "Write the name" in d.find_element(By.ID, "fb-done").text)
    assert d.find_element(By.ID, "fb-wrong").is_enabled()
    d.find_element(By.ID, "fb-other-name").send_keys("lem lép hạt")
    d.find_element(By.ID, "fb-send").click()
    wait.until(lambda _: "Thank you" in d.find_element(By.ID, "fb-done").text)
    assert not d.find_element(By.ID, "fb-wrong").is_enabled()  # said once: not sent twice by a second tap
    fb = httpx.get(f"{live_server.url}/v1/photos/{obs[0]['id']}", headers=admin).json()["feedback"]
    assert [(f["label"], f["other_name"], f["by"]) for f in fb] == [("other", "lem lép hạt", "nong_dan")]
    d.find_element(By.ID, "lang").click()  # the thanks follow the language (they stayed English)
    assert "Cảm ơn" in d.find_element(By.ID, "fb-done").text
    assert not d.find_element(By.ID, "fb-wrong").is_enabled()  # the result shown again in Vietnamese: still said once

    # a photo to take again: what to fix, and no "is this right?" under it
    dark = tmp_path / "dark.jpg"
    dark.write_bytes(dark_jpeg(real_photo("blast", 0)))
    d.find_element(By.ID, "photo").send_keys(str(dark))
    d.find_element(By.ID, "send").click()
    wait.until(lambda _: "tối" in d.find_element(By.ID, "advice").text)
    assert not d.find_element(By.ID, "feedback").is_displayed()
    # kept, but not the area's history: a refused photo is no observation of the crop
    assert len(httpx.get(f"{live_server.url}/v1/areas/VN-STOR-0001/observations", headers=admin).json()) == 1
    assert "Cần chụp lại" not in d.find_element(By.ID, "history-list").text
    # a dropped link while the history reloads: said, not left silently stale
    d.execute_script("window._fetch = window.fetch; window.fetch = (u, o) => String(u).includes('/observations') ? "
                     "Promise.reject(new TypeError('Failed to fetch')) : window._fetch(u, o);"
                     "document.getElementById('area').dispatchEvent(new Event('change'));")
    wait.until(lambda _: "Chưa tải được lịch sử" in d.find_element(By.ID, "history-list").text)
    d.execute_script("window.fetch = window._fetch;")
    # the sign-in ends while a photo is chosen: sign in again (in Vietnamese), the photo still chosen
    d.execute_script("sessionStorage.setItem('cw_token', 'x'); token = 'no longer valid';")
    d.find_element(By.ID, "send").click()
    wait.until(lambda _: d.find_element(By.ID, "signin").is_displayed())
    assert "đăng nhập lại" in d.find_element(By.ID, "signin-error").text
    assert d.find_element(By.ID, "photo").get_attribute("value")  # the chosen photo is kept
    d.find_element(By.ID, "password").send_keys("mat khau 123")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(lambda _: d.find_element(By.ID, "upload").is_displayed())

    # a shared phone: signing out leaves nothing of this farmer, not even after a language switch
    d.find_element(By.ID, "signout").click()
    d.find_element(By.ID, "lang").click()
    for gone in ("result", "lesions", "history", "growth-card", "upload"):
        assert not d.find_element(By.ID, gone).is_displayed(), gone
    assert d.find_element(By.ID, "password").get_attribute("value") == ""


def _new_farmer_signs_in(live_server, d, username: str, area_code: str | None = None) -> dict:
    """A farmer account (with an area of its own when area_code is given), signed in on a fresh page; the area's
    payload."""
    admin = live_server.token()
    r = httpx.post(f"{live_server.url}/v1/accounts", headers=admin,
                   json={"username": username, "password": "mat khau 123", "role": "farmer"})
    assert r.status_code == 201, r.text
    payload = area_payload(area_code, i=1, owner_username=username) if area_code else {}
    if area_code:
        assert httpx.post(f"{live_server.url}/v1/areas", headers=admin, json=payload).status_code == 201
    d.get(f"{live_server.url}/")
    d.execute_script("sessionStorage.clear(); localStorage.setItem('cw_lang', 'vi')")
    d.get(f"{live_server.url}/")
    d.find_element(By.ID, "username").send_keys(username)
    d.find_element(By.ID, "password").send_keys("mat khau 123")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    return payload


def test_a_farmer_with_no_area_is_told_why_nothing_can_be_sent(live_server, browser) -> None:
    d = browser
    wait = WebDriverWait(d, 60)
    _new_farmer_signs_in(live_server, d, "nong_dan_moi")
    wait.until(ec.visibility_of_element_located((By.ID, "no-areas")))
    assert "chưa có vùng trồng" in d.find_element(By.ID, "no-areas").text
    assert not d.find_element(By.ID, "send").is_enabled() and not d.find_element(By.ID, "photo").is_enabled()
    d.find_element(By.ID, "lang").click()
    assert "no growing area" in d.find_element(By.ID, "no-areas").text
    d.find_element(By.ID, "lang").click()
    d.find_element(By.ID, "signout").click()


def test_a_camera_photo_is_shrunk_on_the_phone_and_keeps_its_gps(live_server, browser, tmp_path) -> None:
    from shapely.geometry import shape

    from tests.data.make_photos import gps_jpeg

    admin = live_server.token()
    d = browser
    wait = WebDriverWait(d, 60)
    payload = _new_farmer_signs_in(live_server, d, "nong_dan2", "VN-STOR-0002")
    inside = shape(payload["boundary"]).representative_point()
    big = tmp_path / "camera.jpg"
    big.write_bytes(gps_jpeg(real_photo("brown_spot", 2), lat=inside.y, lon=inside.x, scale=10.0,
                             device=("samsung", "SM-A125F")))  # 3000 x 3000
    wait.until(ec.visibility_of_element_located((By.ID, "upload")))
    wait.until(lambda _: Select(d.find_element(By.ID, "area")).options)
    d.find_element(By.ID, "photo").send_keys(str(big))
    d.find_element(By.ID, "send").click()
    wait.until(ec.visibility_of_element_located((By.ID, "result")))
    obs = httpx.get(f"{live_server.url}/v1/areas/VN-STOR-0002/observations", headers=admin).json()
    assert len(obs) == 1
    photo = obs[0]["scores"]["photo"]
    assert max(photo["width"], photo["height"]) <= 1600  # shrunk before it left the phone
    # the page read the phone model from EXIF before re-encoding dropped it
    assert obs[0]["device"] == "samsung SM-A125F"
    assert obs[0]["lat"] == pytest.approx(inside.y, abs=1e-5) and obs[0]["lon"] == pytest.approx(inside.x, abs=1e-5)
    # a file that is no photo: the page says so in its own language (the server's `reason`), and the last photo's
    # result card goes rather than stand under the error as if it were this file's
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    d.execute_script("localStorage.setItem('cw_lang', 'vi')")
    d.refresh()
    wait.until(ec.visibility_of_element_located((By.ID, "upload")))
    d.find_element(By.ID, "photo").send_keys(str(big))
    d.find_element(By.ID, "send").click()
    wait.until(ec.visibility_of_element_located((By.ID, "result")))
    d.find_element(By.ID, "photo").send_keys(str(notes))
    d.find_element(By.ID, "send").click()
    wait.until(lambda _: d.find_element(By.ID, "upload-error").text)
    assert "không phải ảnh" in d.find_element(By.ID, "upload-error").text
    assert not d.find_element(By.ID, "result").is_displayed()
