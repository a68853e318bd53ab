"""Scoring at upload time: the batch job's code path, one request at a time.

:class:`UploadScorer` holds the model (loaded once) and its encoder. For each request it
reads the artists' earlier works from the queue database (``artworks``, see
:mod:`slopscore.review.portfolio_history`), embeds the uploads and that history through
:func:`slopscore.embedding.encoder.embed_sources` (files found in the embedding cache are
only hashed), builds the batch job's records (:func:`slopscore.batch.file_analysis.records_from_results`)
and scores them with :func:`slopscore.batch.score_job.score_records`. So a request's rows get
exactly the scores ``slopscore score`` gives the same rows with the same history. Encoding
is shared across concurrent requests by a :class:`~slopscore.web.api_batcher.MicroBatcher`;
the rest of a request (features, scores) is computed for that request alone, so a result
never depends on which other requests arrived at the same time.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from threadpoolctl import threadpool_limits

from slopscore.batch.file_analysis import RECORD_SCHEMA, LocalFileAnalyser, open_embedding_cache, records_from_results
from slopscore.batch.score_job import score_records
from slopscore.batch.score_output import output_rows
from slopscore.config import Settings
from slopscore.embedding.encoder import EmbedResult, embed_sources
from slopscore.model.scorer import Scorer
from slopscore.review.ingest import QueueWriter, register_model_version
from slopscore.review.portfolio_history import DEFAULT_MAX_HISTORY, earlier_works
from slopscore.web.api_batcher import MicroBatcher
from slopscore.web.api_uploads import Upload

__all__ = ["UploadScorer"]


#: History files whose per-file result is remembered in this process, so an artist's earlier
#: works are read and hashed once, not on every request (keyed by path, mtime and size).
HISTORY_MEMO_FILES = 50_000


def _file_key(path: str) -> tuple | None:
    """``(path, mtime_ns, size)`` of a history file, or None when it cannot be stat'ed."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return path, info.st_mtime_ns, info.st_size


