"""The permitted-products list (plant-protection products permitted in Vietnam) and the spray log's checks against
it: the product on the list, its active ingredient and registration number, the dose against the label's maximum,
the pre-harvest interval against the planned harvest, the time in the farm's zone, and no record twice."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.orm import PermittedProduct
from inference.errors import BadInput
from inference.names import spelling_key

SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "permitted_products_sample.csv"
SAMPLE_SOURCE = "cropwatch sample (illustrative, not the official list; see api/data/README.md)"
# the official list's Vietnamese headers, and ours
HEADERS = {"trade_name": ("trade_name", "tên thương phẩm", "ten thuong pham"),
           "active_ingredient": ("active_ingredient", "tên hoạt chất", "ten hoat chat", "hoạt chất"),
           "registration_number": ("registration_number", "số đăng ký", "so dang ky"),
           "crops": ("crops", "cây trồng"), "target": ("target", "đối tượng phòng trừ", "doi tuong phong tru"),
           "phi_days": ("phi_days", "thời gian cách ly", "thoi gian cach ly"),
           "max_dose_per_ha": ("max_dose_per_ha", "liều lượng"), "dose_unit": ("dose_unit", "đơn vị")}


def normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().lower()


def same_name(a: str, b: str) -> bool:
    """Two spellings of one trade name: case, spaces and punctuation aside ("Chess 50 WG" is "chess 50wg")."""
    return spelling_key(a) == spelling_key(b)


def _column_map(header: list[str]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        for key, names in HEADERS.items():
            if key not in cols and any(normalise(h).startswith(n) for n in names):
                cols[key] = i
    missing = [k for k in ("trade_name", "active_ingredient") if k not in cols]
    if missing:
        raise BadInput(f"the products CSV has no {' or '.join(missing)} column; its header is {header}; name the "
                       "columns as in api/data/permitted_products_sample.csv")
    return cols


def _number(value: str, kind: type, line: int, what: str) -> Any:
    value = value.strip().replace(",", ".")
    if not value:
        return None
    try:
        return kind(float(value)) if kind is int else kind(value)
    except ValueError as exc:
        raise BadInput(f"line {line}: {what} {value!r} is not a number") from exc


def parse_products(text: str, source: str, is_sample: bool = False) -> list[PermittedProduct]:
    """Rows of a products CSV (comma or semicolon separated, UTF-8); every problem names its line."""
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if len(rows) < 2:
        raise BadInput("the products CSV has no rows under its header")
    cols = _column_map(rows[0])
    out = []
    for line, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        v = {k: (r[cols[k]].strip() if k in cols and cols[k] < len(r) else "") for k in HEADERS}
        if not v["trade_name"] or not v["active_ingredient"]:
            raise BadInput(f"line {line}: trade name and active ingredient are required")
        out.append(PermittedProduct(
            trade_name=v["trade_name"][:200], active_ingredient=v["active_ingredient"][:300],
            registration_number=v["registration_number"][:64] or None, crops=v["crops"] or None,
            target=v["target"] or None, phi_days=_number(v["phi_days"], int, line, "phi_days"),
            max_dose_per_ha=_number(v["max_dose_per_ha"], float, line, "max_dose_per_ha"),
            dose_unit=v["dose_unit"][:8] or None, is_sample=is_sample, source=source))
    return out


def import_products(session: Session, text: str, source: str, replace: bool = False,
                    is_sample: bool = False) -> dict[str, int]:
    """Add the CSV's products (all or nothing); `replace` first removes the whole list, the sample with it."""
    rows = parse_products(text, source, is_sample)
    removed = session.query(PermittedProduct).delete() if replace else 0
    session.add_all(rows)
    session.commit()
    return {"imported": len(rows), "removed": int(removed or 0),
            "total": int(session.scalar(select(func.count(PermittedProduct.id))) or 0)}


def ensure_sample(session: Session) -> None:
    """An empty list gets the shipped sample, so that the log works before an admin imports the official one."""
    if not session.scalar(select(func.count(PermittedProduct.id))):
        import_products(session, SAMPLE_CSV.read_text(encoding="utf-8"), SAMPLE_SOURCE, is_sample=True)


def find_product(session: Session, name: str, registration_number: str | None) -> PermittedProduct | None:
    stmt = select(PermittedProduct)
    if registration_number:
        hit = session.scalars(stmt.where(PermittedProduct.registration_number == registration_number)).first()
        if hit:
            return hit
    return session.scalars(stmt.where(func.lower(PermittedProduct.trade_name) == normalise(name))).first()


def search(session: Session, q: str | None, limit: int = 50) -> list[PermittedProduct]:
    stmt = select(PermittedProduct).order_by(PermittedProduct.trade_name).limit(limit)
    if q:
        like = f"%{normalise(q)}%"
        stmt = stmt.where(func.lower(PermittedProduct.trade_name).like(like) |
                          func.lower(PermittedProduct.active_ingredient).like(like))
    return list(session.scalars(stmt))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadInput(f"time_zone {name!r} is not an IANA time zone; use for example Asia/Ho_Chi_Minh") from exc


def local_time(value: datetime, tz: ZoneInfo) -> datetime:
    """A time without a zone is the farm's local time; one with a zone keeps its instant."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def harvest_allowed_from(applied_local: datetime, phi_days: int | None) -> date | None:
    return applied_local.date() + timedelta(days=phi_days) if phi_days is not None else None
