"""API keys for ``slopscore api``: created once, stored as a hash, checked in constant time.

A key is ``ssk_<key_id>_<secret>``: 12 hex characters of public id, used to find the row,
and 43 URL-safe characters (256 bits) of secret. Only the sha256 of the whole key is stored
(a fast hash is enough for a high-entropy random key: there is nothing to guess). The key is
returned once by :func:`create_api_key` and never again. Revoking keeps the row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine

from slopscore.review.schema import ApiKey
from slopscore.review.validation import InvalidInput, ItemNotFound, as_utc, utcnow

__all__ = ["ApiKeyInfo", "KEY_PREFIX", "create_api_key", "list_api_keys", "revoke_api_keys",
           "verify_api_key"]

KEY_PREFIX = "ssk_"
_KEY = re.compile(r"ssk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Compared against when the key id is unknown, so that both paths cost the same.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a key (never the key or its hash)."""

    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def _client_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput("a client name is 1-100 letters, digits, '.', '_' or '-', starting "
                           "with a letter or digit")
    return name


def create_api_key(engine: Engine, name: str) -> tuple[str, ApiKeyInfo]:
    """A new key for client ``name``: ``(key, info)``. Show ``key`` once; it is not kept.

    Raises
    ------
    InvalidInput
        ``name`` is not 1-100 letters, digits, ``.``, ``_`` or ``-``.
    """
    name = _client_name(name)
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}{key_id}_{secret}"
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(ApiKey.__table__.insert().values(
            key_id=key_id, name=name, key_hash=_digest(key), created_at=now, revoked_at=None))
    return key, ApiKeyInfo(key_id, name, now, None)


def list_api_keys(engine: Engine) -> list[ApiKeyInfo]:
    """Every key ever created, oldest first, revoked ones included."""
    query = select(ApiKey.key_id, ApiKey.name, ApiKey.created_at, ApiKey.revoked_at).order_by(ApiKey.id)
    with engine.connect() as connection:
        return [ApiKeyInfo(r.key_id, r.name, as_utc(r.created_at), as_utc(r.revoked_at))
                for r in connection.execute(query)]


def revoke_api_keys(engine: Engine, name_or_key_id: str) -> int:
    """Revoke the key with this id, or every active key of the client with this name.

    Returns the number revoked; they stop working at their next request.

    Raises
    ------
    ItemNotFound
        No active key has this id or client name.
    """
    condition = or_(ApiKey.key_id == name_or_key_id, ApiKey.name == name_or_key_id)
    with engine.begin() as connection:
        result = connection.execute(update(ApiKey).where(condition, ApiKey.revoked_at.is_(None))
                                    .values(revoked_at=utcnow()))
    if not result.rowcount:
        raise ItemNotFound(f"no active API key with id or client name {name_or_key_id[:100]!r}")
    return result.rowcount


def verify_api_key(engine: Engine, key: object) -> ApiKeyInfo | None:
    """The active key's info when ``key`` is a valid, unrevoked key; else None.

    The stored hash is compared in constant time, and an unknown key id costs the same
    comparison as a wrong secret.
    """
    match = _KEY.fullmatch(key) if isinstance(key, str) and len(key) < 100 else None
    if match is None:
        return None
    query = select(ApiKey.name, ApiKey.key_hash, ApiKey.created_at, ApiKey.revoked_at) \
        .where(ApiKey.key_id == match.group(1))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    stored = row.key_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(stored.encode("ascii"), _digest(key).encode("ascii")):
        return None
    if row is None or row.revoked_at is not None:
        return None
    return ApiKeyInfo(match.group(1), row.name, as_utc(row.created_at), None)
