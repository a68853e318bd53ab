"""Signing webhook deliveries, and how a receiver checks them.

Every delivery carries::

    Slopscore-Signature: t=1783152000,v1=<64 lowercase hex digits>

``t`` is the sender's clock in Unix seconds; each ``v1`` is the lowercase hex
HMAC-SHA256, keyed with the shared secret, of the ASCII bytes ``"<t>."`` followed by
the request body exactly as received (never a re-serialised JSON object). During a
secret rotation a header may carry several ``v1`` values; one that matches is enough.
Unknown keys (a later ``v2``) are ignored.

A receiver should:

1. read the raw body bytes and the header (reject the request when it is missing);
2. take ``t`` and every ``v1``, reject a header that has no ``t``, no ``v1``, or a
   malformed one;
3. reject when ``t`` is more than a few minutes from its own clock (replays);
4. compute ``hmac.new(secret, f"{t}.".encode() + body, "sha256").hexdigest()`` and
   compare it with each ``v1`` in constant time (``hmac.compare_digest``);
5. deduplicate on the ``Idempotency-Key`` header (the message id): a retry after a lost
   acknowledgement posts the same message again, with the same bytes.

:func:`verify` does steps 2 to 4 in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from pathlib import Path

from slopscore.delivery.settings import MIN_SECRET_BYTES, DeliveryConfigError

__all__ = ["MIN_SECRET_BYTES", "SIGNATURE_HEADER", "load_secret", "sign", "verify"]

SIGNATURE_HEADER = "Slopscore-Signature"
_MAX_HEADER_CHARS = 2048
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _digest(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Slopscore-Signature`` header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    if not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative integer (Unix seconds)")
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    """``(t, [v1, ...])`` from a header value, or None when it is malformed."""
    if not isinstance(header, str) or len(header) > _MAX_HEADER_CHARS:
        return None
    timestamps, signatures = [], []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if not _TIMESTAMP.fullmatch(value):
                return None
            timestamps.append(int(value))
        elif key == "v1":
            if not _HEX_DIGEST.fullmatch(value):
                return None
            signatures.append(value)
    if len(timestamps) != 1 or not signatures:
        return None
    return timestamps[0], signatures


def verify(secret: bytes | Sequence[bytes], body: bytes, header: str | None, *, now: float,
           tolerance_s: float = 300) -> bool:
    """Whether ``header`` is a valid signature of ``body`` by ``secret``, made near ``now``.

    Parameters
    ----------
    secret : bytes or sequence of bytes
        The shared secret; a receiver rotating secrets may pass the old and the new one.
    now : float
        The receiver's clock, Unix seconds.
    tolerance_s : float
        Largest distance between the header's ``t`` and ``now`` (either way).

    Returns False (never raises) for a missing or malformed header, a stale or future
    timestamp, or no matching ``v1``.
    """
    parsed = _parse(header) if header is not None else None
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if abs(float(now) - timestamp) > tolerance_s:
        return False
    secrets = [secret] if isinstance(secret, (bytes, bytearray)) else list(secret)
    matched = False
    for key in secrets:
        expected = _digest(bytes(key), body, timestamp)
        for candidate in signatures:  # check them all: the time taken does not say which matched
            matched |= hmac.compare_digest(expected, candidate)
    return matched


def load_secret(path: str | Path) -> bytes:
    """The signing secret from a file: its bytes minus a trailing newline, at least 32 of them.

    Raises
    ------
    DeliveryConfigError
        The file cannot be read, or holds fewer than :data:`MIN_SECRET_BYTES` bytes.
    """
    path = Path(path)
    try:
        secret = path.read_bytes()
    except OSError as exc:
        raise DeliveryConfigError(f"cannot read the webhook secret file {path}: {exc.strerror or exc}") from None
    secret = secret.rstrip(b"\r\n")
    if len(secret) < MIN_SECRET_BYTES:
        raise DeliveryConfigError(f"the webhook secret in {path} is {len(secret)} bytes; "
                                  f"it needs at least {MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)")
    return secret