class UploadScorer:
    """Scores uploads with one loaded scorer against their artists' history in ``engine``.

    Parameters
    ----------
    scorer : Scorer
    settings : Settings
        The caches, limits and portfolio settings (as ``slopscore score`` reads them).
        Decoding runs in this process (no worker processes per request).
    engine : sqlalchemy.engine.Engine
        The review-queue database: ``artworks`` for history, the queue for ``write_to_queue``.
    upload_dir : path-like
        Where uploads written to the queue are kept (content addressed), so that moderators
        see them and later uploads compare with them.
    max_history : int
        Most recent works per artist read as history.
    max_wait_s : float
        The micro-batcher's longest wait for requests arriving together.
    analyser : LocalFileAnalyser, optional
        A loaded encoder to reuse (tests); loaded from ``settings`` when omitted.
    """

    def __init__(self, scorer: Scorer, settings: Settings, engine: Engine, *, upload_dir: str | os.PathLike[str],
                 max_history: int = DEFAULT_MAX_HISTORY, max_wait_s: float = 0.004,
                 analyser: LocalFileAnalyser | None = None):
        settings = settings.with_backbone(scorer.info.backbone)
        self.settings = settings.model_copy(
            update={"embedding": settings.embedding.model_copy(update={"num_workers": 0})})
        self.scorer = scorer
        self.engine = engine
        self.upload_dir = Path(upload_dir)
        self.max_history = max_history
        self.analyser = analyser or LocalFileAnalyser.open(self.settings)
        if self.analyser.backbone_id != scorer.info.backbone_id:
            raise ValueError(f"backbone {self.analyser.backbone_id} differs from the scorer's "
                             f"{scorer.info.backbone_id}")
        self._scratch = None
        if self.settings.cache.enabled:
            directory = self.settings.cache.dir
        else:  # pass 2 reads embeddings back from a store: a private one for this process
            self._scratch = tempfile.TemporaryDirectory(prefix="slopscore-api-")
            directory = self._scratch.name
        self.cache = open_embedding_cache(directory, self.analyser.backbone_id, self.analyser.preprocess_id)
        self.queue = QueueWriter(engine)
        self.batcher = MicroBatcher(self._embed, max_items=max(64, self.settings.embedding.batch_size),
                                    max_wait_s=max_wait_s)
        self._history: OrderedDict[tuple, EmbedResult] = OrderedDict()
        register_model_version(engine, scorer.info.model_version, scorer.info.backbone_id,
                               scorer.info.reference_histogram, scorer.info.base_rate)
        # A request's matrices are small: NumPy's BLAS threads only wake and contend with the
        # encoder's (a 128x1280 product took 20 ms instead of 0.5 ms). Restored by close().
        self._blas = threadpool_limits(1, user_api="blas")

    @property
    def model_version(self) -> str:
        return self.scorer.info.model_version

    def _embed(self, sources: list) -> list[EmbedResult]:
        """The batcher's work (its own thread): bytes of uploads and paths of history files."""
        return list(embed_sources(
            sources, self.analyser.encoder, cache=self.cache, batch_size=self.settings.embedding.batch_size,
            num_workers=0, max_pixels=self.settings.images.max_pixels,
            max_bytes=self.settings.images.max_bytes, signals=self.analyser.signals))

    async def score(self, uploads: Sequence[Upload], *, write_to_queue: bool = False) -> pd.DataFrame:
        """Output rows (``slopscore score``'s columns) for ``uploads``, one per upload, same order.

        ``triage_score`` in [0, 1] is the estimated chance a reviewer confirms a concern
        (higher = review sooner) and ``p_ai`` in [0, 1] the calibrated chance the image is
        AI-generated; both NaN for an upload the decoder refused (``status`` ``skipped``
        with its ``skip_reason``). Column ``queued`` says whether the row went to the queue.
        """
        if not uploads:
            return pd.DataFrame()
        rows = [u.row for u in uploads]
        history = await run_in_threadpool(earlier_works, self.engine, {r.artist_id for r in rows},
                                          {r.item_id for r in rows}, self.max_history)
        keys = [_file_key(h.path) for h in history]
        known = {i: self._history[k] for i, k in enumerate(keys) if k in self._history}
        missing = [i for i in range(len(history)) if i not in known]
        results = await self.batcher.submit([u.data for u in uploads] + [history[i].path for i in missing])
        fresh = dict(zip(missing, results[len(uploads):]))
        self._remember({keys[i]: fresh[i] for i in missing if keys[i] is not None})
        results = results[:len(uploads)] + [known[i] if i in known else fresh[i] for i in range(len(history))]
        return await run_in_threadpool(self._finish, uploads, history, results, write_to_queue)

    def _remember(self, results: dict[tuple, EmbedResult]) -> None:
        """Keep history files' results (their embeddings stay in the cache), newest use last."""
        for key in results:
            self._history[key] = results[key]
            self._history.move_to_end(key)
        while len(self._history) > HISTORY_MEMO_FILES:
            self._history.popitem(last=False)

    def _finish(self, uploads: Sequence[Upload], history, results: list[EmbedResult],
                write_to_queue: bool) -> pd.DataFrame:
        n = len(uploads)
        batches = [records_from_results([u.row for u in uploads], results[:n], True)]
        if history:
            batches.append(records_from_results(history, results[n:], False))
        table = pa.Table.from_batches(batches, schema=RECORD_SCHEMA)
        scored = output_rows(score_records(table, self.cache, self.scorer, self.settings))
        scored = scored.set_index("item_id", drop=False).loc[[u.row.item_id for u in uploads]]
        scored = scored.reset_index(drop=True)
        scored["queued"] = False
        if write_to_queue:
            for upload in uploads:
                self._keep(upload)
            # a skipped row never replaces a scored one there; either way the item is queued
            self.queue.write_scores(scored)
            self.queue.write_artworks(scored[["item_id", "artist_id", "uploaded_at", "path", "title"]])
            scored["queued"] = True
        return scored

    def _keep(self, upload: Upload) -> None:
        """Store the upload's bytes at its row's path (written once per content hash)."""
        path = Path(upload.row.path)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        partial.write_bytes(upload.data)
        os.replace(partial, path)

    async def close(self) -> None:
        await self.batcher.close()
        self._blas.restore_original_limits()
        if self._scratch is not None:
            self._scratch.cleanup()
