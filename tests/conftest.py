"""Shared fixtures. Tests never touch the network: any connection beyond loopback fails."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

os.environ["SLOPSCORE_ALLOW_TEST_BACKBONE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("SLOPSCORE_REALDATA", REPO.parent / "shared" / "realdata"))

_real_connect = socket.socket.connect


class NetworkBlocked(RuntimeError):
    """A test tried to reach a non-loopback address."""


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise NetworkBlocked(f"test attempted a network connection to {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to connect outside this machine."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata``; tests using it skip cleanly when it is absent."""
    if not (REALDATA / "manifest.csv").is_file():
        pytest.skip(f"real-data corpus not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def effnet():
    """The real ImageNet EfficientNet-Lite0 backbone (loaded once)."""
    from slopscore.embedding.backbones import load_backbone

    return load_backbone("effnet-lite0")


@pytest.fixture(scope="session")
def tiny():
    """The tiny random-weight open_clip tower (tests only)."""
    from slopscore.embedding.backbones import load_backbone

    return load_backbone("test:tiny-clip")


#: Admin URL of a PostgreSQL server (``.ci/run`` starts one); each test gets its own database.
POSTGRES_URL = os.environ.get("SLOPSCORE_TEST_POSTGRES_URL")
#: Set by ``.ci/run``: a missing server is then a failure, never a skip.
POSTGRES_REQUIRED = os.environ.get("SLOPSCORE_REQUIRE_POSTGRES") == "1"


def _postgres_database(name: str) -> str:
    """Create an empty database ``name`` and return its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not POSTGRES_URL:
        if POSTGRES_REQUIRED:
            pytest.fail("SLOPSCORE_REQUIRE_POSTGRES=1 but SLOPSCORE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL (set SLOPSCORE_TEST_POSTGRES_URL; .ci/run does)")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_url(request, tmp_path) -> str:
    """An empty review-queue database: a SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return _postgres_database(name)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A small generated platform and a scorer trained on it with the tiny backbone (once)."""
    import mlflow

    from slopscore.config import load_settings
    from slopscore.demo.platform import generate_platform
    from slopscore.training.train import train

    root = tmp_path_factory.mktemp("training")
    platform = generate_platform(root / "platform", seed=3, scale=0.6)
    settings = load_settings(None, {
        "embedding.backbone": "test:tiny-clip", "embedding.num_workers": 0,
        "embedding.device": "cpu", "embedding.precision": "fp32",
        "cache.dir": str(root / "cache"), "tracking.store_dir": str(root / "mlruns"),
        "training.segment_min_count": 3,
    })
    outcome = train(platform.history, settings, root / "out", log=lambda message: None)
    yield platform, settings, outcome, root
    mlflow.set_tracking_uri(None)
