"""``slopscore embed``: a manifest or folder in, a Parquet file of embeddings and a skip report out.

Exactly one output row per input row: embedded, or skipped with a typed reason
(image failures from :mod:`slopscore.media.decode`, ``malformed_row`` and
``duplicate_item_id`` from :mod:`slopscore.media.manifest`). The manifest is processed
in chunks, so memory stays bounded however long it is. Both files appear atomically
when the run finishes: a killed run leaves an earlier output as it was.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa

from slopscore.batch.file_analysis import open_embedding_cache
from slopscore.batch.score_output import CsvRowWriter, TableWriter, storage_errors
from slopscore.config import Settings
from slopscore.embedding.backbones import LoadedBackbone, load_backbone
from slopscore.embedding.cache import EmbeddingCache
from slopscore.embedding.encoder import EmbedResult, FileSignalReader, ImageEncoder, embed_sources
from slopscore.media.manifest import ManifestRow, RowError, check_manifest, iter_manifest

__all__ = ["EmbedJobSummary", "open_encoder", "run_embedding_job", "skip_report_path"]

CHUNK_ROWS = 2048
SKIP_COLUMNS = ("item_id", "row_number", "reason", "detail")
#: The output file's columns; ``embedding`` is null for skipped rows.
SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("artist_id", pa.string()),
    ("row_number", pa.int64()),
    ("sha256", pa.string()),
    ("backbone_id", pa.string()),
    ("preprocess_id", pa.string()),
    ("status", pa.string()),
    ("skip_reason", pa.string()),
    ("detail", pa.string()),
    ("from_cache", pa.bool_()),
    ("embedding", pa.list_(pa.float32())),
])


@dataclass
class EmbedJobSummary:
    """Counts and context of one run; ``n_input == n_embedded + n_skipped`` always."""

    n_input: int = 0
    n_embedded: int = 0
    n_from_cache: int = 0
    n_skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    backbone_id: str = ""
    backbone_description: str = ""
    is_clip: bool = False
    device: str = ""
    precision: str = ""
    #: Which runtime encoded and why (e.g. ``runtime onnxruntime (measured: ...)``).
    runtime: str = ""
    seconds: float = 0.0
    out: Path | None = None
    skip_report: Path | None = None
    #: ``item_id -> signals`` read from the same bytes, when the job was given ``signals``.
    signals: dict[str, dict] = field(default_factory=dict)


def skip_report_path(out: Path) -> Path:
    """Where the skip report for ``out`` goes: ``NAME.skips.csv`` beside it."""
    return out.with_name(out.name.removesuffix(".parquet") + ".skips.csv")


def open_encoder(settings: Settings, backbone: str | None = None) -> tuple[LoadedBackbone, ImageEncoder]:
    """Load the configured backbone and wrap it for batched encoding on the configured runtime.

    Returns
    -------
    (LoadedBackbone, ImageEncoder)
        The backbone whose id the embeddings carry (``<id>+int8-...`` for int8) and its encoder.
    """
    embedding = settings.embedding
    loaded = load_backbone(
        backbone or embedding.backbone,
        weights_dir=embedding.weights_dir,
        allow_download=embedding.allow_download,
    )
    encoder = ImageEncoder(
        loaded, device=embedding.device, precision=embedding.precision, runtime=embedding.runtime,
        cache_dir=Path(settings.cache.dir).expanduser(), int8=embedding.int8,
        int8_calibration=embedding.int8_calibration, max_pixels=settings.images.max_pixels,
        max_bytes=settings.images.max_bytes,
    )
    return encoder.backbone, encoder  # int8 embeddings carry their own backbone id


def run_embedding_job(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    settings: Settings,
    *,
    encoder: ImageEncoder | None = None,
    progress: Callable[[int | None], Callable[[int], None]] | None = None,
    signals: FileSignalReader | None = None,
) -> EmbedJobSummary:
    """Embed every row of ``source`` and write ``out`` (Parquet) plus its skip report.

    Parameters
    ----------
    source : path-like
        Manifest (CSV, Parquet, JSON Lines) or a folder of images.
    out : path-like
        Output Parquet file; the skip report is written beside it.
    settings : Settings
    encoder : ImageEncoder, optional
        Reuse an already loaded encoder (else the configured backbone is loaded).
    progress : callable, optional
        Given the total row count, returns an ``advance(n)`` callable.
    signals : FileSignalReader, optional
        Also read each file's provenance and PDQ hash from the same bytes, into
        :attr:`EmbedJobSummary.signals`.

    Raises
    ------
    ManifestFormatError
        ``source`` cannot be read as a whole (found before any file is read).
    StorageUnavailableError
        The output, skip report or cache cannot be written; ``out`` is left as it was.
    """
    started = time.perf_counter()
    out = Path(out)
    total = check_manifest(source)  # a damaged manifest stops the job before any work
    with TableWriter(out, SCHEMA, parquet=True) as writer, \
            CsvRowWriter(skip_report_path(out), SKIP_COLUMNS, "skip report") as skips:
        if encoder is None:
            _, encoder = open_encoder(settings)
        backbone = encoder.backbone
        cache = None
        if settings.cache.enabled:
            cache = open_embedding_cache(settings.cache.dir, backbone.backbone_id,
                                         backbone.preprocess.id)
        advance = progress(total) if progress else (lambda n: None)
        summary = EmbedJobSummary(
            backbone_id=backbone.backbone_id, backbone_description=backbone.description,
            is_clip=backbone.is_clip, device=str(encoder.device), out=out,
            skip_report=skip_report_path(out),
        )
        for chunk in _chunks(iter_manifest(source), CHUNK_ROWS):
            with storage_errors("cache", settings.cache.dir, kinds=(sqlite3.Error,)):
                records = _embed_chunk(chunk, encoder, cache, settings, advance, signals)
            writer.write_table(_to_table(records, SCHEMA, backbone.embed_dim))
            for record in records:
                if record.get("signals") is not None:
                    summary.signals[record["item_id"]] = record.pop("signals")
                summary.n_input += 1
                if record["status"] == "embedded":
                    summary.n_embedded += 1
                    summary.n_from_cache += bool(record["from_cache"])
                else:
                    summary.n_skipped += 1
                    summary.skip_reasons[record["skip_reason"]] += 1
                    skips.write_row([record["item_id"], record["row_number"],
                                     record["skip_reason"], record["detail"]])
    summary.precision = encoder.precision
    summary.runtime = encoder.runtime_description
    summary.seconds = time.perf_counter() - started
    return summary


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _to_table(records: list[dict], schema: pa.Schema, dim: int) -> pa.Table:
    """Columns from records; embeddings go in as one contiguous float32 block (null when skipped)."""
    present = np.array([r["embedding"] is not None for r in records], dtype=bool)
    values = np.stack([r["embedding"] for r in records if r["embedding"] is not None]) if present.any() \
        else np.zeros((0, dim), np.float32)
    offsets = np.concatenate([[0], np.cumsum(present * dim)]).astype(np.int32)
    embedding = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values.reshape(-1).astype(np.float32)), mask=pa.array(~present)
    )
    columns = {name: [r[name] for r in records] for name in schema.names if name != "embedding"}
    columns["embedding"] = embedding
    return pa.table(columns, schema=schema)


def _embed_chunk(chunk: list[ManifestRow | RowError], encoder: ImageEncoder,
                 cache: EmbeddingCache | None, settings: Settings,
                 advance: Callable[[int], None],
                 signals: FileSignalReader | None = None) -> list[dict]:
    rows = [entry for entry in chunk if isinstance(entry, ManifestRow)]
    results: dict[int, EmbedResult] = {}
    for result in embed_sources(
        [row.path for row in rows], encoder, cache=cache,
        batch_size=settings.embedding.batch_size, num_workers=settings.embedding.num_workers,
        max_pixels=settings.images.max_pixels, max_bytes=settings.images.max_bytes,
        on_batch=advance, signals=signals,
    ):
        results[result.index] = result
    advance(len(chunk) - len(rows))
    backbone = encoder.backbone
    row_results = iter(results[i] for i in range(len(rows)))
    records = []
    for entry in chunk:
        record = {"backbone_id": backbone.backbone_id, "preprocess_id": backbone.preprocess.id,
                  "from_cache": False, "sha256": None, "embedding": None, "detail": None,
                  "skip_reason": None, "row_number": entry.row_number, "item_id": entry.item_id}
        if isinstance(entry, RowError):
            record.update(artist_id=None, status="skipped", skip_reason=entry.reason,
                          detail=entry.detail)
        else:
            result = next(row_results)
            record.update(artist_id=entry.artist_id, sha256=result.sha256,
                          from_cache=result.from_cache, signals=result.signals)
            if result.vector is None:
                record.update(status="skipped", skip_reason=result.skip_reason.value,
                              detail=result.detail)
            else:
                record.update(status="embedded", embedding=np.asarray(result.vector, np.float32))
        records.append(record)
    return records
