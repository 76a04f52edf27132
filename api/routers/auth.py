"""Sign-in and accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import get_session
from api.orm import Account, Role
from api.schemas import AccountCreate, AccountPublic, Token
from api.security import CurrentAccount, create_token, hash_password, require_roles, verify_password

router = APIRouter(prefix="/v1", tags=["accounts"])
SessionDep = Annotated[Session, Depends(get_session)]


@router.post("/auth/token", response_model=Token)
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep) -> Token:
    """Exchange a username and password for a bearer token."""
    account = session.scalar(select(Account).where(Account.username == form.username))
    if account is None or not verify_password(account.password_hash, form.password) or not account.is_active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(access_token=create_token(account))


@router.get("/accounts/me", response_model=AccountPublic)
def read_me(account: CurrentAccount) -> Account:
    """The signed-in account."""
    return account


@router.post(
    "/accounts",
    response_model=AccountPublic,
    status_code=201,
    dependencies=[Depends(require_roles(Role.admin))],
)
def create_account(data: AccountCreate, session: SessionDep) -> Account:
    """Create an account (admin only)."""
    if session.scalar(select(Account.id).where(Account.username == data.username)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"username {data.username!r} is taken; choose another")
    if data.role in (Role.agronomist, Role.drone_operator) and not (data.province or data.cooperative):
        raise HTTPException(
            422,
            detail=f"a {data.role.value} sees the areas of a province or cooperative: give province or cooperative",
        )
    account = Account(
        username=data.username,
        full_name=data.full_name,
        role=data.role,
        province=data.province,
        cooperative=data.cooperative,
        password_hash=hash_password(data.password),
    )
    session.add(account)
    session.commit()
    return account


@router.get("/accounts", response_model=list[AccountPublic], dependencies=[Depends(require_roles(Role.admin))])
def list_accounts(session: SessionDep) -> list[Account]:
    """All accounts (admin only)."""
    return list(session.scalars(select(Account).order_by(Account.id)))
