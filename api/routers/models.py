"""Served models: which bundle is active, and switching it without a restart."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from api.orm import Role
from api.schemas import ModelActivate
from api.security import CurrentAccount, require_roles
from inference.bundle import BundleError

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("/field_photo")
def active_photo_model(request: Request, _: CurrentAccount) -> dict:  # type: ignore[type-arg]
    """The active field-photo bundle and its accepted metrics."""
    holder = request.app.state.photo_models
    if holder.scorer is None:
        raise HTTPException(503, detail=f"no photo model is loaded: {holder.error}")
    meta = holder.scorer.model.meta
    return {"name": meta["model_name"], "version": meta["model_version"], "classes": meta["classes"],
            "metrics": {k: meta["metrics"].get(k) for k in ("accuracy", "macro_f1", "ece", "abstain")}}


@router.post("/field_photo/activate", dependencies=[Depends(require_roles(Role.admin, Role.agronomist))])
def activate_photo_model(data: ModelActivate, request: Request) -> dict:  # type: ignore[type-arg]
    """Serve another bundle version from now on (admin or agronomist); no restart."""
    if "/" in data.version or data.version.startswith("."):
        raise HTTPException(422, detail="version is a folder name under models/field_photo/, e.g. 1.0.0")
    try:
        scorer = request.app.state.photo_models.activate(data.version)
    except (BundleError, FileNotFoundError) as exc:
        raise HTTPException(404, detail=f"cannot activate {data.version}: {exc}") from exc
    return {"active": scorer.model.bundle.version}
