"""The agronomist's pages in a real headless Chromium against a real server: the review queue (a farmer's
correction confirmed in one tap, counts per label and source) and the models page (versions, the served one,
compare on the frozen benchmark, promotion offered only with the right, model cards read as pages)."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.api.test_areas import area_payload
from tests.data.make_photos import real_photo


def sign_in(d, url: str, username: str, wait: WebDriverWait) -> None:
    d.get(url)
    d.execute_script("sessionStorage.clear()")
    d.get(url)
    d.find_element(By.ID, "username").send_keys(username)
    d.find_element(By.ID, "password").send_keys("mat khau 123")
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(ec.visibility_of_element_located((By.ID, "work")))


def test_agronomist_reviews_a_correction_and_compares_models(live_server, browser, tmp_path) -> None:
    admin = live_server.token()
    for user, role in (("nong_dan3", "farmer"), ("ky_su", "agronomist")):
        r = httpx.post(f"{live_server.url}/v1/accounts", headers=admin, json={
            "username": user, "password": "mat khau 123", "role": role, "province": "Sóc Trăng"})
        assert r.status_code == 201, r.text
    assert httpx.post(f"{live_server.url}/v1/areas", headers=admin,
                      json=area_payload("VN-STOR-0009", i=2, owner_username="nong_dan3")).status_code == 201
    farmer = live_server.token("nong_dan3", "mat khau 123")
    r = httpx.post(f"{live_server.url}/v1/photos", headers=farmer, data={"area_code": "VN-STOR-0009"},
                   files={"file": ("leaf.jpg", real_photo("brown_spot", 51).read_bytes(), "image/jpeg")}, timeout=60)
    pid = r.json()["id"]
    assert httpx.post(f"{live_server.url}/v1/photos/{pid}/feedback", headers=farmer,
                      json={"label": "blast"}).status_code == 201
    # a second photo the farmer is unsure of: confirm would store "not sure", so there is nothing to confirm
    r = httpx.post(f"{live_server.url}/v1/photos", headers=farmer, data={"area_code": "VN-STOR-0009"},
                   files={"file": ("leaf.jpg", real_photo("blast", 0).read_bytes(), "image/jpeg")}, timeout=60)
    unsure_pid = r.json()["id"]
    assert httpx.post(f"{live_server.url}/v1/photos/{unsure_pid}/feedback", headers=farmer,
                      json={"label": "not_sure"}).status_code == 201

    d = browser
    d.set_window_size(1280, 900)
    wait = WebDriverWait(d, 60)
    sign_in(d, f"{live_server.url}/review/", "ky_su", wait)
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#queue li"))
    assert d.find_element(By.ID, "queued").text == "2"
    assert "Bệnh đạo ôn" in d.find_element(By.ID, "farmer").text  # the farmer's label, in Vietnamese
    assert d.find_element(By.ID, "confirm").is_enabled() and not d.find_element(By.ID, "confirm-why").is_displayed()
    assert "Bệnh đốm nâu" in d.find_element(By.ID, "model").text
    wait.until(lambda _: d.execute_script("return document.getElementById('big').naturalWidth > 0"))
    d.save_screenshot(str(tmp_path / "review.png"))
    # what the severity counted, drawn: the same picture the farmer saw, toggled with the photo
    assert d.find_element(By.ID, "severity").text.startswith("SES ")
    shown = ("const done = arguments[arguments.length - 1], i = document.getElementById('big');"
             "if (!i.getAttribute('src')) { done(null); return; }"
             "fetch(i.src).then((r) => r.arrayBuffer()).then((b) => done(b.byteLength), () => done(null));")
    photo_bytes = len(httpx.get(f"{live_server.url}/v1/photos/{pid}/image", headers=admin).content)
    drawing = httpx.get(f"{live_server.url}/v1/photos/{pid}/lesions.jpg", headers=admin).content
    assert Image.open(io.BytesIO(drawing)).format == "JPEG" and len(drawing) != photo_bytes
    wait.until(lambda _: d.execute_async_script(shown) == photo_bytes)
    d.find_element(By.ID, "view-lesions").click()
    wait.until(lambda _: d.execute_async_script(shown) == len(drawing))  # the drawing itself, byte for byte long
    assert d.find_element(By.ID, "view-lesions").text == "Xem ảnh gốc"
    assert d.find_element(By.ID, "view-hint").is_displayed()
    d.find_element(By.ID, "view-lesions").click()
    wait.until(lambda _: d.execute_async_script(shown) == photo_bytes)
    assert d.find_element(By.ID, "view-lesions").text == "Xem phần đã đo"
    assert not d.find_element(By.ID, "view-hint").is_displayed()
    # a drawing that cannot be loaded: said, and the photo stays (never the previous image under the new label)
    d.execute_script("const f = window.fetch; window.fetch = (u, o) => String(u).includes('lesions.jpg') ? "
                     "Promise.resolve(new Response('', {status: 503})) : f(u, o);")
    d.find_element(By.ID, "view-lesions").click()
    wait.until(lambda _: "Không tải được hình" in d.find_element(By.ID, "review-error").text)
    wait.until(lambda _: d.execute_async_script(shown) == photo_bytes)
    assert d.find_element(By.ID, "view-lesions").text == "Xem phần đã đo"
    d.find_element(By.ID, "lang").click()  # in English the "correct to" list is English too
    wait.until(lambda _: "Blast" in d.find_element(By.ID, "farmer").text)
    options = [o.text for o in Select(d.find_element(By.ID, "correct-label")).options]
    assert "Brown spot" in options and "Bệnh đốm nâu" not in options, options
    d.find_element(By.ID, "lang").click()
    wait.until(lambda _: "Bệnh đạo ôn" in d.find_element(By.ID, "farmer").text)
    Select(d.find_element(By.ID, "correct-label")).select_by_value("brown_spot")
    d.find_element(By.ID, "correct").click()
    # the unsure photo next: confirm is off and says why; the C key does nothing either
    wait.until(lambda _: not d.find_element(By.ID, "confirm").is_enabled())
    assert "Không có nhãn để xác nhận" in d.find_element(By.ID, "confirm-why").text
    d.find_element(By.TAG_NAME, "body").send_keys("C")  # upper case counts as the key (Caps Lock)
    d.find_element(By.ID, "reject").click()
    wait.until(ec.visibility_of_element_located((By.ID, "empty")))
    wait.until(lambda _: "Bệnh đốm nâu" in d.find_element(By.ID, "counts").text)
    log_text = d.find_element(By.ID, "log").text
    assert "ky_su" in log_text and "sửa thành Bệnh đốm nâu" in log_text and "loại bỏ" in log_text, log_text
    assert re.search(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2} · ky_su", log_text), log_text  # day first, as in English
    log = httpx.get(f"{live_server.url}/v1/review/log", headers=admin).json()
    assert [(e["photo_id"], e["action"], e["label"], e["by"]) for e in log] == [
        (unsure_pid, "reject", None, "ky_su"), (pid, "correct", "brown_spot", "ky_su")]  # C confirmed nothing

    # the models page: the served version marked; compare a drone candidate (the photo compare is the same page code
    # and is tested through the CLI and the API); promotion refused without the right
    d.get(f"{live_server.url}/models/")
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#versions tbody tr"))
    rows = {tr.get_attribute("data-version"): tr for tr in d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")}
    served = httpx.get(f"{live_server.url}/v1/models/field_photo", headers=admin).json()["version"]
    assert "đang phục vụ" in rows[served].text and "1.1.0" in rows
    drone_versions = f"{live_server.url}/v1/models/drone_damage/versions"
    served_drone = [v["version"] for v in httpx.get(drone_versions, headers=admin).json() if v["active"]]
    Select(d.find_element(By.ID, "task")).select_by_value("drone_damage")
    wait.until(lambda _: "F1" in d.find_element(By.ID, "versions").text)
    rows = {tr.get_attribute("data-version"): tr for tr in d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")}
    rows["1.0.0"].find_elements(By.TAG_NAME, "button")[0].click()  # compare with the served version
    WebDriverWait(d, 180).until(lambda _: "bali_south_s0" in d.find_element(By.ID, "report").text)
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#plots img"))
    d.save_screenshot(str(tmp_path / "models.png"))
    # without the right to promote, the page offers no promotion and says who may (the server refuses it anyway)
    rows = {tr.get_attribute("data-version"): tr for tr in d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")}
    assert [b.text for b in rows["1.0.0"].find_elements(By.TAG_NAME, "button")] == ["So sánh với bản đang phục vụ"]
    assert not d.find_element(By.ID, "promote-box").is_displayed()
    assert "quản trị viên" in d.find_element(By.ID, "no-right").text
    r = httpx.post(f"{live_server.url}/v1/models/drone_damage/activate", json={"version": "1.0.0"},
                   headers=live_server.token("ky_su", "mat khau 123"))
    assert r.status_code == 403 and "right" in r.json()["detail"], r.text
    drone = httpx.get(drone_versions, headers=admin).json()
    assert [v["version"] for v in drone if v["active"]] == served_drone  # the refused promotion changed nothing

    # a model card is read as a page: its tables as tables, its plots drawn in place, nothing as raw Markdown
    Select(d.find_element(By.ID, "task")).select_by_value("field_photo")
    wait.until(lambda _: served in d.execute_script(  # read in one go: the table is rebuilt when the task changes
        "return [...document.querySelectorAll('#versions tbody tr')].map((tr) => tr.dataset.version);"))
    row = next(tr for tr in d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
               if tr.get_attribute("data-version") == served)
    next(a for a in row.find_elements(By.TAG_NAME, "a") if a.text == "MODEL_CARD.md").click()
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, "#card-md table"))
    card = d.find_element(By.ID, "card-md")
    assert card.find_element(By.TAG_NAME, "h3").text.startswith("Field-photo model")
    headers = [th.text for th in card.find_element(By.TAG_NAME, "table").find_elements(By.TAG_NAME, "th")]
    assert "macro-F1" in headers, headers
    assert "|" not in card.text and "**" not in card.text and "![" not in card.text
    assert d.find_element(By.ID, "card-lang").is_displayed()  # Vietnamese page: says the card is in English
    d.find_element(By.ID, "lang").click()
    wait.until(lambda _: not d.find_element(By.ID, "card-lang").is_displayed())  # the English page need not say so
    d.find_element(By.ID, "lang").click()
    wait.until(lambda _: d.find_element(By.ID, "card-lang").is_displayed())
    assert d.find_element(By.ID, "card-md").get_attribute("lang") == "en"
    wait.until(lambda _: d.execute_script(
        "const im = [...document.querySelectorAll('#card-md img')];"
        "return im.length > 0 && im.every((i) => i.naturalWidth > 0);"))
    # markup in a card stays text (the reader sets textContent only); a lone "|" or an unclosed mark ends no loop
    tags = d.execute_script(
        "const f = cwMarkdown.render('<img src=x onerror=alert(1)> **a** [b](javascript:alert(2))\\n| c\\n*d');"
        "const div = document.createElement('div'); div.append(f);"
        "return [[...div.querySelectorAll('*')].map((e) => e.tagName), div.textContent];")
    assert tags[0] == ["P", "STRONG", "P"] and "<img src=x onerror=alert(1)>" in tags[1] and "javascript" not in tags[1], tags
    d.execute_script("document.getElementById('detail').scrollIntoView();")
    d.save_screenshot(str(tmp_path / "model_card.png"))
    old = next(tr for tr in d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
               if tr.get_attribute("data-version") == "1.0.0")
    assert "tập thử cùng nguồn" in old.text  # the whole-image bundles' F1 says what it was measured on
    # given the right by an admin, the same agronomist sees promotion and roll-back on the next load
    assert httpx.post(f"{live_server.url}/v1/accounts/ky_su/promote-right", headers=admin).status_code == 200
    d.refresh()
    wait.until(lambda _: d.find_element(By.ID, "promote-box").is_displayed())
    assert not d.find_element(By.ID, "no-right").is_displayed()
    old = next(tr for tr in d.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
               if tr.get_attribute("data-version") == "1.0.0")
    assert [b.text for b in old.find_elements(By.TAG_NAME, "button")] == [
        "So sánh với bản đang phục vụ", "Đưa vào phục vụ"]
    # a shared office computer: signing out ends the session here and on the server
    token = d.execute_script("return sessionStorage.getItem('cw_token');")
    assert d.find_element(By.ID, "signout").text == "Đăng xuất"
    d.find_element(By.ID, "signout").click()
    wait.until(lambda _: d.find_element(By.ID, "signin").is_displayed())
    assert not d.find_element(By.ID, "signout").is_displayed()
    assert httpx.get(f"{live_server.url}/v1/review/queue",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 401
