"""Shared fixtures: the records database on SQLite and on the real PostgreSQL server, and an API client.

PostgreSQL is named by CROPWATCH_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test). Without
it the PostgreSQL half of the suite is skipped with that reason; with CROPWATCH_REQUIRE_SERVICES=1 (set by .ci/run) a
missing server fails the run instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="cropwatch-tests-"))
os.environ.setdefault("CROPWATCH_DATA_DIR", str(_TMP / "data"))
os.environ.setdefault("CROPWATCH_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
# photos are scored in the server's own threads, where tests can watch and replace the scorer; the worker processes
# that serve them by default are tested in tests/api/test_scoring_pool.py
os.environ.setdefault("CROPWATCH_SCORING_PROCESSES", "0")

import pytest  # noqa: E402

from datasets.field_photos import SHARED_DIR  # noqa: E402

if not (SHARED_DIR / "data").is_dir():  # say it once, rather than fail 54 tests on missing files
    pytest.exit(f"the shared data and schemas are not at {SHARED_DIR}: clone the repository beside ../shared, or name "
                "the folder: CROPWATCH_SHARED_DIR=/path/to/shared make test", returncode=4)
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from api.db import get_session, make_engine  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from api.orm import Account, Base, Role  # noqa: E402
from api.security import hash_password  # noqa: E402

PG_ENV = "CROPWATCH_TEST_POSTGRES_URL"
REQUIRE = os.environ.get("CROPWATCH_REQUIRE_SERVICES") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (CROPWATCH_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


def _fresh_postgres(url: str) -> Engine:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # noqa: BLE001
        _skip_or_fail(f"PostgreSQL at {PG_ENV} is not reachable: {exc}")
    return engine


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database: SQLite in a temp dir, or the PostgreSQL server (schema dropped first)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        upgrade(url)
        return url
    url = os.environ.get(PG_ENV)
    if not url:
        _skip_or_fail(f"{PG_ENV} is not set: no PostgreSQL server named for the records tests")
    _fresh_postgres(url).dispose()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A sessionmaker on an emptied database (all rows deleted before the test)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield sessionmaker(bind=engine, expire_on_commit=False)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(text(f"SELECT count(*) FROM {t.name}")).scalar_one() for t in Base.metadata.sorted_tables}


@pytest.fixture
def service_db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the whole service (start-up job recovery and jobs included) at the test database and a fresh data
    directory; returns the data directory."""
    from api.db import _sessionmaker, get_engine
    from api.settings import get_settings

    s = get_settings()
    monkeypatch.setattr(s, "database_url", db_url)
    monkeypatch.setattr(s, "data_dir", tmp_path / "data")
    get_engine.cache_clear()
    _sessionmaker.cache_clear()
    yield tmp_path / "data"
    get_engine.cache_clear()
    _sessionmaker.cache_clear()


@pytest.fixture
def client(db: sessionmaker[Session], service_db: Path) -> Iterator[TestClient]:
    yield from api_client(db)


def api_client(db: sessionmaker[Session]) -> Iterator[TestClient]:
    """The app (started: models loaded, jobs recovered) on the test database, through a TestClient."""
    from api.app import create_app
    from api.services.accounts import login_throttle

    login_throttle.cache_clear()  # sign-in failures of earlier tests do not count against this one
    app = create_app()

    def _session() -> Iterator[Session]:
        s = db()
        try:
            yield s
        finally:
            s.close()

    app.dependency_overrides[get_session] = _session
    with TestClient(app) as c:
        yield c


def make_account(
    db: sessionmaker[Session], username: str, role: Role, password: str = "correct horse 42", **kw: str
) -> Account:
    with db() as s:
        acc = Account(username=username, role=role, password_hash=hash_password(password), full_name=username, **kw)
        s.add(acc)
        s.commit()
        return acc


def token_for(client: TestClient, username: str, password: str = "correct horse 42") -> dict[str, str]:
    r = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def admin(client: TestClient, db: sessionmaker[Session]) -> dict[str, str]:
    make_account(db, "admin", Role.admin)
    return token_for(client, "admin")
