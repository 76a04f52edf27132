"""Deployment settings, read from the environment (prefix ``CROPWATCH_``) through one class."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything that differs between deployments. No model hyper-parameters live here."""

    model_config = SettingsConfigDict(env_prefix="CROPWATCH_", extra="ignore")

    data_dir: Path = Field(default=REPO_ROOT / "var", description="Uploaded files, results and the SQLite database.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite at DATA_DIR/cropwatch.sqlite3 (WAL mode)."
    )
    secret_key: str | None = Field(
        default=None, description="Signs access tokens; default: a random key kept in DATA_DIR/secret_key."
    )
    token_ttl_minutes: int = 12 * 60
    login_window_s: float = Field(default=900, description="Sign-in failures are counted over this many seconds.")
    login_max_failures_per_account: int = Field(default=5, description="Failed sign-ins per account in the window.")
    login_max_failures_per_address: int = Field(default=30, description="Failed sign-ins per client address.")
    area_code_pattern: str = Field(
        default=r"^[A-Z]{2}-[A-Z0-9]{2,8}-\d{4}$",
        description="Planting-area code: country, province/unit code, 4-digit serial, e.g. VN-STOR-0001.",
    )
    max_overlap_share: float = Field(default=0.01, description="Largest overlap with another owner's area, as a "
                                     "share of the smaller area.")
    max_boundary_vertices: int = Field(default=20_000, description="Most positions in one area boundary.")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, description="Largest accepted vector upload.")
    max_photo_bytes: int = Field(default=25 * 1024 * 1024, description="Largest accepted photo upload.")
    max_photo_pixels: int = Field(default=50_000_000, description="Largest accepted photo, in pixels (header).")
    photo_model_threads: int | None = Field(default=None, ge=1, le=64, description="onnxruntime threads per photo "
                                            "(unset: one in a scoring process, else onnxruntime's own choice, every "
                                            "core)")
    photo_overlap: bool = Field(default=True, description="score a photo on two threads: the network beside the leaf "
                                "analysis (inference.photo.PhotoScorer.overlap; the same result). false: one thread")
    scoring_processes: int | None = Field(default=None, ge=0, le=256, description="worker processes that score "
                                          "uploaded photos (api/scoring.py; unset: one per core this process may "
                                          "use, cgroup CPU quota included; 0: score in the server's own threads)")
    scoring_slots: int | None = Field(default=None, ge=1, le=256, description="uploads scored at once by one API "
                                      "process; more wait their turn, holding no thread and no database connection "
                                      "(unset: two per scoring process, or without them one per core)")
    scoring_wait_s: float = Field(default=60.0, gt=0, le=3600, description="an upload that finds no scoring slot "
                                  "free for this long is answered 503 with Retry-After, nothing stored")
    models_dir: Path = Field(default=REPO_ROOT / "models", description="Model bundles and their ACTIVE files.")
    model_poll_s: float = Field(default=1.0, gt=0, le=60, description="how often each API process asks the database "
                                "which model version to serve (an activation reaches every process within this)")
    promotion_margin: float = Field(default=0.02, ge=0, le=1, description="a candidate model is refused when it is "
                                    "worse than the active one by more than this on any source or class")
    jobs: str = Field(default="local", pattern="^(local|celery)$",
                      description="local: the service's own worker pool; celery: Celery workers over Redis")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker (CROPWATCH_JOBS=celery)")
    celery_visibility_s: int = Field(default=3600, description="Redis hands an unacknowledged job to another worker "
                                     "after this many seconds")
    job_workers: int = Field(default=1, description="analyses run at once in local mode")
    max_flight_bytes: int = Field(default=20 * 1024**3, description="largest orthomosaic upload")
    max_flight_pixels: int = Field(default=2_000_000_000, description="largest orthomosaic, in pixels (header)")
    job_time_limit_s: int = Field(default=3 * 3600, description="a drone analysis running longer is stopped")
    public_base_url: str | None = Field(default=None, description="the address buyers reach the service at, e.g. "
                                        "https://cropwatch.soctrang.gov.vn: the traceability stamps' QR codes point "
                                        "there (default: the address of the request; the stamps command needs it)")
    time_zone: str = Field(default="Asia/Ho_Chi_Minh", description="zone of times given without one (spray log)")
    unlisted_products: str = Field(default="refuse", pattern="^(refuse|flag)$", description="a spray record whose "
                                   "product is not on the permitted-products list: refused, or stored with a flag")
    host: str = "127.0.0.1"
    port: int = 8000

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'cropwatch.sqlite3'}"

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            tmp.replace(path)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
