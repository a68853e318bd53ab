"""Pass 1 of the batch job: each file read once, hashed, described and embedded.

A :class:`FileAnalyser` turns a chunk of manifest rows into a compact Arrow record
batch (:data:`RECORD_SCHEMA`): identity, time, content hash, status and the file's
small signals as JSON. The embeddings themselves go to the embedding cache, keyed
by content hash, where pass 2 reads them back. :class:`LocalFileAnalyser` uses
DataLoader worker processes; ``slopscore.batch.ray_engine.RayFileAnalyser`` an actor pool.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Protocol

import pyarrow as pa

from slopscore.batch.score_output import storage_errors
from slopscore.config import Settings
from slopscore.embedding.cache import EmbeddingCache, SignalCache
from slopscore.embedding.encoder import EmbedResult, ImageEncoder, embed_sources
from slopscore.media.manifest import ManifestRow
from slopscore.signals.file_signals import SIGNALS_VERSION, FileSignalReader

__all__ = ["FileAnalyser", "LocalFileAnalyser", "RECORD_SCHEMA", "open_embedding_cache",
           "records_from_results"]

RECORD_SCHEMA = pa.schema([
    ("is_new", pa.bool_()),
    ("row_number", pa.int64()),
    ("item_id", pa.string()),
    ("artist_id", pa.string()),
    ("path", pa.string()),
    ("uploaded_at", pa.timestamp("us", tz="UTC")),
    ("label", pa.string()),
    ("declared_ai", pa.bool_()),
    ("has_process_notes", pa.bool_()),
    ("title", pa.string()),
    ("tags", pa.string()),
    ("sha256", pa.string()),
    ("status", pa.string()),
    ("skip_reason", pa.string()),
    ("skip_detail", pa.string()),
    ("warnings", pa.string()),
    ("from_cache", pa.bool_()),
    ("pdq_hex", pa.string()),
    ("pdq_quality", pa.int64()),
    ("signals", pa.string()),
])


class FileAnalyser(Protocol):
    """What the batch job needs from a per-file engine."""

    name: str
    backbone_id: str
    preprocess_id: str
    #: Which encoder runtime runs, once known (e.g. ``runtime onnxruntime (measured: ...)``).
    runtime: str

    def analyse(self, rows: Sequence[ManifestRow], is_new: bool, cache: EmbeddingCache,
                advance: Callable[[int], None] = lambda n: None) -> pa.RecordBatch:
        """One record per row, in order; every embedding is stored in ``cache``;
        ``advance(n)`` is called as files finish (progress bars)."""


def records_from_results(rows: Sequence[ManifestRow], results: Sequence[EmbedResult],
                         is_new: bool) -> pa.RecordBatch:
    """The compact records of ``rows`` from their per-file results (same order)."""
    signals = [r.signals or {} for r in results]
    return pa.RecordBatch.from_pydict({
        "is_new": [is_new] * len(rows),
        "row_number": [row.row_number for row in rows],
        "item_id": [row.item_id for row in rows],
        "artist_id": [row.artist_id for row in rows],
        "path": [row.path for row in rows],
        "uploaded_at": [row.uploaded_at for row in rows],
        "label": [row.label.value if row.label else None for row in rows],
        "declared_ai": [row.declared_ai for row in rows],
        "has_process_notes": [row.has_process_notes for row in rows],
        "title": [row.title for row in rows],
        "tags": [";".join(row.tags) for row in rows],
        "sha256": [r.sha256 for r in results],
        "status": ["embedded" if r.vector is not None else "skipped" for r in results],
        "skip_reason": [r.skip_reason.value if r.skip_reason is not None else None
                        for r in results],
        "skip_detail": [r.detail if r.vector is None else None for r in results],
        "warnings": [json.dumps(list(row.warnings)) for row in rows],
        "from_cache": [r.from_cache for r in results],
        "pdq_hex": [s.get("pdq_hex") for s in signals],
        "pdq_quality": [s.get("pdq_quality") for s in signals],
        "signals": [json.dumps({k: v for k, v in s.items() if not k.startswith("pdq_")})
                    for s in signals],
    }, schema=RECORD_SCHEMA)


def open_embedding_cache(directory: str | os.PathLike[str], backbone_id: str,
                         preprocess_id: str) -> EmbeddingCache:
    """The embedding cache in ``directory``, found writable now, before any file is read.

    Raises
    ------
    StorageUnavailableError
        The folder or its database cannot be created or written.
    """
    with storage_errors("embedding cache", directory):
        cache = EmbeddingCache(directory, backbone_id, preprocess_id)
        probe = sqlite3.connect(cache.path, timeout=60.0, isolation_level=None)
        try:  # takes the write lock and gives it back: fails on a read-only file or folder
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    return cache


class LocalFileAnalyser:
    """Decode in DataLoader workers, encode in this process; caches filled as batches finish."""

    name = "local"

    def __init__(self, encoder: ImageEncoder, settings: Settings):
        self.encoder = encoder
        self.settings = settings
        self.backbone_id = encoder.backbone.backbone_id
        self.preprocess_id = encoder.backbone.preprocess.id
        signal_cache = None
        if settings.cache.enabled:
            with storage_errors("file-signal cache", settings.cache.dir):
                signal_cache = SignalCache(settings.cache.dir, SIGNALS_VERSION)
        self.signals = FileSignalReader(settings.images.max_pixels, signal_cache)

    @property
    def runtime(self) -> str:
        """Which runtime the encoder runs and why (settled by the first encoded batch)."""
        return self.encoder.runtime_description

    @classmethod
    def open(cls, settings: Settings) -> "LocalFileAnalyser":
        """Load the configured backbone."""
        from slopscore.batch.embed_job import open_encoder

        _, encoder = open_encoder(settings)
        return cls(encoder, settings)

    def analyse(self, rows: Sequence[ManifestRow], is_new: bool, cache: EmbeddingCache,
                advance: Callable[[int], None] = lambda n: None) -> pa.RecordBatch:
        with storage_errors("cache", cache.directory, kinds=(sqlite3.Error,)):  # full mid-run
            results = list(embed_sources(
                [row.path for row in rows], self.encoder, cache=cache,
                batch_size=self.settings.embedding.batch_size,
                num_workers=self.settings.embedding.num_workers,
                max_pixels=self.settings.images.max_pixels,
                max_bytes=self.settings.images.max_bytes, signals=self.signals, on_batch=advance,
            ))
        return records_from_results(rows, results, is_new)
