"""A real server (`cropwatch serve` on a free port, fresh SQLite) and a real headless Chromium (Debian's chromium
and chromedriver, driven by Selenium). Without the browser the page tests are skipped with the reason, unless
CROPWATCH_REQUIRE_SERVICES=1 (CI), where they fail."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REQUIRE = os.environ.get("CROPWATCH_REQUIRE_SERVICES") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, url: str, admin_password: str, data_dir: Path) -> None:
        self.url, self.admin_password, self.data_dir = url, admin_password, data_dir

    def token(self, username: str = "admin", password: str | None = None) -> dict[str, str]:
        r = httpx.post(f"{self.url}/v1/auth/token", data={"username": username,
                                                          "password": password or self.admin_password})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live")
    port = _free_port()
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(data_dir), "CROPWATCH_PORT": str(port)}
    env.pop("CROPWATCH_DATABASE_URL", None)
    env.pop("CROPWATCH_SECRET_KEY", None)
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError((data_dir / "server.log").read_text())
            time.sleep(0.5)
        text = (data_dir / "server.log").read_text()
        m = re.search(r"password: (\S+)", text)
        assert m, text
        yield LiveServer(url, m.group(1), data_dir)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


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
