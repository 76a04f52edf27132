"""The shared dependencies of the routes: the database session, the signed-in account, role checks (one style:
`require_roles`), the visible-area look-up, the loaded photo scorer and the job runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import jwt
from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import get_session
from api.errors import Unauthorized
from api.orm import Account, GrowingArea, RevokedToken, Role
from api.scoring import PooledScorer
from api.security import TokenClaims, can_see, decode_token
from inference.errors import Forbidden, NotFound, Unavailable
from inference.photo import PhotoScorer

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")
SessionDep = Annotated[Session, Depends(get_session)]
# Record ids are 32-bit on both databases: a larger number is a 422, never a database error.
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="a record id")]


def token_claims(token: Annotated[str, Depends(oauth2_scheme)]) -> TokenClaims:
    """The claims of the request's bearer token; 401 when it is missing, forged, expired or incomplete."""
    try:
        return decode_token(token)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired; sign in again at POST /v1/auth/token") from exc
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise Unauthorized("the access token is not valid; sign in at POST /v1/auth/token") from exc


ClaimsDep = Annotated[TokenClaims, Depends(token_claims)]


def current_account(claims: ClaimsDep, session: SessionDep) -> Account:
    """The signed-in account; 401 when the token is not valid, was signed out or issued before a password change,
    or its account is disabled."""
    account = session.get(Account, claims.account_id)
    if account is None or not account.is_active:
        raise Unauthorized("this account no longer exists or is disabled")
    cutoff = account.tokens_valid_after
    if cutoff is not None and claims.issued_at < cutoff:
        raise Unauthorized("this access token was issued before the password was changed; sign in again")
    if session.get(RevokedToken, claims.jti) is not None:
        raise Unauthorized("this access token was signed out; sign in again")
    return account


CurrentAccount = Annotated[Account, Depends(current_account)]


def require_roles(*roles: Role, detail: str | None = None) -> Callable[[Account], Account]:
    """Dependency factory: the signed-in account if it has one of `roles`, else 403 with `detail`."""

    def _check(account: CurrentAccount) -> Account:
        if account.role not in roles:
            raise Forbidden(detail or f"this needs one of the roles: {', '.join(r.value for r in roles)}",
                            reason="role_not_allowed")  # a page says it in its own language
        return account

    return _check


AdminAccount = Annotated[Account, Depends(require_roles(Role.admin))]
PlannerAccount = Annotated[Account, Depends(require_roles(
    Role.drone_operator, Role.agronomist, Role.admin,
    detail="flights and spray maps are handled by drone operators, agronomists or admins"))]
PhotoTakerAccount = Annotated[Account, Depends(require_roles(
    Role.farmer, Role.agronomist, Role.admin, detail="drone operators upload flights, not photos"))]
ReviewerAccount = Annotated[Account, Depends(require_roles(
    Role.agronomist, Role.admin, detail="only agronomists and admins manage labels and review photos"))]
DepartmentAccount = Annotated[Account, Depends(require_roles(
    Role.agronomist, Role.admin, detail="the base map and the weekly report are for agronomists and admins"))]
RecordKeeperAccount = Annotated[Account, Depends(require_roles(
    Role.farmer, Role.agronomist, Role.admin,
    detail="drone operators cannot change growing-area records; ask an agronomist or the owner"))]


def visible_area(session: Session, account: Account, code: str) -> GrowingArea:
    """The area with `code` if `account` may see it; NotFound otherwise (no hint that a hidden area exists)."""
    area = session.scalar(select(GrowingArea).where(GrowingArea.code == code.strip().upper()))
    if area is None or not can_see(area, account):
        raise NotFound(f"no growing area with code {code!r} that you may see")
    return area


def area_from_path(code: str, session: SessionDep, account: CurrentAccount) -> GrowingArea:
    """The area named by the route's `{code}`, if visible."""
    return visible_area(session, account, code)


VisibleArea = Annotated[GrowingArea, Depends(area_from_path)]


def get_scorer(request: Request) -> PhotoScorer:
    """The active photo scorer; 503 when no photo model is loaded."""
    holder = request.app.state.photo_models
    scorer = holder.scorer
    if scorer is None:
        raise Unavailable(f"no photo model is loaded ({holder.error}); an admin must activate one")
    pool = getattr(request.app.state, "scoring_pool", None)
    return PooledScorer.of(scorer, pool) if pool is not None else scorer


ScorerDep = Annotated[PhotoScorer, Depends(get_scorer)]
