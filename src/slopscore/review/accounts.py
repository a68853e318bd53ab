"""Moderator accounts: salted scrypt password hashes, enabling and disabling, signing in.

Only :func:`hash_password`'s salted scrypt hash is stored, never a password, and
:func:`verify_password` compares in constant time. :func:`authenticate` does the same
scrypt work for an unknown username as for a wrong password. There is no deletion: an
account is disabled (:func:`set_active`).

Each account has a session version (:func:`session_version`); the web app signs a
session at the current one and ends sessions that hold an older one. Logout
(:func:`end_sessions`), a password change and disabling or enabling raise it, so every
existing session of the account ends at its next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from slopscore.review.schema import Moderator
from slopscore.review.validation import InvalidInput, ItemNotFound, utcnow

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "authenticate",
    "create_moderator",
    "end_sessions",
    "hash_password",
    "is_active",
    "list_moderators",
    "session_version",
    "set_active",
    "set_password",
    "verify_password",
]

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def _username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInput("a username is 1-64 letters, digits or . _ @ -, starting with a "
                           "letter or digit")
    return username


# ---------------------------------------------------------------- passwords

# scrypt cost: about 16 MiB and tens of milliseconds per hash on one core.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN = 2**14, 8, 1, 32
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=_SCRYPT_MAXMEM)


def hash_password(password: str) -> str:
    """A salted scrypt hash, ``scrypt$N$r$p$salt$hash`` (base64); never the password.

    Raises
    ------
    InvalidInput
        Shorter than :data:`MIN_PASSWORD_CHARS` or longer than 1024 characters.
    """
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN)
    encode = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        if scheme != "scrypt" or n > 2**20 or r > 32 or p > 16:
            return False
        expected = base64.b64decode(digest, validate=True)
        candidate = _scrypt(password, base64.b64decode(salt, validate=True), n, r, p, len(expected))
    except (ValueError, TypeError, AttributeError, MemoryError):
        return False
    return hmac.compare_digest(candidate, expected)


# Checked against when the username is unknown, so both cases cost the same time.
_DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(24))
    return _DUMMY_HASH


# ---------------------------------------------------------------- accounts


def create_moderator(engine: Engine, username: str, password: str) -> None:
    """Add an active moderator account with a hashed password.

    Raises
    ------
    InvalidInput
        Bad username or password, or the username is taken.
    """
    username = _username(username)
    record = {"username": username, "password_hash": hash_password(password),
              "created_at": utcnow(), "active": True}
    try:
        with engine.begin() as connection:
            connection.execute(insert(Moderator).values(record))
    except IntegrityError:
        raise InvalidInput(f"moderator {username!r} already exists") from None


_NEXT_SESSION_VERSION = Moderator.session_version + 1


def set_password(engine: Engine, username: str, password: str) -> None:
    """Replace a moderator's password and end their sessions. Raises :class:`ItemNotFound`
    for unknown users."""
    hashed = hash_password(password)
    with engine.begin() as connection:
        result = connection.execute(update(Moderator).where(Moderator.username == username)
                                    .values(password_hash=hashed, session_version=_NEXT_SESSION_VERSION))
    if result.rowcount != 1:
        raise ItemNotFound(f"no moderator {username!r}")


def set_active(engine: Engine, username: str, active: bool) -> None:
    """Enable or disable an account (disabled accounts cannot log in). Either way the
    account's existing sessions end: a re-enabled account signs in afresh."""
    with engine.begin() as connection:
        result = connection.execute(update(Moderator).where(Moderator.username == username)
                                    .values(active=bool(active), session_version=_NEXT_SESSION_VERSION))
    if result.rowcount != 1:
        raise ItemNotFound(f"no moderator {username!r}")


def authenticate(engine: Engine, username: str, password: str) -> str | None:
    """The username when the credentials match an active account, else None.

    Unknown usernames cost the same scrypt work as wrong passwords.
    """
    if not isinstance(username, str) or not isinstance(password, str) \
            or len(username) > 64 or len(password) > MAX_PASSWORD_CHARS:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(Moderator.password_hash, Moderator.active)
                                 .where(Moderator.username == username)).first()
    if row is None:
        verify_password(password, _dummy_hash())
        return None
    return username if verify_password(password, row.password_hash) and row.active else None


def end_sessions(engine: Engine, username: str) -> None:
    """End every existing session of ``username`` (logout ends them on all devices)."""
    with engine.begin() as connection:
        connection.execute(update(Moderator).where(Moderator.username == username)
                           .values(session_version=_NEXT_SESSION_VERSION))


def session_version(engine: Engine, username: str) -> int | None:
    """The account's current session version, or None when it is unknown or disabled
    (checked on every signed-in request)."""
    with engine.connect() as connection:
        row = connection.execute(select(Moderator.active, Moderator.session_version)
                                 .where(Moderator.username == username)).first()
    return int(row.session_version) if row is not None and row.active else None


def is_active(engine: Engine, username: str) -> bool:
    """Whether ``username`` is an enabled account (checked on every signed-in request)."""
    with engine.connect() as connection:
        active = connection.execute(select(Moderator.active)
                                    .where(Moderator.username == username)).scalar()
    return bool(active)


@dataclass(frozen=True)
class ModeratorInfo:
    """An account as an admin sees it: never its password hash."""

    username: str
    active: bool
    created_at: datetime


def list_moderators(engine: Engine) -> list[ModeratorInfo]:
    """Every moderator account, by username."""
    query = select(Moderator.username, Moderator.active, Moderator.created_at).order_by(Moderator.username)
    with engine.connect() as connection:
        return [ModeratorInfo(row.username, bool(row.active), row.created_at) for row in connection.execute(query)]
