"""The ONNX Runtime runtime: an exported encoder run by ONNX Runtime on the CPU, checked first.

A model is used only after its embeddings were compared with PyTorch's fp32 embeddings
of the same real images: cosine ≥ :data:`FP32_MIN_COSINE` for every image of an fp32
export, ≥ :data:`slopscore.embedding.int8.INT8_MIN_COSINE` for int8. A model that fails
is refused with :class:`RuntimeCheckError`, never used.

The session's intra-op threads come from the cores the decoding workers leave free, as
measured while they run (:func:`session_threads`); its threads sleep between operators
instead of spinning, so they do not take CPU from the workers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FP32_MIN_COSINE",
    "AgreementCheck",
    "OnnxSession",
    "RuntimeCheckError",
    "check_agreement",
    "onnxruntime_available",
    "session_threads",
]

#: An fp32 export is used only if every checked image's embedding agrees with PyTorch's this well.
FP32_MIN_COSINE = 0.9999
#: Installing ONNX Runtime: the optional extra.
INSTALL_HINT = "pip install 'slopscore[onnx]'"


class RuntimeCheckError(RuntimeError):
    """An exported model's embeddings disagree with PyTorch's: it is not used."""


@dataclass(frozen=True)
class AgreementCheck:
    """How a runtime's embeddings compared with PyTorch fp32 on real images."""

    runtime: str
    precision: str
    min_cosine: float
    max_abs_diff: float
    n_images: int
    threshold: float

    @property
    def passed(self) -> bool:
        return self.min_cosine >= self.threshold

    def describe(self) -> str:
        """One line: what was compared and how well it agreed."""
        return (f"{self.runtime} {self.precision} vs PyTorch fp32 on {self.n_images} images: "
                f"min cosine {self.min_cosine:.6f} (needs >= {self.threshold}), "
                f"max |diff| {self.max_abs_diff:.2e}")


def check_agreement(reference: np.ndarray, candidate: np.ndarray, *, runtime: str, precision: str,
                    threshold: float, model: Path | None = None) -> AgreementCheck:
    """Compare unit vectors row by row; raise :class:`RuntimeCheckError` below ``threshold``.

    Returns
    -------
    AgreementCheck
        When every row's cosine reaches ``threshold``.
    """
    cosine = np.sum(np.asarray(reference, np.float64) * np.asarray(candidate, np.float64), axis=1)
    finite = bool(np.all(np.isfinite(candidate)))
    check = AgreementCheck(runtime, precision, float(cosine.min()) if finite else float("nan"),
                           float(np.abs(reference - candidate).max()) if finite else float("inf"),
                           int(reference.shape[0]), threshold)
    if not check.passed:  # NaN compares False: refused too
        where = f" (model {model})" if model is not None else ""
        raise RuntimeCheckError(
            f"refusing the {runtime} {precision} encoder{where}: its embeddings disagree with "
            f"PyTorch fp32. {check.describe()}. Use embedding.runtime: torch (--runtime torch)"
            + (", or turn int8 off (embedding.int8: false)" if precision == "int8" else ""))
    return check


def onnxruntime_available() -> bool:
    """Whether the ``onnx`` extra (onnxruntime, onnx, onnxscript) is installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def session_threads(free_cores: float, cores: int | None = None) -> int:
    """Intra-op threads for the cores the decoding workers leave free: rounded up, 1 to ``cores``.

    Rounded up because the session's threads sleep while they wait: on 2 cores with 2
    workers, 2 threads ran EfficientNet-Lite0 end to end at 128 images/s on small PNGs and
    83 on 1600x1200 JPEGs, 1 thread at 90 and 61 (the workers used 0.1 and 0.8 cores).
    """
    cores = available_cores() if cores is None else cores
    return max(1, min(cores, math.ceil(free_cores - 1e-9)))


class OnnxSession:
    """An ONNX Runtime CPU session over an exported :class:`~slopscore.embedding.onnx_export.EncoderGraph`.

    Parameters
    ----------
    model : Path
    precision : {"fp32", "int8"}
    threads : int
        Intra-op threads.
    """

    name = "onnxruntime"
    #: Whether idle intra-op threads spin instead of sleeping. Off: the decoding workers need
    #: those cycles. Benchmarks of the encoder alone turn it on to measure the ceiling.
    spin_while_waiting = False

    def __init__(self, model: Path, precision: str, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spin_while_waiting else "0")
        options.log_severity_level = 3
        self.model = model
        self.precision = precision
        self.threads = threads
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def run(self, batch) -> np.ndarray:
        """``(N, 3, S, S)`` uint8 (numpy or a CPU torch tensor) → ``(N, D)`` float32 unit vectors."""
        pixels = np.ascontiguousarray(batch.numpy() if hasattr(batch, "numpy") else batch, np.uint8)
        return self.session.run(["embedding"], {"pixels": pixels})[0]
