"""Moderator accounts: salted scrypt password hashes, enabling and disabling, signing in.

Only :func:`hash_password`'s salted scrypt hash is stored, never a password, and
:func:`verify_password` compares in constant time. :func:`authenticate` does the same
scrypt work for an unknown username as for a wrong password. There is no deletion: an
account is disabled (:func:`set_active`).

Each account has a session version (:func:`session_version`); the web app signs a
session at the current one and ends sessions that hold an older one. Logout
(:func:`end_sessions`), a password change and disabling or enabling raise it, so every
existing session of the account ends at its next request.

Each account has a :class:`~slopscore.review.schema.Role`: moderators decide; admins also
manage message templates and accounts. The last active admin can be neither disabled nor
made a moderator, so an installation always keeps someone who can manage it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from slopscore.review.schema import Moderator, Role
from slopscore.review.validation import InvalidInput, ItemNotFound, ModerationError, as_utc, utcnow

__all__ = [
    "LastAdmin",
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "ModeratorInfo",
    "SessionAccount",
    "authenticate",
    "create_moderator",
    "end_sessions",
    "hash_password",
    "is_active",
    "list_moderators",
    "session_account",
    "session_version",
    "set_active",
    "set_password",
    "set_role",
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


class LastAdmin(ModerationError):
    """The change would leave no active admin."""

    def __init__(self, username: str):
        super().__init__(f"{username} is the last active admin; make another account an admin first")


def _role(role: object) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"a role is one of {', '.join(r.value for r in Role)}") from None


def create_moderator(engine: Engine, username: str, password: str, role: Role | str = Role.MODERATOR) -> None:
    """Add an active account with a hashed password (a moderator unless ``role`` says admin).

    Raises
    ------
    InvalidInput
        Bad username, password or role, or the username is taken.
    """
    username = _username(username)
    record = {"username": username, "password_hash": hash_password(password),
              "created_at": utcnow(), "active": True, "role": _role(role).value}
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


def _other_active_admins(username: str):
    """A scalar subquery: active admins other than ``username``."""
    return (select(func.count()).select_from(Moderator)
            .where(Moderator.role == Role.ADMIN.value, Moderator.active.is_(True), Moderator.username != username)
            .scalar_subquery())


def _update_account(engine: Engine, username: str, values: dict, *, keeps_admin: bool) -> None:
    """Update one account; unless ``keeps_admin``, only while another active admin remains
    or the account is no active admin. The active admins' rows are locked first (``FOR
    UPDATE`` on PostgreSQL; SQLite serialises writers), so two admins demoting each other
    at once cannot both succeed."""
    where = [Moderator.username == username]
    if not keeps_admin:
        where.append((Moderator.role != Role.ADMIN.value) | Moderator.active.is_(False)
                     | (_other_active_admins(username) > 0))
    with engine.begin() as connection:
        if not keeps_admin:
            connection.execute(select(Moderator.id).where(Moderator.role == Role.ADMIN.value,
                                                          Moderator.active.is_(True)).with_for_update()).all()
        if connection.execute(update(Moderator).where(*where).values(values)).rowcount == 1:
            return
        exists = connection.execute(select(Moderator.id).where(Moderator.username == username)).first()
    if exists is None:
        raise ItemNotFound(f"no moderator {username!r}")
    raise LastAdmin(username)


def set_active(engine: Engine, username: str, active: bool) -> None:
    """Enable or disable an account (disabled accounts cannot log in). Either way the
    account's existing sessions end: a re-enabled account signs in afresh.

    Raises
    ------
    ItemNotFound
        No such account.
    LastAdmin
        Disabling the last active admin.
    """
    _update_account(engine, username, {"active": bool(active), "session_version": _NEXT_SESSION_VERSION},
                    keeps_admin=bool(active))


def set_role(engine: Engine, username: str, role: Role | str) -> None:
    """Make an account a moderator or an admin (takes effect at its next request).

    Raises
    ------
    InvalidInput
        Unknown role.
    ItemNotFound
        No such account.
    LastAdmin
        Making the last active admin a moderator.
    """
    role = _role(role)
    _update_account(engine, username, {"role": role.value}, keeps_admin=role is Role.ADMIN)


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


@dataclass(frozen=True)
class SessionAccount:
    """What every signed-in request checks: the session version and the account's role."""

    session_version: int
    role: Role


def session_account(engine: Engine, username: str) -> SessionAccount | None:
    """The account's session version and role, or None when it is unknown or disabled."""
    with engine.connect() as connection:
        row = connection.execute(select(Moderator.active, Moderator.session_version, Moderator.role)
                                 .where(Moderator.username == username)).first()
    if row is None or not row.active:
        return None
    return SessionAccount(int(row.session_version), Role(row.role))


def session_version(engine: Engine, username: str) -> int | None:
    """The account's current session version, or None when it is unknown or disabled
    (a new session is signed at it)."""
    account = session_account(engine, username)
    return account.session_version if account is not None else None


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
    role: Role = Role.MODERATOR


def list_moderators(engine: Engine) -> list[ModeratorInfo]:
    """Every account, by username."""
    query = select(Moderator.username, Moderator.active, Moderator.created_at, Moderator.role) \
        .order_by(Moderator.username)
    with engine.connect() as connection:
        return [ModeratorInfo(row.username, bool(row.active), as_utc(row.created_at), Role(row.role))
                for row in connection.execute(query)]
