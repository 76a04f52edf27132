"""Sign-in, sign-out, password change and accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import AdminAccount, ClaimsDep, CurrentAccount, SessionDep
from api.errors import ERROR_RESPONSES, ErrorBody
from api.orm import Account
from api.schemas import AccountCreate, AccountPublic, PasswordChange, Token
from api.services import accounts

router = APIRouter(prefix="/v1", tags=["accounts"], responses={**ERROR_RESPONSES, 429: {"model": ErrorBody}})


@router.post("/auth/token", response_model=Token)
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, request: Request) -> Token:
    """Exchange a username and password for a bearer token (429 with Retry-After after repeated failures)."""
    address = request.client.host if request.client else "unknown"
    return Token(access_token=accounts.sign_in(session, form.username, form.password, address))


@router.post("/auth/sign-out", status_code=204)
def sign_out(claims: ClaimsDep, _: CurrentAccount, session: SessionDep) -> None:
    """End this access token now."""
    accounts.sign_out(session, claims)


@router.get("/accounts/me", response_model=AccountPublic)
def read_me(account: CurrentAccount) -> Account:
    """The signed-in account."""
    return account


@router.post("/accounts/me/password", response_model=Token)
def change_password(data: PasswordChange, account: CurrentAccount, session: SessionDep) -> Token:
    """Change your password; every earlier token of yours stops working, and a new one is returned."""
    return Token(access_token=accounts.change_password(session, account, data.current_password, data.new_password))


@router.post("/accounts", response_model=AccountPublic, status_code=201)
def create_account(data: AccountCreate, session: SessionDep, _: AdminAccount) -> Account:
    """Create an account (admin only)."""
    return accounts.create_account(session, data)


@router.get("/accounts", response_model=list[AccountPublic])
def list_accounts(session: SessionDep, _: AdminAccount) -> list[Account]:
    """All accounts (admin only)."""
    return accounts.list_accounts(session)


@router.post("/accounts/{username}/disable", response_model=AccountPublic)
def disable_account(username: str, session: SessionDep, admin: AdminAccount) -> Account:
    """Disable an account (admin): its tokens stop working at once."""
    return accounts.set_active(session, username, False, admin)


@router.post("/accounts/{username}/enable", response_model=AccountPublic)
def enable_account(username: str, session: SessionDep, admin: AdminAccount) -> Account:
    """Enable a disabled account again (admin)."""
    return accounts.set_active(session, username, True, admin)


@router.post("/accounts/{username}/promote-right", response_model=AccountPublic)
def grant_promote(username: str, session: SessionDep, admin: AdminAccount) -> Account:
    """Give an agronomist the right to promote and roll back served models (admin)."""
    return accounts.set_can_promote(session, username, True)


@router.delete("/accounts/{username}/promote-right", response_model=AccountPublic)
def revoke_promote(username: str, session: SessionDep, admin: AdminAccount) -> Account:
    """Take the right to promote models back (admin)."""
    return accounts.set_can_promote(session, username, False)
