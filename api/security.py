"""Accounts and access: argon2 password hashes, signed bearer tokens (OAuth2 password flow), area visibility."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Select, false, or_
from sqlalchemy.orm import Session

from api.db import get_session
from api.orm import Account, GrowingArea, Role
from api.settings import get_settings

_hasher = PasswordHasher()
_ALGORITHM = "HS256"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_token(account: Account) -> str:
    settings = get_settings()
    now = datetime.now(UTC)
    payload = {
        "sub": str(account.id),
        "role": account.role.value,
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_ttl_minutes),
    }
    return jwt.encode(payload, settings.resolved_secret_key(), algorithm=_ALGORITHM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def current_account(
    token: Annotated[str, Depends(oauth2_scheme)], session: Annotated[Session, Depends(get_session)]
) -> Account:
    """The signed-in account; 401 when the token is missing, forged, expired or its account is disabled."""
    try:
        payload = jwt.decode(token, get_settings().resolved_secret_key(), algorithms=[_ALGORITHM])
        account_id = int(payload["sub"])
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("the access token has expired; sign in again at POST /v1/auth/token") from exc
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise _unauthorized("the access token is not valid; sign in at POST /v1/auth/token") from exc
    account = session.get(Account, account_id)
    if account is None or not account.is_active:
        raise _unauthorized("this account no longer exists or is disabled")
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]


def require_roles(*roles: Role):  # type: ignore[no-untyped-def]
    """Dependency factory: 403 unless the account has one of `roles`."""

    def _check(account: CurrentAccount) -> Account:
        if account.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this needs one of the roles: {allowed}")
        return account

    return _check


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
