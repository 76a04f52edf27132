"""Served models: versions with their metrics and cards, which one is active, promotion (gated by a comparison on the
frozen benchmark), rollback and the audit trail. An activation is recorded in the database and reaches every API
process within CROPWATCH_MODEL_POLL_S seconds, without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from api.deps import CurrentAccount, ReviewerAccount, SessionDep, get_scorer
from api.errors import ERROR_RESPONSES
from api.schemas import (
    ModelActivate,
    ModelActivated,
    ModelActivationPublic,
    ModelCompare,
    ModelRollback,
    ModelVersionPublic,
    PhotoModelPublic,
)
from api.services import comparisons
from api.services import model_registry as registry
from api.settings import get_settings
from inference.errors import NotFound
from inference.photo import PhotoScorer

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("/field_photo", response_model=PhotoModelPublic)
def active_photo_model(_: CurrentAccount, scorer: PhotoScorer = Depends(get_scorer)) -> PhotoModelPublic:  # noqa: B008
    """The field-photo bundle this process serves now, and its accepted metrics."""
    meta = scorer.model.meta
    return PhotoModelPublic(name=meta["model_name"], version=meta["model_version"], classes=meta["classes"],
                            metrics=headline_metrics(meta.get("metrics") or {}))


def headline_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """accuracy, macro_f1, ece, abstain: a bundle's own (1.0-1.1), or a lesion-patch bundle's grouped 5-fold
    in-source figures (abstain = the share answered unsure; macro-F1 and accuracy of the likeliest disease, unsure
    answers included: `cropwatch models evaluate` counts unsure as wrong), with its leave-one-source-out macro-F1.
    They were all null for the bundles served since 1.2.0."""
    out = {k: m.get(k) for k in ("accuracy", "macro_f1", "ece", "abstain")}
    cv = (m.get("in_source_grouped_cv") or {}).get("all")
    if out["macro_f1"] is None and cv:
        out.update(accuracy=cv.get("accuracy"), macro_f1=cv.get("macro_f1"), ece=cv.get("ece"), abstain=cv.get("unsure"),
                   basis="in-source grouped 5-fold; macro-F1 and accuracy of the likeliest disease, unsure included")
        out["leave_one_source_out_macro_f1"] = {k: v.get("macro_f1") for k, v in
                                                (m.get("leave_one_source_out") or {}).items()}
    return out


@router.get("/{task}/versions", response_model=list[ModelVersionPublic])
def model_versions(task: str, _: CurrentAccount, session: SessionDep) -> list[ModelVersionPublic]:
    """Every bundle of a task (field_photo, drone_damage), newest first, with its metrics, files and which is
    active."""
    models_dir = get_settings().models_dir
    active = registry.active_version(session, registry.check_task(task), models_dir)
    return [ModelVersionPublic(**v) for v in registry.versions(task, models_dir, active)]


@router.get("/{task}/versions/{version}/files/{name}", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}, "text/markdown": {}}}})
def model_file(task: str, version: str, name: str, _: CurrentAccount) -> FileResponse:
    """A bundle's model card (MODEL_CARD.md, EVALUATION.md) or plot (*.png)."""
    registry.check_task(task)
    registry.check_version_name(version)
    path = get_settings().models_dir / task / version / name
    if "/" in name or name.startswith(".") or path.suffix not in (".md", ".png") or not path.is_file():
        raise NotFound(f"{task} {version} has no file {name!r}; GET /v1/models/{task}/versions lists them")
    return FileResponse(path, media_type="image/png" if path.suffix == ".png" else "text/markdown")


@router.post("/{task}/compare")
async def compare_models(task: str, data: ModelCompare, session: SessionDep, _: ReviewerAccount) -> dict[str, Any]:
    """Compare a candidate with the active version (or `version_a`) on the frozen benchmark through the served
    pipeline (agronomists, admins; about 10 s): the stored record the promotion gate reads, the printed report and
    the plots' names."""
    a = data.version_a or registry.active_version(session, registry.check_task(task), get_settings().models_dir)
    if a is None:
        raise NotFound(f"{task} has no active version to compare with; give version_a")
    session.rollback()  # no connection held while ~100 photos are scored twice
    result = await run_in_threadpool(comparisons.compare, task, a, data.version_b)
    return {**result.record, "report": result.lines, "plots": sorted(p.name for p in result.plots.glob("*.png"))}


@router.get("/{task}/comparisons/{version_a}/{version_b}")
def stored_comparison(task: str, version_a: str, version_b: str, _: CurrentAccount) -> dict[str, Any]:
    """A stored comparison of two versions, with the names of its plots."""
    return comparisons.stored(task, version_a, version_b)


@router.get("/{task}/comparisons/{version_a}/{version_b}/{name}", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}})
def comparison_plot(task: str, version_a: str, version_b: str, name: str, _: CurrentAccount) -> FileResponse:
    """A plot of a stored comparison (outcomes.png, coverage_accuracy.png, confusion_<version>.png)."""
    rec = comparisons.stored(task, version_a, version_b)
    if name not in rec["plots"]:
        raise NotFound(f"no plot {name!r}; this comparison has: {', '.join(rec['plots'])}")
    path = registry.comparison_path(get_settings().data_dir, task, version_a, version_b).with_suffix("") / name
    return FileResponse(path, media_type="image/png")


@router.get("/{task}/activations", response_model=list[ModelActivationPublic])
def model_activations(task: str, _: CurrentAccount, session: SessionDep) -> list[ModelActivationPublic]:
    """Who switched the served model, when, from which version to which, and why (newest first)."""
    return [ModelActivationPublic.model_validate(r) for r in registry.history(session, registry.check_task(task))]


@router.post("/{task}/activate", response_model=ModelActivated)
def activate_model(task: str, data: ModelActivate, request: Request, session: SessionDep,
                   account: CurrentAccount) -> ModelActivated:
    """Promote a version (admins, or agronomists with the right to promote). Refused (409) unless it was compared
    with the active version on the frozen benchmark (`cropwatch models compare`) and is not worse on any source or
    class; `force` with a reason promotes anyway. Every server serves it within seconds."""
    registry.require_promoter(account)
    settings = get_settings()
    row = registry.promote(session, task, data.version, settings.models_dir, settings.data_dir, actor=account.username,
                           account_id=account.id, reason=data.reason, force=data.force)
    _serve_now(request, task, row.version)
    return ModelActivated(active=row.version, previous=row.previous_version, activation_id=row.id)


@router.post("/{task}/rollback", response_model=ModelActivated)
def rollback_model(task: str, data: ModelRollback, request: Request, session: SessionDep,
                   account: CurrentAccount) -> ModelActivated:
    """Serve again the version served before the newest switch (admins, or agronomists with the right)."""
    registry.require_promoter(account)
    row = registry.rollback(session, task, get_settings().models_dir, actor=account.username, account_id=account.id,
                            reason=data.reason)
    _serve_now(request, task, row.version)
    return ModelActivated(active=row.version, previous=row.previous_version, activation_id=row.id)


def _serve_now(request: Request, task: str, version: str) -> None:
    """This process switches at once; the others at their next poll (drone jobs resolve the model per job)."""
    if task == "field_photo":
        request.app.state.photo_models.sync(version)
