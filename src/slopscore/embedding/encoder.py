"""The image encoder: uint8 batches in, unit-length float32 embeddings out, on the chosen runtime.

Runtimes (``runtime=``):

``torch``
    The backbone in eager PyTorch, fp32 or bf16 (:mod:`slopscore.embedding.torch_runtime`).
``onnxruntime``
    The backbone exported once to ONNX and run by ONNX Runtime on the CPU, fp32 or
    int8 (:mod:`slopscore.embedding.onnx_runtime`), used only after its embeddings
    agreed with PyTorch fp32 on the first real batch (int8: on its calibration images).
``auto``
    On the CPU, whichever of the two the probe measured faster on this machine
    (:mod:`slopscore.embedding.runtime_choice`; measured at first use, then cached);
    CUDA and MPS keep PyTorch.

fp32 embeddings agree between the runtimes to about 1e-6 and share one cache; int8
embeddings have their own backbone id. Batched encoding of files is
:func:`slopscore.embedding.decode_pipeline.embed_sources` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import numpy as np
import torch

from slopscore.embedding.allocator import release_freed_memory
from slopscore.embedding.backbones import LoadedBackbone
from slopscore.embedding.decode_pipeline import EmbedResult, FileSignalReader, embed_sources
from slopscore.embedding.int8 import int8_backbone_id
from slopscore.embedding.onnx_export import runtime_versions, runtimes_dir
from slopscore.embedding.onnx_runtime import (
    INSTALL_HINT,
    AgreementCheck,
    OnnxSession,
    RuntimeCheckError,
    available_cores,
    onnxruntime_available,
    session_threads,
)
from slopscore.embedding.runtime_choice import PROBE_IMAGES, ProbeCache, RuntimeChoice, choose, cpu_model
from slopscore.embedding.torch_runtime import (
    BF16_MIN_COSINE,
    PrecisionCheck,
    TorchRuntime,
    cpu_supports_bf16,
    resolve_device,
)
from slopscore.media.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

__all__ = [
    "BF16_MIN_COSINE",
    "RUNTIMES",
    "EmbedResult",
    "FileSignalReader",
    "ImageEncoder",
    "PrecisionCheck",
    "RuntimeCheckError",
    "cpu_supports_bf16",
    "embed_sources",
    "resolve_device",
]

RUNTIMES = ("auto", "torch", "onnxruntime")
#: The session's thread count changes at most once per this many batches.
RETHREAD_BATCHES = 8
_log = logging.getLogger(__name__)


class ImageEncoder:
    """Runs a backbone on uint8 batches and returns unit-length float32 embeddings.

    Parameters
    ----------
    backbone : LoadedBackbone
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``...
    precision : {"auto", "fp32", "bf16"}
        PyTorch's precision. ``auto`` uses bf16 on GPUs that support it and on CPUs with
        native bf16 instructions, fp32 elsewhere; bf16 is verified on the first batch and
        falls back to fp32 when any embedding's cosine to its fp32 twin is below
        :data:`BF16_MIN_COSINE`. ONNX Runtime runs fp32 (or int8).
    runtime : {"torch", "auto", "onnxruntime"}
        See the module docstring.
    cache_dir : path-like, optional
        The embedding cache's folder (``cache.dir``); exported models and probe results
        are kept in ``runtimes/`` inside it.
    int8 : bool
        Run a statically quantised int8 model on ONNX Runtime (needs ``int8_calibration``;
        not with ``runtime="torch"``). Embeddings then carry the backbone id
        ``<id>+int8-<calibration digest>`` (see :attr:`backbone`).
    int8_calibration : path-like or sequence, optional
        A folder or manifest of real images (or their paths/bytes) to calibrate on.
    max_pixels, max_bytes : int
        Limits for reading calibration images.

    Attributes
    ----------
    backbone : LoadedBackbone
        The backbone whose id the embeddings carry (the int8 id for int8).
    n_encoded : int
        Images passed through the model so far (cache hits are not counted).
    choice : RuntimeChoice or None
        Which runtime encodes and why; None until the first batch when ``auto`` or
        ``onnxruntime`` still has to check (and, for ``auto``, measure) on real images.
    agreement : AgreementCheck or None
        ONNX Runtime vs PyTorch fp32 on real images, once checked.

    Raises
    ------
    ValueError
        Unknown precision or runtime, ONNX Runtime or int8 on a GPU, int8 with ``torch``.
    RuntimeCheckError
        (from :meth:`encode` or, for int8, here) the requested ONNX Runtime model's
        embeddings disagree with PyTorch's.
    """

    def __init__(self, backbone: LoadedBackbone, device: str = "auto", precision: str = "auto",
                 runtime: str = "torch", *, cache_dir: str | os.PathLike[str] | None = None,
                 int8: bool = False, int8_calibration: str | os.PathLike[str] | Sequence | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES):
        if precision not in {"auto", "fp32", "bf16"}:
            raise ValueError(f"precision {precision!r} is not one of 'auto', 'fp32', 'bf16'")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r} is not one of {', '.join(map(repr, RUNTIMES))}")
        self.device = resolve_device(device)
        self.requested_runtime = runtime
        self.source_backbone = self.backbone = backbone
        self.cache_dir = cache_dir
        self.n_encoded = 0
        self.agreement: AgreementCheck | None = None
        self.choice: RuntimeChoice | None = None
        self._threads = available_cores()
        self._batches_since_threads = 0
        self._session: OnnxSession | None = None
        self._pending = False
        self._torch = TorchRuntime(backbone, self.device, precision)
        on_cpu = self.device.type == "cpu"
        if int8:
            self._start_int8(runtime, on_cpu, int8_calibration, max_pixels, max_bytes)
        elif runtime == "torch":
            self.choice = RuntimeChoice("torch", "requested")
        elif not on_cpu:
            if runtime == "onnxruntime":
                raise ValueError(f"runtime 'onnxruntime' runs on the CPU here; device {self.device} "
                                 "keeps PyTorch (runtime 'torch' or 'auto')")
            self.choice = RuntimeChoice("torch", f"auto, {self.device.type.upper()} keeps PyTorch")
        elif not onnxruntime_available():
            if runtime == "onnxruntime":
                raise ImportError(f"runtime 'onnxruntime' needs ONNX Runtime: {INSTALL_HINT}")
            self.choice = RuntimeChoice("torch", f"auto, ONNX Runtime is not installed ({INSTALL_HINT})")
        else:
            self._pending = True  # checked (and for auto measured) on the first real batch
        if self.choice is not None:
            _log.info("embedding %s", self.choice.describe())

    def _start_int8(self, runtime: str, on_cpu: bool, calibration, max_pixels: int, max_bytes: int) -> None:
        from slopscore.embedding.int8 import CalibrationError
        from slopscore.embedding.onnx_setup import Int8Setup

        if runtime == "torch":
            raise ValueError("int8 runs on ONNX Runtime: use runtime 'onnxruntime' or 'auto', or int8 off")
        if not on_cpu:
            raise ValueError(f"int8 runs on the CPU with ONNX Runtime; device {self.device} cannot use it")
        if not onnxruntime_available():
            raise ImportError(f"int8 needs ONNX Runtime: {INSTALL_HINT}")
        if calibration is None:
            raise CalibrationError("int8 needs calibration images: set embedding.int8_calibration "
                                   "to a folder or manifest of real images")
        setup = Int8Setup(self.source_backbone, self.cache_dir, calibration, self._reference,
                          self._threads, max_pixels, max_bytes)
        self._session, self.agreement = setup.session, setup.agreement
        self.backbone = dataclasses.replace(
            self.source_backbone, backbone_id=int8_backbone_id(self.source_backbone.backbone_id, setup.digest),
            description=f"{self.source_backbone.description}, {setup.describe()}")
        release_freed_memory()  # calibration's peak, before any decoding worker is forked
        reason = "requested" if runtime == "onnxruntime" else "auto, int8 runs on ONNX Runtime"
        self.choice = RuntimeChoice("onnxruntime", reason)
        _log.info("int8 %s", self.agreement.describe())

    def _reference(self, pixels: np.ndarray) -> np.ndarray:
        return self._torch.reference(torch.from_numpy(np.ascontiguousarray(pixels)))

    @property
    def runtime(self) -> str:
        """``torch`` or ``onnxruntime`` (the requested one until the first batch settles it)."""
        return self.choice.runtime if self.choice is not None else self.requested_runtime

    @property
    def runtime_description(self) -> str:
        """Which runtime encodes and why, in one line (``runtime onnxruntime (measured: ...)``)."""
        return self.choice.describe() if self.choice is not None else f"runtime {self.runtime}"

    @property
    def precision(self) -> str:
        """``bf16``, ``fp32`` or ``int8``, as currently running."""
        if self._session is not None:
            return self._session.precision
        return self._torch.precision

    @property
    def precision_check(self) -> PrecisionCheck | None:
        """PyTorch's bf16 vs fp32 check on the first batch, when bf16 was tried."""
        return self._torch.precision_check

    @property
    def threads(self) -> int:
        """Intra-op threads of the ONNX Runtime session."""
        return self._threads

    def use_free_cores(self, free_cores: float) -> None:
        """Size the ONNX Runtime session to the cores the decoding workers leave free
        (:func:`~slopscore.embedding.onnx_runtime.session_threads`); changed at most once
        per :data:`RETHREAD_BATCHES` batches, so a passing burst does not rebuild it."""
        self._batches_since_threads += 1
        threads = session_threads(free_cores)
        if threads == self._threads or self._batches_since_threads < RETHREAD_BATCHES:
            return
        self._threads, self._batches_since_threads = threads, 0
        if self._session is not None:
            self._session = OnnxSession(self._session.model, self._session.precision, threads)
            _log.info("ONNX Runtime now on %d threads (%.1f cores left by the decoding workers)",
                      threads, free_cores)

    def encode(self, batch: torch.Tensor) -> np.ndarray:
        """Encode a ``(N, 3, S, S)`` uint8 batch.

        Returns
        -------
        numpy.ndarray
            ``(N, D)`` float32, each row of unit L2 norm.
        """
        if self._pending:
            self._settle(batch)
        runtime = self._session if self._session is not None else self._torch
        vectors = runtime.run(batch)
        self.n_encoded += int(batch.shape[0])
        return vectors

    def _settle(self, batch: torch.Tensor) -> None:
        """First batch with ``onnxruntime``/``auto``: check the export on it and, for auto, measure."""
        from slopscore.embedding.onnx_setup import fp32_session

        self._pending = False
        pixels = np.ascontiguousarray(batch.cpu().numpy())
        try:
            session, self.agreement = fp32_session(self.source_backbone, self.cache_dir, self._reference,
                                                   pixels, self._threads)
        except RuntimeCheckError as exc:
            if self.requested_runtime == "onnxruntime":
                raise
            _log.warning("%s; using PyTorch", exc)
            self.choice = RuntimeChoice("torch", "auto, ONNX Runtime refused: it disagreed with PyTorch")
            return
        if self.requested_runtime == "onnxruntime":
            self.choice = RuntimeChoice("onnxruntime", "requested")
            _log.info("embedding %s; %s", self.choice.describe(), self.agreement.describe())
        else:
            probe = torch.from_numpy(np.resize(pixels, (max(PROBE_IMAGES, len(pixels)), *pixels.shape[1:])))
            self.choice = choose(ProbeCache(runtimes_dir(self.cache_dir)), self._probe_fields(),
                                 {"torch": lambda: self._torch.run(probe), "onnxruntime": lambda: session.run(probe)},
                                 int(probe.shape[0]))
        if self.choice.runtime == "onnxruntime":
            self._session = session
        release_freed_memory()

    def _probe_fields(self) -> dict[str, object]:
        backbone = self.source_backbone
        return {"backbone": backbone.backbone_id, "preprocess": backbone.preprocess.id,
                "device": str(self.device), "torch_precision": self._torch.precision,
                "torch_threads": torch.get_num_threads(), "onnx_threads": self._threads,
                "cores": available_cores(), "cpu": cpu_model(), "versions": runtime_versions()}
