"""Getting a checked ONNX Runtime session for a backbone: export or reuse, quantise, compare.

* fp32: the export is reused from the cache (or made once) and compared with PyTorch fp32 on
  the first real batch the encoder is given (:data:`~slopscore.embedding.onnx_runtime.FP32_MIN_COSINE`).
* int8: the quantised model is built once from the fp32 export and the calibration images,
  and cached only when it agrees with PyTorch fp32 on every calibration image
  (:data:`~slopscore.embedding.int8.INT8_MIN_COSINE`); each later load is compared again on
  the first :data:`INT8_RECHECK_IMAGES` of them.

A cached model that fails its comparison (a damaged or stale file) is discarded and built
again once; a freshly built one that fails is refused with
:class:`~slopscore.embedding.onnx_runtime.RuntimeCheckError`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from slopscore.embedding.backbones import LoadedBackbone
from slopscore.embedding.int8 import (
    INT8_MIN_COSINE,
    calibrate,
    calibration_digest,
    calibration_pixels,
    calibration_sources,
    float_prefixes,
    fold_bias_adds,
    prepare_for_quantisation,
    quantise_int8,
)
from slopscore.embedding.onnx_export import (
    artifact_fields,
    artifact_folder,
    build_once,
    discard,
    export_onnx,
)
from slopscore.embedding.onnx_runtime import (
    FP32_MIN_COSINE,
    AgreementCheck,
    OnnxSession,
    RuntimeCheckError,
    check_agreement,
)
from slopscore.media.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

__all__ = ["INT8_RECHECK_IMAGES", "Int8Setup", "fp32_model", "fp32_session"]

#: Calibration images compared again each time a cached int8 model is loaded.
INT8_RECHECK_IMAGES = 16
_CHUNK = 16
_log = logging.getLogger(__name__)

#: ``reference(pixels) -> unit vectors``: PyTorch fp32 embeddings of a uint8 batch.
Reference = Callable[[np.ndarray], np.ndarray]


def fp32_model(backbone: LoadedBackbone, cache_dir) -> Path:
    """The cached fp32 ONNX export of ``backbone`` (exported now if missing)."""
    fields = artifact_fields(backbone, "fp32")
    return build_once(artifact_folder(cache_dir, fields), fields,
                      lambda folder: export_onnx(backbone, folder))


def _chunked(run: Callable[[np.ndarray], np.ndarray], pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([run(pixels[i:i + _CHUNK]) for i in range(0, len(pixels), _CHUNK)])


def _checked(folder: Path, build: Callable[[], Path], check: Callable[[Path], AgreementCheck]
             ) -> tuple[Path, AgreementCheck]:
    """``build()`` (which reuses ``folder`` when present) then ``check``; a cached model that
    fails is discarded and built once more; a fresh one that fails is discarded and raises."""
    cached = (folder / "model.onnx").is_file()
    model = build()
    try:
        return model, check(model)
    except RuntimeCheckError as exc:
        discard(folder)
        if not cached:
            raise
        _log.warning("cached ONNX model %s failed its check; building it again (%s)", model, exc)
    model = build()
    try:
        return model, check(model)
    except RuntimeCheckError:
        discard(folder)
        raise


def fp32_session(backbone: LoadedBackbone, cache_dir, reference: Reference, batch: np.ndarray,
                 threads: int) -> tuple[OnnxSession, AgreementCheck]:
    """A checked fp32 session: the export compared with ``reference`` on ``batch`` (real images)."""
    fields = artifact_fields(backbone, "fp32")
    folder = artifact_folder(cache_dir, fields)
    expected = reference(batch)
    sessions: dict[Path, OnnxSession] = {}

    def check(model: Path) -> AgreementCheck:
        sessions[model] = session = OnnxSession(model, "fp32", threads)
        return check_agreement(expected, session.run(batch), runtime="onnxruntime", precision="fp32",
                               threshold=FP32_MIN_COSINE, model=model)

    model, agreement = _checked(folder, lambda: fp32_model(backbone, cache_dir), check)
    return sessions[model], agreement


class Int8Setup:
    """A checked int8 session for ``backbone`` calibrated on real images.

    Parameters
    ----------
    backbone : LoadedBackbone
    cache_dir : path-like or None
    calibration : path-like or sequence of str/bytes
        A folder or manifest of real images, or their paths/bytes.
    reference : callable
        PyTorch fp32 embeddings of a uint8 batch.
    threads : int

    Attributes
    ----------
    session : OnnxSession
    agreement : AgreementCheck
    digest : str
        The calibration set's digest (in the int8 backbone id).
    details : dict
        ``float_layers``, ``layers``, ``calibration_images``, ``min_cosine`` of the cached model.
    """

    def __init__(self, backbone: LoadedBackbone, cache_dir, calibration: str | os.PathLike[str] | Sequence,
                 reference: Reference, threads: int, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        preprocess = backbone.preprocess
        sources = calibration_sources(calibration)
        self.digest = calibration_digest(sources, preprocess, max_bytes)
        fields = artifact_fields(backbone, "int8", self.digest)
        folder = artifact_folder(cache_dir, fields)
        self._reference, self._threads = reference, threads
        built: dict[str, object] = {}

        def build_int8(staging: Path) -> None:
            calibration_set = calibration_pixels(sources, preprocess, max_pixels, max_bytes)
            fp32 = fp32_model(backbone, cache_dir)
            fp32_check = self._compare(fp32, "fp32", calibration_set, FP32_MIN_COSINE)
            _log.info("int8 calibration: %s", fp32_check.describe())
            built["agreement"] = self._quantise(fp32, staging, calibration_set)

        def check(model: Path) -> AgreementCheck:
            if "agreement" in built:  # just built and checked on every calibration image
                self.session = OnnxSession(model, "int8", threads)
                return built.pop("agreement")
            subset = calibration_pixels(sources[:INT8_RECHECK_IMAGES], preprocess, max_pixels, max_bytes)
            return self._compare(model, "int8", subset, INT8_MIN_COSINE, keep=True)

        self.folder = folder
        _, self.agreement = _checked(folder, lambda: build_once(folder, fields, build_int8), check)
        try:
            self.details = json.loads((folder / "quantisation.json").read_text())
        except (OSError, ValueError):
            self.details = {}

    def describe(self) -> str:
        """What was quantised: e.g. ``int8 (calibrated 1a2b3c4d on 64 images, 7 of 49 layers float)``."""
        details = self.details
        layers = (f", {details['float_layers']} of {details['layers']} layers float"
                  if "layers" in details else "")
        images = f" on {details['calibration_images']} images" if "calibration_images" in details else ""
        return f"int8 (calibrated {self.digest}{images}{layers})"

    def _quantise(self, fp32: Path, staging: Path, pixels: np.ndarray) -> AgreementCheck:
        """Quantise into ``staging``, keeping more leading layers float until int8 agrees with
        fp32 on every calibration image; refused when even the last try does not."""
        prepared, weights, tail = prepare_for_quantisation(fp32, staging / "prepare")
        ranges = calibrate(prepared, pixels, staging / "prepare" / "ranges.json")
        output = staging / "model.onnx"
        for keep in float_prefixes(len(weights)):
            quantise_int8(prepared, output, None, [*weights[:keep], *tail], ranges=ranges)
            folded = fold_bias_adds(output)
            try:
                agreement = self._compare(output, "int8", pixels, INT8_MIN_COSINE)
            except RuntimeCheckError as exc:
                failure = exc
                _log.info("int8 with the first %d of %d layers float: %s", keep, len(weights), exc)
                continue
            shutil.rmtree(staging / "prepare", ignore_errors=True)
            (staging / "quantisation.json").write_text(json.dumps(
                {"float_layers": keep, "layers": len(weights), "calibration_images": len(pixels),
                 "folded_bias_adds": folded, "min_cosine": agreement.min_cosine}, indent=1))
            return agreement
        shutil.rmtree(staging / "prepare", ignore_errors=True)
        raise failure

    def _compare(self, model: Path, precision: str, pixels: np.ndarray, threshold: float,
                 keep: bool = False) -> AgreementCheck:
        session = OnnxSession(model, precision, self._threads)
        agreement = check_agreement(_chunked(self._reference, pixels), _chunked(session.run, pixels),
                                    runtime="onnxruntime", precision=precision, threshold=threshold,
                                    model=model)
        if keep:
            self.session = session
        return agreement
