"""Which model version every server serves, and who switched it.

An activation is a row in the database (task, version, the version before, who, when, why, whether it was forced
past a failed comparison); the newest row of a task names the served version. The models folder's ACTIVE file is
only the default of a database with no activation yet, and is kept in step when it can be written. Every API process
polls the database (`ModelWatcher`, every `CROPWATCH_MODEL_POLL_S` seconds) and every drone job resolves the active
damage model when it starts, so a switch from the CLI or the API reaches all of them without a restart.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import Account, ModelActivation, Role
from inference.bundle import Bundle, BundleError, active_file, load_bundle
from inference.errors import BadInput, Conflict, Forbidden, NotFound

log = logging.getLogger("cropwatch.models")
TASKS = ("field_photo", "drone_damage")


def check_task(task: str) -> str:
    if task not in TASKS:
        raise NotFound(f"no model task {task!r}; the tasks are {', '.join(TASKS)}")
    return task


def check_version_name(version: str) -> str:
    if not version or "/" in version or "\\" in version or version.startswith(".") or len(version) > 64:
        raise BadInput("version is a folder name under models/<task>/, e.g. 1.2.0")
    return version


# what a bundle's model.json says it is, for each task it may serve
BUNDLE_TASKS = {"field_photo": ("classification", "lesion_patch_classification"), "drone_damage": ("segmentation",)}


def check_servable(task: str, path: Path) -> Bundle:
    """BundleError unless the bundle at `path` is a model of `task` that loads as the service loads it: a drone
    bundle copied under field_photo was activated, the server kept the old model and logged a KeyError every
    second."""
    b = load_bundle(path)
    if b.meta.get("task") not in BUNDLE_TASKS[task]:
        raise BundleError(f"{path.name} is a {b.meta.get('task')} bundle ({b.meta.get('model_name')}), not a "
                          f"{task} model")
    try:
        if task == "field_photo":
            from inference.lesion_patch_model import load_photo_model

            load_photo_model(b, threads=1)
        else:
            from inference.drone import DamageModel

            DamageModel(path)
    except Exception as exc:  # noqa: BLE001 - whatever stops it loading, said as the bundle's fault
        raise BundleError(f"{path.name} does not load as a {task} model: {type(exc).__name__}: {exc}") from exc
    return b


def quick_subset(meta: dict[str, Any]) -> str | None:
    """The warning of a bundle (its model.json) trained on a quick subset (max_images: "no candidate to serve"), or
    None."""
    warnings = (meta.get("training") or {}).get("warnings") or []
    return next((str(w) for w in warnings if "quick subset" in str(w)), None)


def require_bundle(task: str, version: str, models_dir: Path) -> Bundle:
    """404 unless models/<task>/<version> is a complete, unmodified bundle of the task that loads."""
    check_task(task)
    check_version_name(version)
    try:
        return check_servable(task, models_dir / task / version)
    except (BundleError, FileNotFoundError) as exc:
        have = sorted((m.parent.name for m in (models_dir / task).glob("*/model.json")), key=version_key)
        why = str(exc).replace(str(models_dir), "models")  # the server's own folders are nobody's business
        raise NotFound(f"cannot activate {task} {version}: {why}; the {task} versions here: {', '.join(have)}") from exc


def latest_activation(session: Session, task: str) -> ModelActivation | None:
    return session.scalars(select(ModelActivation).where(ModelActivation.task == task)
                           .order_by(ModelActivation.id.desc()).limit(1)).first()


def active_version(session: Session, task: str, models_dir: Path) -> str | None:
    """The version named by the newest activation, else by the models folder's ACTIVE file, else None."""
    row = latest_activation(session, task)
    if row is not None:
        return row.version
    f = active_file(task, models_dir)
    return f.read_text().strip() if f.exists() else None


def active_path(session: Session, task: str, models_dir: Path) -> Path:
    version = active_version(session, task, models_dir)
    if version is None:
        raise BundleError(f"no active {task} model: no activation recorded and {active_file(task, models_dir)} "
                          "is missing")
    return models_dir / task / version


def history(session: Session, task: str, limit: int = 100) -> list[ModelActivation]:
    return list(session.scalars(select(ModelActivation).where(ModelActivation.task == task)
                                .order_by(ModelActivation.id.desc()).limit(limit)))


def may_promote(account: Account) -> bool:
    """Admins, and agronomists an admin gave the right to promote."""
    return account.role is Role.admin or (account.role is Role.agronomist and account.can_promote)


