"""Agronomists' review of farmers' corrections: a queue ranked by disagreement, then uncertainty; confirm, correct
or reject in one call; counts of confirmed examples per class and source; who reviewed what. Only the newest review
of a photo counts, and only confirmed or corrected labels are exported for training."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.orm import Account, GrowingArea, Observation, PhotoFeedback, PhotoReview
from api.security import visible_areas
from api.services import labels
from api.services.area_status import refused_photo_sql
from api.services.photos import feedback_with_authors
from inference.errors import BadInput, Conflict

QUEUE_SCAN = 5000  # newest unreviewed photos looked at when ranking the queue
UNKNOWN_DEVICE = "unknown phone"
# queue order: a farmer who disagrees (a diagnosis answered with another label, or with a name the list lacks), a
# farmer unsure or naming something else where the model was unsure too, the model unsure, the rest
REASONS = ("disagreement", "farmer_unsure", "model_unsure", "agreement")


def latest_reviews() -> Any:
    """A subquery: the newest review id of each photo."""
    return select(func.max(PhotoReview.id).label("id")).group_by(PhotoReview.observation_id).subquery()


def reviewed_labels(session: Session, obs_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """The newest review of each of these photos that has one: (action, label), label None when rejected. What an
    agronomist decided stands over the model's diagnosis in the weekly report and the record book."""
    out: dict[int, tuple[str, str | None]] = {}
    newest = latest_reviews()
    for i in range(0, len(obs_ids), 900):  # SQLite's limit on bound parameters
        q = (select(PhotoReview.observation_id, PhotoReview.action, PhotoReview.label)
             .join(newest, newest.c.id == PhotoReview.id)
             .where(PhotoReview.observation_id.in_(obs_ids[i:i + 900])))
        out.update({o: (a, lab) for o, a, lab in session.execute(q).all()})
    return out


def latest_feedback(session: Session, obs_ids: list[int]) -> dict[int, tuple[PhotoFeedback, str]]:
    """The newest feedback of each photo with the username of who gave it."""
    return {fb.observation_id: (fb, user) for fb, user in feedback_with_authors(session, obs_ids)}


def top2(scores: dict[str, Any]) -> list[dict[str, Any]]:
    probs = scores.get("diagnosis", {}).get("probabilities") or {}
    return [{"label": k, "probability": round(float(v), 4)} for k, v in sorted(probs.items(), key=lambda kv: -kv[1])[:2]]


@dataclass
class Ranked:
    obs: Observation
    area_code: str
    reason: str
    confidence: float
    feedback: tuple[PhotoFeedback, str] | None


def _reason(obs: Observation, fb: PhotoFeedback | None, reg: dict[str, labels.Label]) -> str | None:
    d = obs.scores.get("diagnosis", {})
    if fb is not None:
        kind = reg[fb.label].kind if fb.label in reg else "other"
        if kind == "other" and d.get("status") == "diagnosed":
            return "disagreement"  # "wrong, it is <a name the list lacks>" against a named disease
        if kind in ("unsure", "other"):
            return "farmer_unsure"
        return "agreement" if fb.label == d.get("label") else "disagreement"
    return "model_unsure" if d.get("status") == "unsure" else None


def queue(session: Session, account: Account | None, limit: int = 50) -> tuple[list[Ranked], int]:
    """Unreviewed photos with feedback or an unsure answer, disagreement first, then by the model's confidence
    (lowest first). Returns (the first `limit`, how many are queued). `account` None: every area's photos (the
    command line's count of photos waiting)."""
    reviewed = select(PhotoReview.observation_id)
    q = (select(Observation, GrowingArea.code).join(GrowingArea, Observation.area_id == GrowingArea.id)
         .where(Observation.source == "photo", Observation.id.not_in(reviewed)))
    if account is not None:
        q = visible_areas(q, account)
    q = q.order_by(Observation.id.desc()).limit(QUEUE_SCAN)
    rows = session.execute(q).all()
    fbs = latest_feedback(session, [o.id for o, _ in rows])
    reg = labels.registry(session)
    ranked = []
    for obs, code in rows:
        fb = fbs.get(obs.id)
        reason = _reason(obs, fb[0] if fb else None, reg)
        if reason is not None:
            conf = float(obs.scores.get("diagnosis", {}).get("confidence") or 0.0)
            ranked.append(Ranked(obs, code, reason, conf, fb))
    ranked.sort(key=lambda r: (REASONS.index(r.reason), r.confidence, -r.obs.id))
    return ranked[:limit], len(ranked)


