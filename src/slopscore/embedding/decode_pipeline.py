"""Embedding many files: worker processes read and decode while the encoder runs.

The pipeline per item: read bytes and hash them (worker) → if the cache holds
this (sha256, backbone, preprocessing) the worker stops there → otherwise decode
and resize to uint8 (worker) → encode in batches (main process, whichever runtime the
:class:`~slopscore.embedding.encoder.ImageEncoder` runs) → store in the cache. Failures
become typed :class:`EmbedResult` rows; nothing stops the batch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from slopscore.embedding.allocator import keep_freed_memory
from slopscore.embedding.cache import EmbeddingCache
from slopscore.embedding.onnx_runtime import available_cores
from slopscore.embedding.preprocess import Preprocess, to_uint8_tensor
from slopscore.media.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DRAFT_MIN,
    DecodedImage,
    ImageLoadError,
    SkipReason,
    decode_image,
    read_source,
)

if TYPE_CHECKING:
    from slopscore.embedding.encoder import ImageEncoder

#: ``reader(data, sha256, decoded)``: a file's signals from bytes already read (``decoded``:
#: a :class:`slopscore.media.decode.DecodedImage` at ``DRAFT_MIN`` to reuse, or None).
FileSignalReader = Callable[[bytes, str, DecodedImage | None], dict]

__all__ = ["EmbedResult", "FileSignalReader", "embed_sources"]


@dataclass(frozen=True)
class EmbedResult:
    """The outcome for one input, in input order.

    Attributes
    ----------
    index : int
        Position in the input sequence.
    sha256 : str or None
        Content hash, when the bytes could be read.
    vector : numpy.ndarray or None
        L2-normalised float32 embedding; None when skipped.
    skip_reason : SkipReason or None
    detail : str or None
    from_cache : bool
        True when the vector came from the cache (nothing was decoded or encoded).
    signals : dict or None
        What the file says about itself (:func:`slopscore.signals.file_signals.signals_from_bytes`),
        read from the same bytes, when asked for with ``signals=``.
    """

    index: int
    sha256: str | None
    vector: np.ndarray | None
    skip_reason: SkipReason | None = None
    detail: str | None = None
    from_cache: bool = False
    signals: dict | None = None


class _DecodeDataset(Dataset):
    """Reads, hashes and decodes one item per call; runs inside DataLoader workers.

    With ``signals`` the same bytes also give the file's provenance and PDQ hash,
    so a file is read from storage once per run.
    """

    def __init__(self, sources: Sequence[str | bytes], preprocess: Preprocess,
                 cache: EmbeddingCache | None, max_pixels: int, max_bytes: int,
                 signals: FileSignalReader | None = None):
        self.sources = sources
        self.preprocess = preprocess
        self.cache = cache
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self.signals = signals

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> dict:
        return self.load(index, use_cache=self.cache is not None)

    def load(self, index: int, *, use_cache: bool) -> dict:
        """Hash the item, then stop if cached, else decode it to a uint8 tensor."""
        started = time.process_time()
        sample = {"index": index, "sha256": None, "pixels": None, "reason": None,
                  "detail": None, "cached": False, "signals": None, "cpu": 0.0}
        self._load(sample, index, use_cache)
        sample["cpu"] = time.process_time() - started
        return sample

    def _load(self, sample: dict, index: int, use_cache: bool) -> None:
        source = self.sources[index]
        try:
            data = source if isinstance(source, bytes) else read_source(source, self.max_bytes)
            sample["sha256"] = hashlib.sha256(data).hexdigest()
            if use_cache and self.cache.contains(sample["sha256"]):
                sample["cached"] = True
                self._read_signals(sample, data)
                return
            decoded = decode_image(data, draft_size=self.preprocess.draft_size,
                                   max_pixels=self.max_pixels, sha256=sample["sha256"])
            sample["pixels"] = to_uint8_tensor(decoded.image, self.preprocess)
            # the signals' PDQ hash reuses this decode when it was made at their draft size
            self._read_signals(sample, data, decoded if self.preprocess.draft_size == DRAFT_MIN
                               else None)
        except ImageLoadError as exc:
            sample.update(reason=exc.reason, detail=exc.detail)
            if sample["sha256"] is not None:
                self._read_signals(sample, data)

    def _read_signals(self, sample: dict, data: bytes, decoded=None) -> None:
        if self.signals is not None:
            sample["signals"] = self.signals(data, sample["sha256"], decoded)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    keep_freed_memory()


def embed_sources(
    sources: Sequence[str | bytes],
    encoder: ImageEncoder,
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 32,
    num_workers: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_batch: Callable[[int], None] | None = None,
    signals: FileSignalReader | None = None,
) -> Iterator[EmbedResult]:
    """Embed many images, yielding one :class:`EmbedResult` per source, in order.

    Parameters
    ----------
    sources : sequence of str or bytes
        Paths / ``file://`` URIs, or raw bytes.
    encoder : ImageEncoder
    cache : EmbeddingCache, optional
        Consulted before decoding and filled after encoding.
    batch_size : int
    num_workers : int
        Decoding processes; 0 decodes in this process.
    max_pixels, max_bytes : int
        Per-file limits (see :func:`slopscore.media.decode.load_image`).
    on_batch : callable, optional
        Called with the number of items finished after each batch (progress bars).
    signals : callable, optional
        ``signals(data, sha256, decoded) -> dict``, run in the worker on the bytes already read
        (e.g. :class:`slopscore.signals.file_signals.FileSignalReader`); results land in
        :attr:`EmbedResult.signals`.
    """
    if cache is not None and (cache.backbone_id, cache.preprocess_id) != (
        encoder.backbone.backbone_id, encoder.backbone.preprocess.id
    ):
        raise ValueError("cache was opened for a different backbone or preprocessing")
    dataset = _DecodeDataset(sources, encoder.backbone.preprocess, cache, max_pixels, max_bytes,
                             signals)
    loader = DataLoader(
        dataset,
        batch_sampler=_batches(len(dataset), batch_size),
        num_workers=num_workers,
        collate_fn=_collate,
        worker_init_fn=_worker_init if num_workers else None,
        prefetch_factor=4 if num_workers else None,
        pin_memory=encoder.device.type == "cuda",
    )
    load = _WorkerLoad(num_workers)
    for samples, pixels in loader:
        encoder.use_free_cores(load.free_cores(samples))
        yield from _finish_batch(samples, pixels, encoder, cache, dataset)
        if on_batch is not None:
            on_batch(len(samples))


class _WorkerLoad:
    """How many cores the decoding workers keep busy: their CPU seconds (reported with each
    sample) over the wall time since the first batch arrived."""

    def __init__(self, workers: int):
        self.workers = workers
        self.cores = available_cores()
        self.cpu_seconds = 0.0
        self.started: float | None = None

    def free_cores(self, samples: list[dict]) -> float:
        """The cores left for the model (all of them when decoding runs in this process)."""
        now = time.perf_counter()
        if not self.workers:
            return float(self.cores)
        if self.started is None:  # the first batch: the workers' start-up is not a load
            self.started = now
            return float(self.cores)
        self.cpu_seconds += sum(sample["cpu"] for sample in samples)
        return self.cores - self.cpu_seconds / max(now - self.started, 1e-3)


def _batches(count: int, batch_size: int) -> Iterator[list[int]]:
    """Index batches in order, the first a quarter size so that the model starts while
    decoding workers are still filling the queue (the same batches with or without
    workers, so the vectors are bit-identical either way)."""
    start = 0
    while start < count:
        stop = min(count, start + (max(1, batch_size // 4) if start == 0 else batch_size))
        yield list(range(start, stop))
        start = stop


def _collate(samples: list[dict]) -> tuple[list[dict], torch.Tensor | None]:
    """Stack decoded pixels in the worker: one shared-memory tensor per batch, not one per image."""
    decoded = []
    for sample in samples:
        pixels = sample.pop("pixels")
        sample["decoded"] = pixels is not None
        if pixels is not None:
            decoded.append(pixels)
    return samples, torch.stack(decoded) if decoded else None


def _finish_batch(samples: list[dict], pixels: torch.Tensor | None, encoder: ImageEncoder,
                  cache: EmbeddingCache | None, dataset: _DecodeDataset) -> list[EmbedResult]:
    cached = cache.get_many(s["sha256"] for s in samples if s["cached"]) if cache else {}
    redone = []
    for sample in samples:
        if sample["cached"] and sample["sha256"] not in cached:  # unreadable entry: redo it
            fresh = dataset.load(sample["index"], use_cache=False)
            sample.update(cached=False, reason=fresh["reason"], detail=fresh["detail"])
            if fresh["pixels"] is not None:
                redone.append((sample["index"], fresh["pixels"]))
    order = [s["index"] for s in samples if s["decoded"]]
    if redone:
        extra = torch.stack([p for _, p in redone])
        pixels = extra if pixels is None else torch.cat([pixels, extra])
        order += [index for index, _ in redone]
    vectors: dict[int, np.ndarray] = {}
    if pixels is not None:
        vectors = dict(zip(order, encoder.encode(pixels)))
        if cache is not None:
            digests = {s["index"]: s["sha256"] for s in samples}
            cache.put_many({digests[i]: vector for i, vector in vectors.items()})
    results = []
    for sample in samples:
        index, digest = sample["index"], sample["sha256"]
        found = sample["signals"]
        if sample["reason"] is not None:
            results.append(EmbedResult(index, digest, None, sample["reason"], sample["detail"],
                                       signals=found))
        elif index in vectors:
            results.append(EmbedResult(index, digest, vectors[index], signals=found))
        else:
            results.append(EmbedResult(index, digest, cached[digest], from_cache=True,
                                       signals=found))
    return results