def require_promoter(account: Account) -> Account:
    if not may_promote(account):
        raise Forbidden("switching a served model needs an admin, or an agronomist an admin gave the right to "
                        "promote (POST /v1/accounts/USERNAME/promote-right, as an admin)", reason="model_no_right")
    return account


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def current_benchmark(task: str) -> str | None:
    """The id of the task's frozen benchmark (None for a task without one yet: drone_damage)."""
    from datasets.benchmark import DEFAULT_BENCHMARK, benchmark_id, benchmark_path

    name = DEFAULT_BENCHMARK.get(task)
    return benchmark_id(benchmark_path(name)) if name and benchmark_path(name).exists() else None


HEADLINE_METRICS = ("accuracy", "macro_f1", "ece", "leave_one_source_out", "leave_one_class_out", "leave_one_domain_out",
                    "in_source_grouped_cv", "held_out_scenes")


def versions(task: str, models_dir: Path, active: str | None) -> list[dict[str, Any]]:
    """Every bundle folder of `task` with its headline metrics and files, newest first."""
    out = []
    for d in sorted((models_dir / check_task(task)).glob("*/model.json")):
        try:
            meta = json.loads(d.read_text())
            if not isinstance(meta, dict):
                raise ValueError("no JSON object")
        except (ValueError, UnicodeDecodeError) as exc:  # one broken folder must not hide the others (a 500)
            out.append({"version": d.parent.name, "active": d.parent.name == active, "architecture": None,
                        "metrics": {}, "files": [], "error": f"model.json is not valid JSON: {exc}"})
            continue
        m = meta.get("metrics", {})
        out.append({"version": d.parent.name, "active": d.parent.name == active, "architecture": meta.get("architecture"),
                    "metrics": {k: m[k] for k in HEADLINE_METRICS if k in m},
                    "files": sorted(p.name for p in d.parent.iterdir() if p.suffix in (".md", ".png")),
                    "warning": quick_subset(meta)})
    return sorted(out, key=lambda v: version_key(v["version"]), reverse=True)


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """1.10.0 after 1.9.0: numeric parts compare as numbers."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-+]", version))


def comparison_path(data_dir: Path, task: str, active: str, candidate: str, benchmark: str | None = None) -> Path:
    """Where a comparison is kept: the promotion gate reads the one on the task's frozen benchmark; one on another
    benchmark (`compare --benchmark`) is kept beside it under that benchmark's id, so it never replaces it."""
    tag = "@" + re.sub(r"[^\w.@-]", "_", benchmark) if benchmark else ""
    return data_dir / "comparisons" / task / f"{active}__{candidate}{tag}.json"


def save_comparison(data_dir: Path, task: str, active: str, candidate: str, record: dict[str, Any],
                    benchmark: str | None = None) -> Path:
    """Written whole or not at all (a temporary file renamed); `benchmark`: kept apart (comparison_path)."""
    path = comparison_path(data_dir, task, active, candidate, benchmark)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path


def promotion_gate(data_dir: Path, task: str, active: str | None, candidate: str, benchmark: str | None,
                   force: bool, reason: str | None) -> dict[str, Any] | None:
    """Refuse a candidate that was not compared with the active version on the current frozen benchmark, or that
    is worse on a source or class; `force` with a reason promotes anyway. Returns the comparison's summary."""
    if force and not (reason and reason.strip()):
        raise BadInput("a forced promotion needs a reason (it is recorded with the activation)",
                       reason="model_force_needs_reason")
    if active is None or active == candidate or benchmark is None:
        return None
    path = comparison_path(data_dir, task, active, candidate)
    record = json.loads(path.read_text()) if path.exists() else None
    fix = f"cropwatch models compare {task} {active} {candidate}"
    if record is None or record.get("benchmark") != benchmark:
        if force:
            return None
        raise Conflict(f"{candidate} has not been compared with the active {active} on {benchmark}: run `{fix}`, "
                       "or force with a reason", reason="model_not_compared")
    summary = {k: record[k] for k in ("benchmark", "margin", "regressions", "created_at") if k in record}
    if record["regressions"] and not force:
        raise Conflict(f"{candidate} is worse than the active {active} on {benchmark}: "
                       + "; ".join(record["regressions"]) + ". Force with a reason to promote it anyway",
                       reason="model_worse")
    return summary


