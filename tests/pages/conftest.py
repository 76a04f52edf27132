"""A real server (`cropwatch serve` on a free port, fresh SQLite) and a real headless Chromium (Debian's chromium
and chromedriver, driven by Selenium). Without the browser the page tests are skipped with the reason, unless
CROPWATCH_REQUIRE_SERVICES=1 (CI), where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from api.devserver import LiveServer, running_server

REQUIRE = os.environ.get("CROPWATCH_REQUIRE_SERVICES") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("live")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER):
        reason = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if REQUIRE:
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=390,844", "--lang=vi"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_window_size(390, 844)
    yield driver
    driver.quit()
