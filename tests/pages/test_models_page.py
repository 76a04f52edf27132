"""The models page in a real headless Chromium: a switch of the served model is asked first, its reason and "force"
are one switch's (left ticked, the next click forced another version in, unasked), and refusals and the history are
in the page's language."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.pages.signin import sign_in


def _row_button(d, version: str, nth: int):
    return d.find_elements(By.CSS_SELECTOR, f'#versions tr[data-version="{version}"] td:last-child button')[nth]


def test_promote_is_asked_once_and_said_in_vietnamese(live_server, browser) -> None:
    d = browser
    wait = WebDriverWait(d, 60)
    sign_in(d, f"{live_server.url}/models/", "admin", live_server.admin_password, "vi")
    wait.until(lambda _: d.find_elements(By.CSS_SELECTOR, '#versions tr[data-version="1.6.0"] button'))
    # not compared: refused in Vietnamese with what to do on this page (not "run `cropwatch models compare`")
    d.execute_script("window.confirm = () => true")
    _row_button(d, "1.6.0", 1).click()
    wait.until(lambda _: d.find_element(By.ID, "error").text)
    assert "So sánh với bản đang phục vụ" in d.find_element(By.ID, "error").text
    assert "cropwatch" not in d.find_element(By.ID, "error").text
    # a forced switch: asked with the version and the reason, then the reason and the box cleared
    d.find_element(By.ID, "reason").send_keys("Thử nghiệm")
    d.find_element(By.ID, "force").click()
    d.execute_script("window._asked = []; window.confirm = (m) => { window._asked.push(m); return true; }")
    _row_button(d, "1.6.0", 1).click()
    wait.until(lambda _: "Đang phục vụ 1.6.0" in d.find_element(By.ID, "msg").text)
    asked = d.execute_script("return window._asked")
    assert len(asked) == 1 and "BUỘC" in asked[0] and "1.6.0" in asked[0] and "Thử nghiệm" in asked[0], asked
    assert d.find_element(By.ID, "reason").get_attribute("value") == "" and not d.find_element(By.ID, "force").is_selected()
    # the next click is an ordinary promotion again: asked, and refused (not compared), nothing switched
    d.execute_script("window.confirm = () => true")
    _row_button(d, "1.4.0", 1).click()
    wait.until(lambda _: d.find_element(By.ID, "error").text)
    active = httpx.get(f"{live_server.url}/v1/models/field_photo", headers=live_server.token()).json()
    assert active["version"] == "1.6.0", active
    # the history: day first, the action and "forced" in Vietnamese
    row = d.find_element(By.CSS_SELECTOR, "#history tbody tr").text
    assert "đưa vào phục vụ: 1.7.0 → 1.6.0 (buộc)" in row, row
    # declining the question switches nothing
    d.execute_script("window.confirm = () => false")
    d.find_element(By.ID, "rollback").click()
    assert httpx.get(f"{live_server.url}/v1/models/field_photo", headers=live_server.token()).json()["version"] == "1.6.0"
    d.execute_script("window.confirm = () => true")
    d.find_element(By.ID, "rollback").click()
    wait.until(lambda _: "Đang phục vụ 1.7.0" in d.find_element(By.ID, "msg").text)
