"""Persistent caches keyed by file content: embeddings and per-file signals.

One SQLite database in WAL mode: any number of processes may read while one
writes, and a crash never leaves a half-written entry (each batch is one
transaction). Re-scoring the same files therefore never re-encodes or re-parses them.

* :class:`EmbeddingCache`: vectors by (sha256, backbone id, preprocessing id).
* :class:`SignalCache`: provenance and PDQ columns by (sha256, signals version).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingCache", "SignalCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    sha256 TEXT NOT NULL,
    backbone TEXT NOT NULL,
    preprocess TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (sha256, backbone, preprocess)
) WITHOUT ROWID
"""
_SIGNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_signals (
    sha256 TEXT NOT NULL,
    version TEXT NOT NULL,
    signals TEXT NOT NULL,
    PRIMARY KEY (sha256, version)
) WITHOUT ROWID
"""
_BATCH = 500  # stay well below SQLite's bound-parameter limit


class _Store:
    """One connection per process (also after ``fork``) to ``directory/embeddings.sqlite3``."""

    schema = ""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory).expanduser()
        self.path = self.directory / "embeddings.sqlite3"
        self._local = threading.local()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._connect().execute(self.schema)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_local"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        pid = os.getpid()
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != pid:
            connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection, self._local.pid = connection, pid
        return connection

    def _write(self, statement: str, rows: list[tuple]) -> None:
        if not rows:
            return
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(statement, rows)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


class SignalCache(_Store):
    """What each file says about itself (see :mod:`slopscore.signals.file_signals`), by content hash.

    Parameters
    ----------
    directory : path-like
    version : str
        Bumped whenever the parsers change, so stale signals are never reused.
    """

    schema = _SIGNAL_SCHEMA

    def __init__(self, directory: str | os.PathLike[str], version: str):
        super().__init__(directory)
        self.version = version

    def get(self, sha256: str) -> dict | None:
        """The stored signals, or None."""
        row = self._connect().execute(
            "SELECT signals FROM file_signals WHERE sha256=? AND version=?", (sha256, self.version)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, sha256: str, signals: dict) -> None:
        """Store one file's signals (JSON-serialisable columns)."""
        self._write("INSERT OR REPLACE INTO file_signals VALUES (?, ?, ?)",
                    [(sha256, self.version, json.dumps(signals))])


class EmbeddingCache(_Store):
    """Float32 vectors for one (backbone, preprocessing) pair, stored under ``directory``.

    Parameters
    ----------
    directory : path-like
        Folder holding ``embeddings.sqlite3`` (created if missing).
    backbone_id, preprocess_id : str
        Part of every key, so different backbones never share entries.

    Notes
    -----
    Each process opens its own connection (also after ``fork``), so the object
    can be handed to DataLoader workers.
    """

    schema = _SCHEMA

    def __init__(self, directory: str | os.PathLike[str], backbone_id: str, preprocess_id: str):
        super().__init__(directory)
        self.backbone_id = backbone_id
        self.preprocess_id = preprocess_id

    def contains(self, sha256: str) -> bool:
        """Whether a vector for this content is stored."""
        row = self._connect().execute(
            "SELECT 1 FROM embeddings WHERE sha256=? AND backbone=? AND preprocess=?",
            (sha256, self.backbone_id, self.preprocess_id),
        ).fetchone()
        return row is not None

    def get_many(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors for the hashes that are stored; absent hashes are left out."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        connection = self._connect()
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT sha256, dim, vector FROM embeddings WHERE backbone=? AND preprocess=? "
                f"AND sha256 IN ({marks})",
                (self.backbone_id, self.preprocess_id, *chunk),
            )
            for sha256, dim, blob in rows:
                if len(blob) == 4 * dim:  # anything else is a damaged entry: treated as absent
                    found[sha256] = np.frombuffer(blob, dtype="<f4")
        return found

    def put_many(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors (float32, one per hash) in one transaction."""
        rows = [
            (sha, self.backbone_id, self.preprocess_id, int(v.shape[0]),
             np.ascontiguousarray(v, dtype="<f4").tobytes())
            for sha, v in vectors.items()
        ]
        self._write("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        row = self._connect().execute(
            "SELECT COUNT(*) FROM embeddings WHERE backbone=? AND preprocess=?",
            (self.backbone_id, self.preprocess_id),
        ).fetchone()
        return int(row[0])
