"""A real `cropwatch serve` on a free localhost port with a fresh SQLite database: for the page tests, the API load
benchmark and demonstrations. Needs httpx (the dev extra)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, url: str, admin_password: str, data_dir: Path, pid: int | None = None) -> None:
        self.url, self.admin_password, self.data_dir = url, admin_password, data_dir
        self.pid = pid  # the server process (for a profiler or a CPU-time reading)

    def token(self, username: str = "admin", password: str | None = None) -> dict[str, str]:
        import httpx

        r = httpx.post(f"{self.url}/v1/auth/token", data={"username": username,
                                                          "password": password or self.admin_password})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def running_server(data_dir: Path, database_url: str | None = None,
                   args: tuple[str, ...] = ()) -> Iterator[LiveServer]:
    """Start the service on a free port with `data_dir` (SQLite there, or `database_url`: an empty database), wait
    for /health, read the first admin's password from its output; stop it on exit."""
    import httpx

    port = free_port()
    env = {**os.environ, "CROPWATCH_DATA_DIR": str(data_dir), "CROPWATCH_PORT": str(port)}
    env.pop("CROPWATCH_DATABASE_URL", None)
    if database_url:
        env["CROPWATCH_DATABASE_URL"] = database_url
    env.pop("CROPWATCH_SECRET_KEY", None)
    log_path = data_dir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(log_path.read_text())
                time.sleep(0.5)
            text = log_path.read_text()
            m = re.search(r"password: (\S+)", text)
            if m is None:
                raise RuntimeError(f"the server printed no admin password:\n{text}")
            yield LiveServer(url, m.group(1), data_dir, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
