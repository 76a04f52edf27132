"""Accounts and access: argon2 password hashes, signed bearer tokens (OAuth2 password flow), area visibility."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, false, or_

from api.orm import Account, GrowingArea, Role
from api.settings import get_settings

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH: list[str] = []


def verify_unknown_user(password: str) -> None:
    """Spend the time of a real password check, so that the answer's timing does not tell who exists."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_hasher.hash("not a real password"))
    verify_password(_DUMMY_HASH[0], password)


def create_token(account: Account) -> str:
    """A signed access token: account id, role, issue and expiry times, and an id (jti) that can be revoked."""
    settings = get_settings()
    now = datetime.now(UTC)
    payload = {
        "sub": str(account.id),
        "role": account.role.value,
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_ttl_minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, settings.resolved_secret_key(), algorithm=_ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    account_id: int
    issued_at: datetime
    expires_at: datetime
    jti: str


def decode_token(token: str) -> TokenClaims:
    """The claims of a signed token of this service; raises jwt.PyJWTError (ExpiredSignatureError when expired,
    MissingRequiredClaimError without exp, iat, sub or jti), KeyError or ValueError otherwise."""
    payload = jwt.decode(token, get_settings().resolved_secret_key(), algorithms=[_ALGORITHM],
                         options={"require": ["exp", "iat", "sub", "jti"]})
    return TokenClaims(int(payload["sub"]), datetime.fromtimestamp(payload["iat"], UTC),
                       datetime.fromtimestamp(payload["exp"], UTC), str(payload["jti"]))


def visible_areas(stmt: Select, account: Account) -> Select:  # type: ignore[type-arg]
    """Restrict a query on GrowingArea to what `account` may see.

    Farmers see the areas they own; agronomists and drone operators those of their province or cooperative;
    admins everything.
    """
    if account.role is Role.admin:
        return stmt
    if account.role is Role.farmer:
        return stmt.where(GrowingArea.owner_id == account.id)
    conds = []
    if account.province:
        conds.append(GrowingArea.province == account.province)
    if account.cooperative:
        conds.append(GrowingArea.cooperative == account.cooperative)
    return stmt.where(or_(*conds)) if conds else stmt.where(false())


def can_see(area: GrowingArea, account: Account) -> bool:
    if account.role is Role.admin:
        return True
    if account.role is Role.farmer:
        return area.owner_id == account.id
    return bool(
        (account.province and area.province == account.province)
        or (account.cooperative and area.cooperative == account.cooperative)
    )


def can_edit(area: GrowingArea, account: Account) -> bool:
    """Farmers change their own areas; agronomists those they can see; drone operators only read records."""
    if account.role is Role.drone_operator:
        return False
    return can_see(area, account)
