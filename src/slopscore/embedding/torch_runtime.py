"""The PyTorch runtime: the backbone in eager mode, fp32 or bf16 (checked against fp32).

Also the reference every other runtime is checked against: :meth:`TorchRuntime.reference`
always runs the fp32 weights.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from slopscore.embedding.allocator import keep_freed_memory
from slopscore.embedding.backbones import LoadedBackbone

__all__ = ["BF16_MIN_COSINE", "DeviceUnavailableError", "PrecisionCheck", "TorchRuntime", "cpu_supports_bf16",
           "resolve_device"]

#: bf16 is kept only if every image's bf16 and fp32 embeddings agree this well.
BF16_MIN_COSINE = 0.999
_log = logging.getLogger(__name__)


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


class DeviceUnavailableError(RuntimeError):
    """The device asked for (``cuda``, ``cuda:N``, ``mps``) is not on this machine."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; other names are used as given.

    Raises
    ------
    DeviceUnavailableError
        A CUDA or MPS device was asked for and this machine (or this PyTorch build) has none.
    """
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            raise DeviceUnavailableError(f"--device {name}: not a device name ({exc})") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise DeviceUnavailableError(
                    f"--device {name}: CUDA is not available here (no NVIDIA driver or GPU, or a CPU-only "
                    f"PyTorch build: torch {torch.__version__}); use --device cpu or auto")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise DeviceUnavailableError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                                             "CUDA device(s), numbered from 0")
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceUnavailableError(f"--device {name}: Apple MPS is not available here; use --device cpu or auto")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def wants_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` (``auto``, ``fp32`` or ``bf16``) means bf16 on ``device``."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_supports_bf16()


class TorchRuntime:
    """Runs a backbone's PyTorch module on uint8 batches.

    Parameters
    ----------
    backbone : LoadedBackbone
    device : torch.device
    precision : {"auto", "fp32", "bf16"}
        bf16 is applied by casting the model (not autocast, which knocks attention off
        its fast path) and verified on the first batch: if any embedding's cosine to its
        fp32 twin is below :data:`BF16_MIN_COSINE`, the runtime falls back to fp32 and
        says so.

    Notes
    -----
    On the CPU this sets the process's allocator to keep freed memory
    (:func:`slopscore.embedding.allocator.keep_freed_memory`).
    """

    name = "torch"

    def __init__(self, backbone: LoadedBackbone, device: torch.device, precision: str):
        self.device = device
        self.dtype = torch.bfloat16 if wants_bf16(precision, device) else torch.float32
        self.precision_check: PrecisionCheck | None = None
        if device.type == "cpu":
            keep_freed_memory()
        preprocess = backbone.preprocess
        self._mean = torch.tensor(preprocess.mean, device=device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(preprocess.std, device=device).view(1, 3, 1, 1) * 255.0
        self.fp32_module = backbone.module.to(device)
        self._fp32_twin: torch.nn.Module | None = None
        module = self.fp32_module
        if self.dtype == torch.bfloat16:
            self._fp32_twin = module
            module = copy.deepcopy(module).to(torch.bfloat16)
        self.module = module

    @property
    def precision(self) -> str:
        """``bf16`` or ``fp32``, as currently running."""
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"

    def _pixels(self, batch: torch.Tensor) -> torch.Tensor:
        pixels = batch.to(self.device, non_blocking=True).float()
        return (pixels - self._mean) / self._std

    @torch.inference_mode()
    def run(self, batch: torch.Tensor) -> np.ndarray:
        """``(N, 3, S, S)`` uint8 → ``(N, D)`` float32 unit vectors (bf16 checked on the first call)."""
        pixels = self._pixels(batch)
        features = self._forward(self.module, pixels)
        if self._fp32_twin is not None:
            features = self._verify_bf16(pixels, features)
        return features.cpu().numpy()

    @torch.inference_mode()
    def reference(self, batch: torch.Tensor) -> np.ndarray:
        """The fp32 embeddings of ``batch``, whatever precision :meth:`run` uses."""
        return self._forward(self.fp32_module, self._pixels(batch)).cpu().numpy()

    @staticmethod
    def _forward(module: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        dtype = next(module.parameters()).dtype
        features = module(pixels.to(dtype)).float()
        return torch.nn.functional.normalize(features, dim=-1)

    def _verify_bf16(self, pixels: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        reference = self._forward(self._fp32_twin, pixels)
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