def promote(session: Session, task: str, version: str, models_dir: Path, data_dir: Path, *, actor: str,
            account_id: int | None = None, reason: str | None = None, force: bool = False) -> ModelActivation:
    """The whole promotion, for the CLI and the API alike: the bundle checked (404), the comparison gate (409, or
    422 for a forced one without a reason), then the switch recorded."""
    subset = quick_subset(require_bundle(task, version, models_dir).meta)
    if subset and not force:
        raise Conflict(f"{task} {version} was {subset}; train it on the full data, or force with a reason",
                       reason="model_quick_subset")
    current = active_version(session, task, models_dir)
    if version == current:  # a switch to itself would be recorded, and a rollback would then "roll back" nothing
        raise Conflict(f"{task} {version} is already the active version; nothing to switch",
                       reason="model_already_active")
    summary = promotion_gate(data_dir, task, current, version, current_benchmark(task), force, reason)
    return _record(session, task, version, current, models_dir, actor=actor, account_id=account_id, reason=reason,
                   forced=force, comparison=summary)


def rollback(session: Session, task: str, models_dir: Path, *, actor: str, account_id: int | None = None,
             reason: str | None = None) -> ModelActivation:
    """Undo the newest activation not undone yet: serve the version that was served before it. The switches are a
    stack: an activation pushes the version it replaced, a rollback pops one, so rolling back twice walks two
    activations back (until 2026-11-30 a second rollback undid the first and brought back the version it had taken
    out of service, a forced one included, with no reason asked)."""
    check_task(task)
    rows = session.scalars(select(ModelActivation).where(ModelActivation.task == task)
                           .order_by(ModelActivation.id)).all()
    stack: list[str] = []
    for r in rows:
        if r.action == "rollback":
            if stack:
                stack.pop()
        elif r.previous_version is not None:
            stack.append(r.previous_version)
    if not rows or not stack:
        raise Conflict(f"nothing to roll back to: no earlier {task} version is recorded" if not rows else
                       f"nothing to roll back to: every {task} activation has been rolled back; activate a version "
                       "instead", reason="model_nothing_to_roll_back")
    current = rows[-1].version
    require_bundle(task, stack[-1], models_dir)
    return _record(session, task, stack[-1], current, models_dir, actor=actor, account_id=account_id,
                   reason=reason or f"rollback of {current}", action="rollback")


def _record(session: Session, task: str, version: str, previous: str | None, models_dir: Path, *, actor: str,
            account_id: int | None, reason: str | None, action: str = "activate", forced: bool = False,
            comparison: dict[str, Any] | None = None) -> ModelActivation:
    """Write the switch of a checked bundle; the servers pick it up at their next poll. Only the database changes:
    the models folder's ACTIVE file is the shipped default of a database with no activation, and rewriting it made
    every scratch server or test database that activated a version change the code checkout (a commit took 1.6.0
    along on 2026-12-02)."""
    row = ModelActivation(task=task, version=version, previous_version=previous, action=action, actor=actor,
                          account_id=account_id, reason=reason, forced=forced, comparison=comparison)
    session.add(row)
    session.commit()
    return row


class ModelWatcher:
    """A daemon thread that asks the database for the active version of `task` every `interval_s` seconds and
    calls `on_change(version)` when it differs from the last one seen."""

    def __init__(self, task: str, session_factory: Callable[[], Session], models_dir: Path,
                 on_change: Callable[[str], None], interval_s: float) -> None:
        self.task, self.session_factory, self.models_dir = task, session_factory, models_dir
        self.on_change, self.interval_s = on_change, interval_s
        self.seen: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"model-watcher-{task}", daemon=True)

    def read(self) -> str | None:
        with self.session_factory() as session:
            return active_version(session, self.task, self.models_dir)

    def current(self) -> str | None:
        """The database's active version now (None: no activation and no ACTIVE file, or no database yet)."""
        try:
            return self.read()
        except Exception:  # noqa: BLE001 - an unmigrated database: the ACTIVE file decides until it is migrated
            log.exception("model watcher for %s: cannot read the active version", self.task)
            return None

    def start(self, current: str | None) -> None:
        self.seen = current
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def poll(self) -> None:
        version = self.read()
        if version is not None and version != self.seen:
            self.on_change(version)
            self.seen = version

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a database hiccup or a broken bundle must not kill the watcher
                log.exception("model watcher for %s: poll failed; serving %s", self.task, self.seen)
