"""The sign-in every page test starts with: a fresh session on the page, in the given language, as `username`."""

from __future__ import annotations

from selenium.webdriver.common.by import By


def sign_in(d, url: str, username: str, password: str, lang: str | None = None) -> None:
    d.get(url)
    d.execute_script("sessionStorage.clear()" + (f"; localStorage.setItem('cw_lang', '{lang}')" if lang else ""))
    d.get(url)
    d.find_element(By.ID, "username").send_keys(username)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "#signin-form button").click()
