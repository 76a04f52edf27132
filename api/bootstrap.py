"""First start: migrate, and create an admin account when the database has no account yet."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import get_engine
from api.orm import Account, Role
from api.security import hash_password


def ensure_admin(username: str = "admin") -> tuple[str, str] | None:
    """Create an admin with a random password if there is no account; returns (username, password) once, else None."""
    with Session(get_engine()) as session:
        if (session.scalar(select(func.count()).select_from(Account)) or 0) > 0:
            return None
        password = secrets.token_urlsafe(12)
        session.add(Account(username=username, full_name="Administrator", role=Role.admin,
                            password_hash=hash_password(password)))
        session.commit()
        return username, password
