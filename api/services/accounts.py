"""Accounts and sign-in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from api.orm import Account, Role
from api.schemas import AccountCreate
from api.security import create_token, hash_password, verify_password
from inference.errors import BadInput, Conflict


def sign_in(session: Session, username: str, password: str) -> str:
    """A bearer token for a valid username and password of an active account."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None or not verify_password(account.password_hash, password) or not account.is_active:
        raise Unauthorized("wrong username or password")
    return create_token(account)


def create_account(session: Session, data: AccountCreate) -> Account:
    if session.scalar(select(Account.id).where(Account.username == data.username)) is not None:
        raise Conflict(f"username {data.username!r} is taken; choose another")
    if data.role in (Role.agronomist, Role.drone_operator) and not (data.province or data.cooperative):
        raise BadInput(f"a {data.role.value} sees the areas of a province or cooperative: give province or cooperative")
    account = Account(username=data.username, full_name=data.full_name, role=data.role, province=data.province,
                      cooperative=data.cooperative, password_hash=hash_password(data.password))
    session.add(account)
    session.commit()
    return account


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))
