"""Batched image encoding: worker processes decode while the model runs.

The pipeline per item: read bytes and hash them (worker) → if the cache holds
this (sha256, backbone, preprocessing) the worker stops there → otherwise decode
and resize to uint8 (worker) → normalise, encode, L2-normalise (main process,
``torch.inference_mode``) → store in the cache. Failures become typed
:class:`EmbedResult` rows; nothing stops the batch.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from slopscore.embedding.backbones import LoadedBackbone
from slopscore.embedding.cache import EmbeddingCache
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

#: ``reader(data, sha256, decoded)``: a file's signals from bytes already read (``decoded``:
#: a :class:`slopscore.media.decode.DecodedImage` at ``DRAFT_MIN`` to reuse, or None).
FileSignalReader = Callable[[bytes, str, DecodedImage | None], dict]

__all__ = [
    "BF16_MIN_COSINE",
    "EmbedResult",
    "ImageEncoder",
    "PrecisionCheck",
    "cpu_supports_bf16",
    "embed_sources",
    "resolve_device",
]

#: bf16 is kept only if every image's bf16 and fp32 embeddings agree this well.
BF16_MIN_COSINE = 0.999
_log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class PrecisionCheck:
    """bf16 vs fp32 agreement measured on the first real batch."""

    min_cosine: float
    n_images: int
    kept_bf16: bool


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bfloat16 instructions (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = handle.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; other names are used as given."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class ImageEncoder:
    """Runs a backbone on uint8 batches and returns unit-length float32 embeddings.

    Parameters
    ----------
    backbone : LoadedBackbone
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``...
    precision : {"auto", "fp32", "bf16"}
        ``auto`` uses bf16 on GPUs that support it and on CPUs with native bf16
        instructions, fp32 elsewhere. bf16 is applied by casting the model (not
        autocast, which knocks attention off its fast path) and is verified on
        the first batch: if any embedding's cosine to its fp32 twin is below
        :data:`BF16_MIN_COSINE`, the encoder falls back to fp32 and says so.

    Attributes
    ----------
    n_encoded : int
        Images passed through the model so far (cache hits are not counted).
    precision_check : PrecisionCheck or None
    """

    def __init__(self, backbone: LoadedBackbone, device: str = "auto", precision: str = "auto"):
        if precision not in {"auto", "fp32", "bf16"}:
            raise ValueError(f"precision {precision!r} is not one of 'auto', 'fp32', 'bf16'")
        self.backbone = backbone
        self.device = resolve_device(device)
        self.dtype = torch.bfloat16 if self._wants_bf16(precision) else torch.float32
        self.n_encoded = 0
        self.precision_check: PrecisionCheck | None = None
        preprocess = backbone.preprocess
        self._mean = torch.tensor(preprocess.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(preprocess.std, device=self.device).view(1, 3, 1, 1) * 255.0
        self._fp32_twin: torch.nn.Module | None = None
        module = backbone.module.to(self.device)
        if self.dtype == torch.bfloat16:
            self._fp32_twin = module
            module = copy.deepcopy(module).to(torch.bfloat16)
        self.module = module

    def _wants_bf16(self, precision: str) -> bool:
        if precision != "auto":
            return precision == "bf16"
        if self.device.type == "cuda":
            return torch.cuda.is_bf16_supported()
        return self.device.type == "cpu" and cpu_supports_bf16()

    @property
    def precision(self) -> str:
        """``bf16`` or ``fp32``, as currently running."""
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"

    @torch.inference_mode()
    def encode(self, batch: torch.Tensor) -> np.ndarray:
        """Encode a ``(N, 3, S, S)`` uint8 batch.

        Returns
        -------
        numpy.ndarray
            ``(N, D)`` float32, each row of unit L2 norm.
        """
        pixels = batch.to(self.device, non_blocking=True).float()
        pixels = (pixels - self._mean) / self._std
        features = self._run(self.module, pixels)
        if self._fp32_twin is not None:
            features = self._verify_bf16(pixels, features)
        self.n_encoded += int(batch.shape[0])
        return features.cpu().numpy()

    def _run(self, module: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        dtype = next(module.parameters()).dtype
        features = module(pixels.to(dtype)).float()
        return torch.nn.functional.normalize(features, dim=-1)

    def _verify_bf16(self, pixels: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        reference = self._run(self._fp32_twin, pixels)
        min_cosine = float((reference * features).sum(dim=-1).min())
        keep = min_cosine >= BF16_MIN_COSINE
        self.precision_check = PrecisionCheck(min_cosine, int(pixels.shape[0]), keep)
        if keep:
            self._fp32_twin = None
            return features
        _log.warning(
            "bf16 embeddings disagree with fp32 (min cosine %.5f < %.3f); using fp32",
            min_cosine, BF16_MIN_COSINE,
        )
        self.module, self._fp32_twin, self.dtype = self._fp32_twin, None, torch.float32
        return reference


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
        sample = {"index": index, "sha256": None, "pixels": None, "reason": None,
                  "detail": None, "cached": False, "signals": None}
        source = self.sources[index]
        try:
            data = source if isinstance(source, bytes) else read_source(source, self.max_bytes)
            sample["sha256"] = hashlib.sha256(data).hexdigest()
            if use_cache and self.cache.contains(sample["sha256"]):
                sample["cached"] = True
                self._read_signals(sample, data)
                return sample
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
        return sample

    def _read_signals(self, sample: dict, data: bytes, decoded=None) -> None:
        if self.signals is not None:
            sample["signals"] = self.signals(data, sample["sha256"], decoded)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


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
    for samples, pixels in loader:
        yield from _finish_batch(samples, pixels, encoder, cache, dataset)
        if on_batch is not None:
            on_batch(len(samples))


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
