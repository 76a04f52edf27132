"""Served models: which bundle is active, and switching it without a restart."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.deps import CurrentAccount, get_scorer, require_roles
from api.errors import ERROR_RESPONSES
from api.orm import Role
from api.schemas import ModelActivate, ModelActivated, PhotoModelPublic
from inference.photo import PhotoScorer

router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("/field_photo", response_model=PhotoModelPublic)
def active_photo_model(_: CurrentAccount, scorer: PhotoScorer = Depends(get_scorer)) -> PhotoModelPublic:  # noqa: B008
    """The active field-photo bundle and its accepted metrics."""
    meta = scorer.model.meta
    return PhotoModelPublic(name=meta["model_name"], version=meta["model_version"], classes=meta["classes"],
                            metrics={k: meta["metrics"].get(k) for k in ("accuracy", "macro_f1", "ece", "abstain")})


@router.post("/field_photo/activate", response_model=ModelActivated,
             dependencies=[Depends(require_roles(Role.admin, Role.agronomist))])
def activate_photo_model(data: ModelActivate, request: Request) -> ModelActivated:
    """Serve another bundle version from now on (admin or agronomist); no restart."""
    scorer = request.app.state.photo_models.activate(data.version)
    return ModelActivated(active=scorer.model.bundle.version)
