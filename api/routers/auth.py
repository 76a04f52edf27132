"""Sign-in and accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import AdminAccount, CurrentAccount, SessionDep
from api.errors import ERROR_RESPONSES
from api.orm import Account
from api.schemas import AccountCreate, AccountPublic, Token
from api.services import accounts

router = APIRouter(prefix="/v1", tags=["accounts"], responses=ERROR_RESPONSES)


@router.post("/auth/token", response_model=Token)
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep) -> Token:
    """Exchange a username and password for a bearer token."""
    return Token(access_token=accounts.sign_in(session, form.username, form.password))


@router.get("/accounts/me", response_model=AccountPublic)
def read_me(account: CurrentAccount) -> Account:
    """The signed-in account."""
    return account


@router.post("/accounts", response_model=AccountPublic, status_code=201)
def create_account(data: AccountCreate, session: SessionDep, _: AdminAccount) -> Account:
    """Create an account (admin only)."""
    return accounts.create_account(session, data)


@router.get("/accounts", response_model=list[AccountPublic])
def list_accounts(session: SessionDep, _: AdminAccount) -> list[Account]:
    """All accounts (admin only)."""
    return accounts.list_accounts(session)
