"""The class registry (/v1/labels) and agronomists' review of farmers' corrections (/v1/review)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import CurrentAccount, IdPath, ReviewerAccount, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas import (
    LabelCreate,
    LabelProbability,
    LabelPublic,
    ReviewCreate,
    ReviewFarmerLabel,
    ReviewModelAnswer,
    ReviewPublic,
    ReviewQueue,
    ReviewQueueItem,
    ReviewSeverity,
)
from api.services import labels, review
from api.services.photos import measured_severity, visible_photo

router = APIRouter(tags=["labels and review"], responses=ERROR_RESPONSES)


@router.get("/v1/labels", response_model=list[LabelPublic])
def list_labels(session: SessionDep, account: CurrentAccount, request: Request,
                include_hidden: bool = False) -> list[LabelPublic]:
    """Every label a photo may be given, with its names in Vietnamese and English and its kind."""
    known = request.app.state.photo_models.classes
    reg = labels.registry(session, known)
    return [LabelPublic(**vars(lab), in_model=lab.name in known) for lab in reg.values()
            if lab.active or include_hidden]


@router.post("/v1/labels", response_model=LabelPublic, status_code=201)
def add_label(data: LabelCreate, session: SessionDep, account: ReviewerAccount) -> LabelPublic:
    """Add a label to the registry (agronomists and admins): a new disease or pest farmers can then name."""
    lab = labels.add_label(session, data.name, data.kind, data.name_vi, data.name_en, account.username)
    return LabelPublic(**vars(lab))


@router.get("/v1/review/queue", response_model=ReviewQueue)
def review_queue(session: SessionDep, account: ReviewerAccount,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ReviewQueue:
    """Photos to review: a farmer disagreeing first, then a farmer unsure, then the model unsure; within each, the
    model's least confident answers first."""
    items, n = review.queue(session, account, limit)
    return ReviewQueue(queued=n, items=[_item(r) for r in items])


def _item(r: review.Ranked) -> ReviewQueueItem:
    d = r.obs.scores.get("diagnosis", {})
    measured, sev = measured_severity(r.obs), r.obs.scores.get("severity") or {}
    fb = None
    if r.feedback is not None:
        f, user = r.feedback
        fb = ReviewFarmerLabel(label=f.label, other_name=f.other_name, comment=f.comment, by=user,
                               created_at=f.created_at)
    return ReviewQueueItem(
        photo_id=r.obs.id, area_code=r.area_code, observed_at=r.obs.observed_at,
        image_url=f"/v1/photos/{r.obs.id}/image", thumbnail_url=f"/v1/photos/{r.obs.id}/thumbnail",
        lesions_url=f"/v1/photos/{r.obs.id}/lesions.jpg" if measured else None,
        severity=ReviewSeverity(affected_pct=sev["affected_pct"], ses=sev["ses"], segmentation=sev.get("segmentation"))
        if measured else None, reason=r.reason,
        model=ReviewModelAnswer(label=d.get("label"), status=d.get("status"), confidence=d.get("confidence"),
                                version=r.obs.model_version,
                                top2=[LabelProbability(**p) for p in review.top2(r.obs.scores)]),
        farmer=fb, device=r.obs.device)


@router.post("/v1/review/photos/{photo_id}", response_model=ReviewPublic, status_code=201)
def review_photo(photo_id: IdPath, data: ReviewCreate, session: SessionDep, account: ReviewerAccount,
                 request: Request) -> ReviewPublic:
    """Confirm, correct or reject a photo's label; the newest review counts."""
    obs, _ = visible_photo(session, account, photo_id)
    row = review.review(session, account, obs, data.action, data.label, data.note, request.app.state.photo_models.classes,
                        data.only_if_unreviewed)
    return ReviewPublic(id=row.id, photo_id=obs.id, action=row.action, label=row.label, note=row.note,
                        by=account.username, created_at=row.created_at)


@router.get("/v1/review/stats")
def review_stats(session: SessionDep, account: ReviewerAccount) -> dict[str, Any]:
    """Confirmed examples per label and source (phone model), reviews per reviewer, and the queue's length."""
    return review.stats(session, account)


@router.get("/v1/review/log")
def review_log(session: SessionDep, _: ReviewerAccount,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Who reviewed what, newest first."""
    return review.log(session, limit)
