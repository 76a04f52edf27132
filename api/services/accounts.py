"""Accounts and sign-in: throttled, constant-time sign-in; sign-out (token revocation), password change, disabling."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from api.orm import Account, RevokedToken, Role
from api.schemas import AccountCreate
from api.security import TokenClaims, create_token, hash_password, verify_password, verify_unknown_user
from api.services.place_names import canonical_place
from api.settings import get_settings
from api.throttle import FailureThrottle
from inference.errors import BadInput, Conflict, NotFound


@lru_cache
def login_throttle() -> FailureThrottle:
    return FailureThrottle(get_settings().login_window_s)


def sign_in(session: Session, username: str, password: str, address: str) -> str:
    """A bearer token for a valid username and password of an active account. Failures are counted per account and
    per address (429 past the limits); an unknown username costs the same time as a wrong password."""
    settings = get_settings()
    user_key, addr_key = f"user:{username.lower()}", f"addr:{address}"
    throttle = login_throttle()
    throttle.check({user_key: settings.login_max_failures_per_account,
                    addr_key: settings.login_max_failures_per_address})
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        verify_unknown_user(password)
    if account is None or not verify_password(account.password_hash, password) or not account.is_active:
        throttle.fail([user_key, addr_key])
        raise Unauthorized("wrong username or password")
    throttle.clear(user_key)
    return create_token(account)


def sign_out(session: Session, claims: TokenClaims) -> None:
    """Revoke the token (kept until it would expire); expired revocations are purged on the way."""
    now = datetime.now(UTC)
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if session.get(RevokedToken, claims.jti) is None:
        session.add(RevokedToken(jti=claims.jti, account_id=claims.account_id, expires_at=claims.expires_at))
    session.commit()


def change_password(session: Session, account: Account, current: str, new: str) -> str:
    """Set a new password; every token issued before now stops working. Returns a fresh token."""
    if not verify_password(account.password_hash, current):
        raise BadInput("the current password is wrong")
    account.password_hash = hash_password(new)
    # token times have whole seconds: tokens of earlier seconds end, the new one (this second) is valid
    account.tokens_valid_after = datetime.now(UTC).replace(microsecond=0)
    session.commit()
    return create_token(account)


def set_active(session: Session, username: str, active: bool, caller: Account) -> Account:
    """Disable an account (its tokens stop working at once: every request checks the account) or enable it."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(f"no account named {username!r}")
    if account.id == caller.id and not active:
        raise Conflict("you cannot disable your own account; ask another admin")
    account.is_active = active
    session.commit()
    return account


def set_can_promote(session: Session, username: str, allowed: bool) -> Account:
    """The right to promote served models, for agronomists (admins always have it; other roles never)."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(f"no account named {username!r}")
    if allowed and account.role is not Role.agronomist:
        raise BadInput(f"{username} is a {account.role.value}: the right to promote is given to agronomists "
                       "(admins have it already)")
    account.can_promote = allowed
    session.commit()
    return account


def create_account(session: Session, data: AccountCreate) -> Account:
    if session.scalar(select(Account.id).where(Account.username == data.username)) is not None:
        raise Conflict(f"username {data.username!r} is taken; choose another")
    if data.role in (Role.agronomist, Role.drone_operator) and not (data.province or data.cooperative):
        article = "an" if data.role.value[0] in "aeiou" else "a"
        raise BadInput(f"{article} {data.role.value} sees the areas of a province or cooperative: give province or "
                       "cooperative")
    account = Account(username=data.username, full_name=data.full_name, role=data.role,
                      province=canonical_place(session, "province", data.province, stored=True),
                      cooperative=data.cooperative, password_hash=hash_password(data.password))
    session.add(account)
    session.commit()
    return account


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))
