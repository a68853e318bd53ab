"""The webhook signature (``Slopscore-Signature``), the signing secret file and delivery settings."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from slopscore.delivery.settings import DeliveryConfig, DeliveryConfigError
from slopscore.delivery.signing import load_secret, sign, verify

SECRET = b"s" * 32
OTHER = b"o" * 32
BODY = '{"text": "Bonjour \u00e9\u2713", "type": "slopscore.member_message"}'.encode()
T = 1_783_152_000


def test_the_signature_is_an_hmac_sha256_of_the_timestamp_and_the_body():
    header = sign(SECRET, BODY, T)
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    assert verify(SECRET, BODY, header, now=T + 299)
    assert verify(SECRET, BODY, header, now=T - 299)  # a receiver's clock a little behind


@pytest.mark.parametrize("why", ["tampered body", "wrong secret", "stale", "future", "other timestamp"])
def test_verify_rejects_a_changed_body_another_secret_and_old_or_future_timestamps(why):
    header = sign(SECRET, BODY, T)
    body, secret, now = BODY, SECRET, T
    if why == "tampered body":
        body = BODY.replace(b"Bonjour", b"Bonsoir")
    elif why == "wrong secret":
        secret = OTHER
    elif why == "stale":
        now = T + 301
    elif why == "future":
        now = T - 301
    else:  # the digest of one time sent with another
        header = header.replace(f"t={T}", f"t={T + 1}")
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), now=T)
    assert not verify(secret, body, header, now=now)


@pytest.mark.parametrize("header", [
    None, "", "garbage", "t=,v1=", f"t={T}", "v1=" + "a" * 64, f"t={T},v1=" + "a" * 63,
    f"t={T},v1=" + "A" * 64, f"t=-{T},v1=" + "a" * 64, f"t={T}.5,v1=" + "a" * 64,
    f"t={T},t={T},v1=" + "a" * 64, f"t={T};v1=" + "a" * 64, "t=" + "9" * 40 + ",v1=" + "a" * 64,
    f"t={T}," + ",".join(["v1=" + "a" * 64] * 40),
])
def test_verify_rejects_malformed_headers(header):
    assert verify(SECRET, BODY, header, now=T) is False


def test_during_a_rotation_one_matching_v1_or_secret_is_enough():
    old, new = sign(OTHER, BODY, T), sign(SECRET, BODY, T)
    both = f"{old},{new.split(',')[1]},v2=future-scheme"
    assert verify(SECRET, BODY, both, now=T) and verify(OTHER, BODY, both, now=T)
    assert not verify(b"x" * 32, BODY, both, now=T)
    assert verify([b"x" * 32, SECRET], BODY, new, now=T)  # a receiver holding the old and new secret


def test_the_secret_file_must_hold_at_least_32_bytes(tmp_path):
    good = tmp_path / "secret"
    good.write_bytes(SECRET + b"\n")
    assert load_secret(good) == SECRET
    short = tmp_path / "short"
    short.write_text("x" * 31 + "\n")
    with pytest.raises(DeliveryConfigError, match="31 bytes"):
        load_secret(short)
    with pytest.raises(DeliveryConfigError, match="cannot read"):
        load_secret(tmp_path / "missing")


@pytest.mark.parametrize("url", ["ftp://platform.example/hook", "file:///etc/passwd", "platform.example/hook",
                                 "http:///hook", "https://user:pw@platform.example/hook", "http://h:99999/x"])
def test_the_webhook_must_be_a_plain_http_or_https_url(url):
    with pytest.raises(DeliveryConfigError):
        DeliveryConfig(webhook_url=url, secret=SECRET)


def test_settings_hold_a_long_enough_secret_and_sane_numbers():
    config = DeliveryConfig(webhook_url="https://platform.example/hook", secret=SECRET)
    assert config.max_attempts == 8 and config.backoff_base_s == 30 and config.backoff_cap_s == 3600
    assert "sss" not in repr(config)  # the secret never lands in a log line
    assert config.lease_seconds > config.batch_size * config.timeout_s
    with pytest.raises(DeliveryConfigError, match="32 bytes"):
        DeliveryConfig(webhook_url="https://platform.example/hook", secret=b"short")
    with pytest.raises(DeliveryConfigError, match="max_attempts"):
        DeliveryConfig(webhook_url="https://platform.example/hook", secret=SECRET, max_attempts=0)