def review(session: Session, account: Account, obs: Observation, action: str, label: str | None,
           note: str | None, model_classes: set[str], only_if_unreviewed: bool = False) -> PhotoReview:
    """Record a review. confirm: the given label, else the farmer's, else the model's; correct: the given label;
    reject: the photo is not used for training. only_if_unreviewed: refused when the photo has a review already
    (the review page sends it: a second reviewer's stale page silently overwrote the first one's decision)."""
    if only_if_unreviewed:
        _refuse_if_reviewed(session, obs)
    if action == "reject":
        label = None
    else:
        if label is None and action == "correct":
            raise BadInput("correct needs the right label")
        if label is None:
            fb = latest_feedback(session, [obs.id]).get(obs.id)
            label = fb[0].label if fb else str(obs.scores.get("diagnosis", {}).get("label"))
        lab = labels.registry(session, model_classes).get(label)
        if lab is None or not lab.active or not lab.trainable:
            raise BadInput(f"{label!r} cannot be a training label: confirm with a disease, a pest or 'healthy' "
                           "(add a new disease first with POST /v1/labels), or reject the photo")
    row = PhotoReview(observation_id=obs.id, account_id=account.id, action=action, label=label, note=note)
    session.add(row)
    session.commit()
    return row


def _refuse_if_reviewed(session: Session, obs: Observation) -> None:
    # the photo's row locked until this review is committed (PostgreSQL): two reviewers posting at once queue here,
    # and the second finds the first's review
    session.execute(select(Observation.id).where(Observation.id == obs.id).with_for_update())
    done = session.execute(select(PhotoReview, Account.username).join(Account, PhotoReview.account_id == Account.id)
                           .where(PhotoReview.observation_id == obs.id)
                           .order_by(PhotoReview.id.desc()).limit(1)).first()
    if done is not None:
        row, who = done
        said = f"{row.action} {row.label}" if row.label else row.action
        raise Conflict(f"photo {obs.id} was reviewed meanwhile by {who} ({said}, {row.created_at:%Y-%m-%d %H:%M} UTC): "
                       "reload the queue; to change that decision, review it again without only_if_unreviewed",
                       reason="review_already_reviewed")


def photo_source(obs: Observation) -> str:
    """Where a farmer's photo comes from, for per-source counts and leave-one-source-out: the phone model."""
    return obs.device or UNKNOWN_DEVICE


def confirmed(session: Session) -> list[tuple[Observation, PhotoReview, str, str]]:
    """Every photo whose newest review confirms or corrects it: (photo, review, area code, reviewer)."""
    newest = latest_reviews()
    q = (select(Observation, PhotoReview, GrowingArea.code, Account.username)
         .join(PhotoReview, PhotoReview.observation_id == Observation.id)
         .join(newest, newest.c.id == PhotoReview.id)
         .join(GrowingArea, Observation.area_id == GrowingArea.id)
         .join(Account, PhotoReview.account_id == Account.id)
         .where(PhotoReview.label.is_not(None)).order_by(Observation.id))
    return [(o, r, c, u) for o, r, c, u in session.execute(q).all()]


def stats(session: Session, account: Account) -> dict[str, Any]:
    """Confirmed examples per class and source, per reviewer, and the queue's length."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for obs, rev, _, _ in confirmed(session):
        per[str(rev.label)][photo_source(obs)] += 1
    reviewers = Counter(session.scalars(select(Account.username).join(PhotoReview,
                                                                      PhotoReview.account_id == Account.id)))
    actions = Counter(session.scalars(select(PhotoReview.action)))
    return {"confirmed": {k: dict(v) for k, v in sorted(per.items())},
            "totals": {k: sum(v.values()) for k, v in sorted(per.items())},
            "sources_per_label": {k: len(v) for k, v in sorted(per.items())},
            "reviews_by": dict(reviewers), "actions": dict(actions), "queued": queue(session, account, 0)[1],
            "retakes": retakes(session, account)}


def retakes(session: Session, account: Account, days: int = 14, limit: int = 20) -> list[dict[str, Any]]:
    """Who was asked to take a photo again, and how often, in the last `days` (the gate's refusals reach no queue:
    an officer could not see that a farmer failed four times): per area and farmer, most first, with the reasons."""
    q = visible_areas(select(Observation, GrowingArea.code, Account.username)
                      .join(GrowingArea, Observation.area_id == GrowingArea.id)
                      .outerjoin(Account, Observation.created_by_id == Account.id)
                      .where(refused_photo_sql(),
                             Observation.observed_at >= datetime.now(UTC) - timedelta(days=days)), account)
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for obs, code, who in session.execute(q.order_by(Observation.id)).all():
        g = groups.setdefault((code, who), {"area_code": code, "by": who, "refused": 0, "issues": Counter(),
                                            "last_at": None})
        g["refused"] += 1
        g["issues"].update((obs.scores.get("quality") or {}).get("issues") or [])
        g["last_at"] = obs.observed_at.isoformat()
    out = sorted(groups.values(), key=lambda g: (-g["refused"], g["area_code"]))[:limit]
    return [{**g, "issues": dict(g["issues"].most_common())} for g in out]


def log(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Who reviewed what, newest first."""
    rows = session.execute(select(PhotoReview, Account.username).join(Account, PhotoReview.account_id == Account.id)
                           .order_by(PhotoReview.id.desc()).limit(limit)).all()
    return [{"id": r.id, "photo_id": r.observation_id, "action": r.action, "label": r.label, "note": r.note,
             "by": u, "created_at": r.created_at.isoformat()} for r, u in rows]
