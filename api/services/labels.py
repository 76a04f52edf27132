"""The class registry: every label a photo may be given (diseases, pests, healthy, other, not sure), with its names in
Vietnamese and English. Seeded from api/data/label_classes.csv; agronomists add or hide labels in the database, whose
rows override the seed's. Nothing here needs code to grow: a new disease is one POST or one CSV row."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.orm import LabelClass
from inference.errors import BadInput, Conflict
from inference.names import spelling_key

SEED_CSV = Path(__file__).resolve().parents[1] / "data" / "label_classes.csv"
KINDS = ("disease", "pest", "healthy", "other", "unsure")
OTHER, NOT_SURE = "other", "not_sure"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class Label:
    name: str
    kind: str
    name_vi: str
    name_en: str
    active: bool = True
    added_by: str = "seed"
    # other names a folder of photos may carry ("Leaf blast", "BLB", a Latin name): read as this label by
    # `cropwatch models evaluate` and by training's extra folders; seed rows only (label_classes.csv's `aliases`)
    aliases: tuple[str, ...] = ()

    @property
    def trainable(self) -> bool:
        """A label a model can learn: a disease, a pest or healthy (not 'other' or 'not sure')."""
        return self.kind in ("disease", "pest", "healthy")


@lru_cache(maxsize=1)
def seed() -> tuple[Label, ...]:
    with SEED_CSV.open(encoding="utf-8", newline="") as fh:
        return tuple(Label(r["name"], r["kind"], r["name_vi"], r["name_en"],
                           aliases=tuple(a for a in (r.get("aliases") or "").split("|") if a))
                     for r in csv.DictReader(fh))


def registry(session: Session, model_classes: set[str] | frozenset[str] = frozenset()) -> dict[str, Label]:
    """Every label by name: the seed, overridden by database rows; a served model's class missing from both is added
    as a disease (named by its identifier) so that a model's answer can always be confirmed."""
    out = {lab.name: lab for lab in seed()}
    for row in session.scalars(select(LabelClass)):
        out[row.name] = Label(row.name, row.kind, row.name_vi, row.name_en, row.active, row.added_by)
    for c in model_classes:
        out.setdefault(c, Label(c, "disease", c, c.replace("_", " ")))
    return out


def names_vi(session: Session) -> dict[str, str]:
    """Label -> its Vietnamese name, for documents read in the office (record book, weekly report)."""
    return {k: v.name_vi for k, v in registry(session).items()}


def check_label(session: Session, label: str, other_name: str | None, model_classes: set[str]) -> Label:
    """The registry entry for a label given to a photo; 'other' needs the farmer's name for it."""
    reg = registry(session, model_classes)
    lab = reg.get(label)
    if lab is None or not lab.active:
        names = ", ".join(sorted(n for n, v in reg.items() if v.active))
        raise BadInput(f"unknown label {label!r}; use one of: {names} (or 'other' with other_name); an agronomist "
                       "can add a label with POST /v1/labels")
    if lab.kind == "other" and not (other_name or "").strip():
        raise BadInput("label 'other' needs other_name: what the farmer thinks it is (for example 'tungro')")
    return lab


def add_label(session: Session, name: str, kind: str, name_vi: str, name_en: str, actor: str) -> Label:
    """Add a label to the registry (or re-activate a hidden one)."""
    if not _NAME.match(name):
        raise BadInput("a label name is 2-64 lower-case letters, digits or underscores, starting with a letter "
                       "(for example 'sheath_blight')")
    if kind not in KINDS:
        raise BadInput(f"kind must be one of: {', '.join(KINDS)}")
    current = registry(session).get(name)
    if current is not None and current.active:
        raise Conflict(f"label {name!r} exists already ({current.name_en})")
    key = spelling_key(name)
    same = next((lab for lab in seed() if lab.name != name and key in {spelling_key(a) for a in lab.aliases}), None)
    if same is not None:  # training reads a folder or manifest label by its aliases: it would become that label
        raise Conflict(f"{name!r} is another name of {same.name!r} ({same.name_en}) in the registry: use that label, "
                       "or choose a name that is not one of its names")
    row = session.get(LabelClass, name) or LabelClass(name=name)
    row.kind, row.name_vi, row.name_en, row.active, row.added_by = kind, name_vi, name_en, True, actor
    session.add(row)
    session.commit()
    return Label(name, kind, name_vi, name_en, True, actor)
