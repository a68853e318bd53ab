"""How messages are delivered: the webhook, its secret, timeouts, retries (validated once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["DeliveryConfig", "DeliveryConfigError", "MIN_SECRET_BYTES", "check_webhook_url"]

#: The shortest signing secret accepted.
MIN_SECRET_BYTES = 32


class DeliveryConfigError(ValueError):
    """The delivery settings cannot work (bad webhook URL, missing or short secret, bad numbers)."""


def check_webhook_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host and no credentials in it.

    Raises
    ------
    DeliveryConfigError
        Another scheme (file:, ftp:...), no host, or a user name/password in the URL (the
        signature authenticates the sender; credentials in a URL end up in logs).
    """
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise DeliveryConfigError(f"the webhook URL is not valid: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise DeliveryConfigError(f"the webhook URL must be http:// or https://, got {parts.scheme or 'none'}:")
    if not parts.hostname:
        raise DeliveryConfigError("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise DeliveryConfigError("the webhook URL must not hold credentials (the signature authenticates)")
    return text


@dataclass(frozen=True)
class DeliveryConfig:
    """Where and how messages are delivered.

    Parameters
    ----------
    webhook_url : str
        The platform's endpoint (http or https); redirects are never followed.
    secret : bytes
        The shared signing secret (at least 32 bytes; see :func:`~slopscore.delivery.signing.load_secret`).
    timeout_s : float
        Limit for connecting, and for each read or write, of one attempt.
    max_attempts : int
        Attempts before a message is ``failed`` (an admin may queue it again).
    backoff_base_s, backoff_factor, backoff_cap_s : float
        The wait before retry ``n`` is drawn from ``[d/2, d]`` with ``d = min(cap, base * factor**(n-1))``;
        a numeric ``Retry-After`` lengthens it, up to the cap.
    batch_size : int
        Messages leased at once (their lease covers posting them all).
    max_per_pass : int
        Attempts in one delivery pass at most.
    """

    webhook_url: str
    secret: bytes = field(repr=False)
    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_base_s: float = 30.0
    backoff_factor: float = 2.0
    backoff_cap_s: float = 3600.0
    batch_size: int = 10
    max_per_pass: int = 200

    def __post_init__(self) -> None:
        object.__setattr__(self, "webhook_url", check_webhook_url(self.webhook_url))
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_SECRET_BYTES:
            raise DeliveryConfigError(f"the webhook secret must be at least {MIN_SECRET_BYTES} bytes")
        checks = {"timeout_s": 0 < self.timeout_s <= 300, "max_attempts": 1 <= self.max_attempts <= 100,
                  "backoff_base_s": 0 < self.backoff_base_s <= self.backoff_cap_s,
                  "backoff_factor": 1 <= self.backoff_factor <= 10, "backoff_cap_s": self.backoff_cap_s <= 7 * 86400,
                  "batch_size": 1 <= self.batch_size <= 500, "max_per_pass": 1 <= self.max_per_pass <= 100_000}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise DeliveryConfigError("delivery settings out of range: "
                                      + ", ".join(f"{name}={getattr(self, name)!r}" for name in bad))

    @property
    def lease_seconds(self) -> float:
        """How long a leased batch is held: long enough to post every message in it."""
        return self.batch_size * (self.timeout_s * 3 + 5) + 30
