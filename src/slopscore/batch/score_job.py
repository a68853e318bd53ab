"""The daily batch job: score new uploads against the artists' history in bounded memory.

Two passes over the manifests:

1. **Per file** (local worker processes, or a Ray actor pool): read each file once,
   hash it, read its provenance and PDQ hash, decode and encode it. Embeddings go
   to the embedding cache (keyed by content hash), so a run killed at any point
   resumes without redoing finished files. Only a compact record per row (ids,
   times, hash, status and the file's small signals) is kept; no embedding.
2. **Per artist**: artists with new uploads are processed a few at a time. Their
   embeddings come back from the cache, the portfolio and duplicate features and
   the scores are computed, and the rows are appended to the output file (and the
   review queue). Memory holds one group of artists, never the whole run.

Every input row of ``new_uploads`` gives exactly one output row: scored, or
skipped with a typed reason, its row number and a detail in words; what was cut
or doubted in a row travels with it in ``warnings``. The output is in processing
order; the review queue (or a sort on ``triage_score``) gives the review order.
Before pass 1 the manifests are read through once (a damaged one stops the run)
and the output and cache locations are opened, so that a location that cannot be
written is found before any file is encoded.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slopscore.batch.file_analysis import RECORD_SCHEMA, FileAnalyser, LocalFileAnalyser, open_embedding_cache
from slopscore.batch.score_output import OUTPUT_SCHEMA, ScoreWriter
from slopscore.config import Settings
from slopscore.embedding.cache import EmbeddingCache
from slopscore.media.manifest import Label, ManifestRow, RowError, check_manifest, iter_manifest
from slopscore.model.scorer import Scorer
from slopscore.signals.duplicates import cross_account_duplicates, find_near_duplicates
from slopscore.signals.feature_table import add_context_features
from slopscore.signals.pdq_index import PdqIndex

__all__ = ["BatchJobSummary", "QueueSink", "run_batch_job", "score_records"]

Progress = Callable[[str, "int | None"], Callable[[int], None]]
_TOP = 10
_NEAREST = 4  # own earlier works shown beside an item


class QueueSink(Protocol):
    """Where the job hands rows besides its output file: the review queue.

    The batch wing knows nothing of the queue database; the caller passes an
    implementation (:class:`slopscore.review.ingest.QueueWriter`).
    """

    def write_scores(self, rows: pd.DataFrame) -> int:
        """Insert or update output rows; returns how many were written."""

    def write_artworks(self, works: pd.DataFrame) -> int:
        """Record works (``item_id``, ``artist_id``, ``uploaded_at``, ``path``, ``title``)."""


@dataclass
class BatchJobSummary:
    """What a run did. ``n_input == n_scored + n_skipped`` always holds."""

    out: Path
    engine: str
    model_version: str
    n_input: int = 0
    n_scored: int = 0
    n_skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    n_history: int = 0
    n_from_cache: int = 0
    n_encoded: int = 0
    n_queued: int = 0
    #: The encoder runtime that ran (:attr:`slopscore.batch.file_analysis.FileAnalyser.runtime`).
    runtime: str = ""
    seconds: float = 0.0
    #: The highest-scored rows (at most 10), best first, for a summary on screen.
    top: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OUTPUT_SCHEMA.names))


def run_batch_job(
    scorer: Scorer,
    new_uploads: str | os.PathLike[str],
    out: str | os.PathLike[str],
    settings: Settings,
    *,
    history: str | os.PathLike[str] | None = None,
    queue: QueueSink | None = None,
    analyser: FileAnalyser | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    raw_csv: bool = False,
) -> BatchJobSummary:
    """Score every row of ``new_uploads``; write ``out`` (Parquet or CSV) atomically.

    Parameters
    ----------
    scorer : Scorer
    new_uploads : path-like
        Manifest (CSV, Parquet, JSON Lines) or image folder.
    out : path-like
        ``.parquet`` or ``.csv``; rows follow :data:`slopscore.batch.score_output.OUTPUT_SCHEMA`:
        ``triage_score`` in [0, 1] (estimated chance a reviewer confirms a concern;
        higher = review sooner; empty for skipped rows), ``p_ai`` in [0, 1].
    settings : Settings
    history : path-like, optional
        The artists' earlier uploads: portfolio context, never scored or output.
    queue : QueueSink, optional
        Review queue to upsert results (and the works' thumbnail sources) into.
    analyser : FileAnalyser, optional
        The per-file engine; :class:`LocalFileAnalyser` over ``scorer``'s backbone
        when omitted (``slopscore.batch.ray_engine.RayFileAnalyser`` for a Ray cluster).
    work_dir : path-like, optional
        Scratch space (an embedding store when the cache is disabled).
    progress : callable, optional
        ``progress(description, total)`` returns an ``advance(n)`` callable.
    raw_csv : bool
        Write a CSV ``out``'s text cells as they are, instead of defusing those a
        spreadsheet would run as a formula (:mod:`slopscore.batch.csv_cells`).

    Raises
    ------
    ManifestFormatError
        A manifest cannot be read as a whole (found before any file is read).
    StorageUnavailableError
        The output or cache location cannot be created or written (read-only, full, or
        a file where a folder should be); ``out`` is then left as it was.
    """
    started = time.perf_counter()
    settings = settings.with_backbone(scorer.info.backbone)
    out = Path(out)
    work_dir = Path(work_dir) if work_dir is not None else out.parent / f".{out.stem}-work"
    progress = progress or (lambda description, total: (lambda n: None))
    total = check_manifest(new_uploads) + (check_manifest(history) if history is not None else 0)
    with ScoreWriter(out, raw_csv=raw_csv) as writer:  # the output location is checked before any work
        analyser = analyser or LocalFileAnalyser.open(settings)
        if analyser.backbone_id != scorer.info.backbone_id:
            raise ValueError(f"backbone {analyser.backbone_id} differs from the scorer's "
                             f"{scorer.info.backbone_id}")
        cache = _embedding_cache(settings, analyser, work_dir)
        summary = BatchJobSummary(out=out, engine=analyser.name,
                                  model_version=scorer.info.model_version)
        table, row_errors = _pass_one(new_uploads, history, analyser, cache, settings,
                                      progress("reading and embedding", total))
        cached = np.asarray(table.column("from_cache").to_numpy(zero_copy_only=False), dtype=bool)
        embedded = pc.fill_null(pc.equal(table.column("status"), "embedded"), False) \
            .to_numpy(zero_copy_only=False)
        is_new = np.asarray(table.column("is_new").to_numpy(zero_copy_only=False), dtype=bool)
        summary.runtime = analyser.runtime
        summary.n_history = int((~is_new).sum())
        summary.n_from_cache = int((cached & embedded).sum())
        summary.n_encoded = int((~cached & embedded).sum())

        cross_account = _cross_account_posters(table, is_new, settings)
        top: list[tuple] = []
        advance = progress("scoring", int(is_new.sum()))
        for rows in _artist_groups(table, is_new, settings.batch.chunk_rows):
            chunk = _score_group(table.take(pa.array(rows)), cross_account[rows], cache, scorer,
                                 settings)
            _emit(chunk, writer, queue, summary, top)
            if queue is not None:
                _queue_artworks(queue, table.take(pa.array(rows)))
            advance(int(chunk.shape[0]))
        if row_errors:
            _emit(_error_rows(row_errors, scorer), writer, queue, summary, top)
    summary.top = pd.DataFrame([row for _, _, row in sorted(top, reverse=True)],
                               columns=OUTPUT_SCHEMA.names)
    summary.seconds = time.perf_counter() - started
    return summary


def score_records(table: pa.Table, cache: EmbeddingCache, scorer: Scorer,
                  settings: Settings) -> pd.DataFrame:
    """Pass 2 over records already analysed: the scored new rows, as the batch job makes them.

    The API's path (``slopscore api``): ``table`` holds the compact records
    (:data:`~slopscore.batch.file_analysis.RECORD_SCHEMA`) of the new uploads
    (``is_new``) and of their artists' history, embeddings are in ``cache``. The rows are
    those :func:`run_batch_job` would write for the same records (``triage_score`` and
    ``p_ai`` in [0, 1], higher = review sooner; NaN for skipped rows), grouped by artist.
    """
    settings = settings.with_backbone(scorer.info.backbone)
    is_new = np.asarray(table.column("is_new").to_numpy(zero_copy_only=False), dtype=bool)
    cross_account = _cross_account_posters(table, is_new, settings)
    chunks = [_score_group(table.take(pa.array(rows)), cross_account[rows], cache, scorer, settings)
              for rows in _artist_groups(table, is_new, settings.batch.chunk_rows)]
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=OUTPUT_SCHEMA.names)


def _pass_one(new_uploads, history, analyser: FileAnalyser, cache: EmbeddingCache,
              settings: Settings, advance: Callable[[int], None]) -> tuple[pa.Table, list[RowError]]:
    """Compact records of every new row and of the history of the artists with new rows."""
    records, row_errors, new_ids, new_artists = [], [], set(), set()
    for batch in _analysed(iter_manifest(new_uploads), analyser, cache, True, row_errors, advance,
                           settings):
        new_ids.update(batch.column("item_id").to_pylist())
        new_artists.update(batch.column("artist_id").to_pylist())
        records.append(batch)
    if history is not None:  # only the history of artists with new uploads matters
        history_rows = (row for row in _counted(iter_manifest(history), advance)
                        if isinstance(row, ManifestRow) and row.item_id not in new_ids
                        and row.artist_id in new_artists)
        records.extend(_analysed(history_rows, analyser, cache, False, [], lambda n: None,
                                 settings))
    table = pa.Table.from_batches(records, schema=RECORD_SCHEMA) if records \
        else RECORD_SCHEMA.empty_table()
    return table, row_errors


def _counted(entries: Iterator, advance: Callable[[int], None]) -> Iterator:
    """Pass ``entries`` through, advancing the progress bar once per entry read."""
    for entry in entries:
        advance(1)
        yield entry


def _embedding_cache(settings: Settings, analyser: FileAnalyser, work_dir: Path) -> EmbeddingCache:
    """The persistent cache, or a job-local store when caching is off (pass 2 reads it back)."""
    directory = settings.cache.dir if settings.cache.enabled else work_dir / "embeddings"
    return open_embedding_cache(directory, analyser.backbone_id, analyser.preprocess_id)


def _analysed(entries, analyser: FileAnalyser, cache: EmbeddingCache, is_new: bool,
              row_errors: list[RowError], advance: Callable[[int], None],
              settings: Settings) -> Iterator[pa.RecordBatch]:
    """Pass 1: compact per-row records, chunk by chunk; malformed rows go to ``row_errors``."""
    chunk: list[ManifestRow] = []
    for entry in entries:
        if isinstance(entry, RowError):
            row_errors.append(entry)
            advance(1)
            continue
        chunk.append(entry)
        if len(chunk) >= settings.batch.chunk_rows:
            yield analyser.analyse(chunk, is_new, cache, advance)
            chunk = []
    if chunk:
        yield analyser.analyse(chunk, is_new, cache, advance)


def _cross_account_posters(table: pa.Table, is_new: np.ndarray, settings: Settings) -> np.ndarray:
    """Other accounts that posted a near-identical image, for each new row (0 for history)."""
    counts = np.zeros(table.num_rows, dtype=np.int64)
    hashed = pc.is_valid(table.column("pdq_hex")).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(hashed)
    if not is_new[rows].any():
        return counts
    digests = b"".join(bytes.fromhex(h) for h in table.column("pdq_hex").drop_null().to_pylist())
    words = np.frombuffer(digests, dtype=">u8").astype(np.uint64).reshape(-1, 4)
    index = PdqIndex.from_arrays(
        words, table.column("pdq_quality").drop_null().to_numpy(),
        table.column("item_id").take(pa.array(rows)).to_numpy(zero_copy_only=False),
        table.column("artist_id").take(pa.array(rows)).to_numpy(zero_copy_only=False),
        table.column("uploaded_at").take(pa.array(rows)).to_numpy(zero_copy_only=False)
        .astype("datetime64[s]"),
    )
    near = find_near_duplicates(index, np.flatnonzero(is_new[rows]),
                                max_distance=settings.portfolio.pdq_max_distance,
                                min_quality=settings.portfolio.pdq_min_quality)
    evidence = cross_account_duplicates(index, near)
    counts[rows[evidence.rows]] = evidence.counts
    return counts


def _artist_groups(table: pa.Table, is_new: np.ndarray, target_rows: int) -> Iterator[np.ndarray]:
    """Row positions of a few whole artists at a time (those with new uploads only)."""
    artists = pd.factorize(np.asarray(table.column("artist_id").to_pylist(), dtype=object))[0]
    wanted = np.zeros(artists.max() + 1 if len(artists) else 0, dtype=bool)
    wanted[artists[is_new]] = True
    rows = np.flatnonzero(wanted[artists]) if len(artists) else np.zeros(0, dtype=np.int64)
    rows = rows[np.argsort(artists[rows], kind="stable")]
    boundaries = np.flatnonzero(np.diff(artists[rows])) + 1
    group: list[np.ndarray] = []
    size = 0
    for artist_rows in np.split(rows, boundaries) if len(rows) else []:
        if group and size + len(artist_rows) > target_rows:
            yield np.concatenate(group)
            group, size = [], 0
        group.append(artist_rows)
        size += len(artist_rows)
    if group:
        yield np.concatenate(group)


def _score_group(group: pa.Table, cross_account: np.ndarray, cache: EmbeddingCache,
                 scorer: Scorer, settings: Settings) -> pd.DataFrame:
    """Pass 2 for a few whole artists: features, scores and nearest own works of their new rows."""
    frame = group.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    frame["uploaded_at"] = pd.to_datetime(frame["uploaded_at"], utc=True)
    signals = pd.DataFrame([json.loads(s) if s else {} for s in frame.pop("signals")],
                           index=frame.index)
    for column in signals.columns.difference(frame.columns):
        frame[column] = signals[column]
    vectors = cache.get_many(h for h, s in zip(frame["sha256"], frame["status"]) if s == "embedded")
    frame["embedding"] = [vectors.get(h) if s == "embedded" else None
                          for h, s in zip(frame["sha256"], frame["status"])]
    lost = frame["status"].eq("embedded") & frame["embedding"].isna()
    frame.loc[lost, ["status", "skip_reason", "skip_detail"]] = [  # cache wiped mid-run
        "skipped", "cache_lost", "the embedding left the cache during the run; run again"]
    add_context_features(frame, settings.portfolio)
    frame["cross_account_posters"] = cross_account
    frame["nearest_works"] = _nearest_works(frame)
    new = frame[frame["is_new"].to_numpy(dtype=bool)].reset_index(drop=True)
    scored = pd.concat([new, scorer.score_frame(new)], axis=1)
    unscored = scored["status"] != "embedded"
    scored.loc[unscored, ["triage_score", "p_ai"]] = float("nan")
    scored.loc[unscored, "reasons"] = "[]"
    return scored


def _nearest_works(frame: pd.DataFrame) -> list[str]:
    """JSON per row: the artist's most similar earlier accepted works (new rows only)."""
    out = ["[]"] * len(frame)
    has = frame["embedding"].notna().to_numpy()
    accepted = (frame["label"].fillna("") != Label.AI_SLOP.value).to_numpy()
    times = frame["uploaded_at"].to_numpy()
    for _, rows in frame.groupby("artist_id", sort=False).indices.items():
        works = rows[has[rows] & accepted[rows]]
        if not len(works):
            continue
        matrix = np.stack(frame["embedding"].to_numpy()[works]).astype(np.float32)
        for i in rows[has[rows] & frame["is_new"].to_numpy(dtype=bool)[rows]]:
            earlier = times[works] < times[i]
            if not earlier.any():
                continue
            sims = matrix[earlier] @ np.asarray(frame["embedding"].iat[i], np.float32)
            order = np.argsort(-sims, kind="stable")[:_NEAREST]
            ids = frame["item_id"].to_numpy()[works[earlier]]
            out[i] = json.dumps([{"item_id": str(ids[k]), "similarity": round(float(sims[k]), 4)}
                                 for k in order])
    return out


def _error_rows(row_errors: list[RowError], scorer: Scorer) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": [e.item_id for e in row_errors], "row_number": [e.row_number for e in row_errors],
        "status": "skipped", "skip_reason": [e.reason for e in row_errors],
        "skip_detail": [e.detail for e in row_errors], "warnings": "[]",
        "model_version": scorer.info.model_version, "backbone_id": scorer.info.backbone_id,
    })


def _emit(chunk: pd.DataFrame, writer: ScoreWriter, queue: QueueSink | None,
          summary: BatchJobSummary, top: list[tuple]) -> None:
    rows = writer.write(chunk)
    scored = rows["status"] == "embedded"
    summary.n_input += len(rows)
    summary.n_scored += int(scored.sum())
    summary.n_skipped += int((~scored).sum())
    summary.skip_reasons.update(rows.loc[~scored, "skip_reason"].fillna("unknown"))
    if queue is not None:
        summary.n_queued += queue.write_scores(rows)
    for row in rows[scored].nlargest(_TOP, "triage_score").to_dict("records"):
        entry = (row["triage_score"], str(row["item_id"]), row)
        if len(top) < _TOP:
            heapq.heappush(top, entry)
        else:
            heapq.heappushpop(top, entry)


def _queue_artworks(queue: QueueSink, group: pa.Table) -> None:
    queue.write_artworks(group.select(["item_id", "artist_id", "uploaded_at", "path", "title"])
                         .to_pandas())

