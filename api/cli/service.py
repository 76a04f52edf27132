"""`cropwatch serve`, `cropwatch worker` and `cropwatch db upgrade`."""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema (SQLite under the data dir by default)."""
    from sqlalchemy.engine import make_url

    from api.migrate import upgrade
    from api.settings import get_settings

    url = get_settings().resolved_database_url()
    upgrade(url, revision)
    typer.echo(f"database at {make_url(url).render_as_string(hide_password=True)} is at revision {revision}")


def serve(
    host: Annotated[str | None, typer.Option(help="default: CROPWATCH_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default: CROPWATCH_PORT or 8000")] = None,
    migrate: Annotated[bool, typer.Option(help="run `db upgrade` first")] = True,
    sample: Annotated[bool, typer.Option(help="load the sample areas, photos and flight into an empty database "
                                         "(api/data/sample; `make run` does)")] = False,
) -> None:
    """Serve the API and pages (http://127.0.0.1:8000, docs at /docs)."""
    import uvicorn

    from api.bootstrap import ensure_admin
    from api.settings import get_settings

    settings = get_settings()
    if migrate:
        db_upgrade("head")
    created = ensure_admin()
    if created:
        typer.secho(f"\nCreated the first admin account (shown only this once):\n  username: {created[0]}\n"
                    f"  password: {created[1]}\n", fg=typer.colors.YELLOW)
    if sample and created:
        typer.echo(f"sample: {load_sample()}")
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.host, port=port or settings.port)


def worker(
    concurrency: Annotated[int, typer.Option(help="jobs at once in this worker")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Start a Celery worker for drone analysis jobs (CROPWATCH_JOBS=celery, broker CROPWATCH_REDIS_URL)."""
    from api.celery_app import celery_app

    celery_app.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}", "--pool=prefork",
                            "-Q", "cropwatch", "--without-gossip", "--without-mingle"])


sample_app = typer.Typer(help="The sample data (made-up areas, CC BY photos, a synthetic flight).",
                         no_args_is_help=True)


def load_sample() -> dict:
    """Load the sample into the configured database (once); the photos are scored by the served model."""
    from sqlalchemy.orm import Session

    from api.db import get_engine
    from api.services import sample
    from api.services.model_registry import active_path
    from api.services.photos import TASK, make_scorer
    from api.settings import get_settings

    settings = get_settings()
    with Session(get_engine()) as session:
        scorer = make_scorer(active_path(session, TASK, settings.models_dir), settings)
        return sample.load(session, scorer)


@sample_app.command("load")
def sample_load() -> None:
    """Load the sample (nothing if it is already there); a running server analyses its flight."""
    typer.echo(load_sample())
