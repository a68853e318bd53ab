"""int8 encoders: static quantisation for ONNX Runtime, calibrated on real images.

Opt-in per model (``embedding.int8``). The calibration set is a folder or manifest of real
images (``embedding.int8_calibration``); up to :data:`CALIBRATION_IMAGES` of them, evenly
spread over its rows, are decoded and preprocessed exactly as for encoding. Activation
ranges come from those images (ONNX Runtime's min/max calibration); weights are int8 per
output channel, activations uint8 (the u8×s8 kernels of AVX512-VNNI / AVX-VNNI).

The convolutions (with their ReLU6) and matrix products are quantised: they hold nearly
all the arithmetic. Matrix products keep float outputs; the pooling and L2 normalisation
after the last of them stay float. When the fully quantised model does not agree with
fp32, the first eighth, then the first quarter of the layers are kept float
(:func:`float_prefixes`): EfficientNet-Lite0's earliest layers are the sensitive ones.

ONNX Runtime runs each matrix product with a float output as ``MatMulIntegerToFloat`` but
leaves the bias addition after it as a pass of its own over the activations; the bias is
folded into the product (:func:`fold_bias_adds`), which adds it while scaling the int32
result: the same arithmetic, one pass fewer.

The int8 encoder is accepted only when its embeddings agree with PyTorch fp32 on every
calibration image (cosine ≥ :data:`INT8_MIN_COSINE`). Its embeddings are stored under their
own backbone id, ``<backbone id>+int8-<calibration digest>``
(:func:`int8_backbone_id`), so int8 and fp32 caches never mix.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slopscore.embedding.preprocess import Preprocess, to_uint8_tensor
from slopscore.media.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageLoadError, load_image, read_source

__all__ = [
    "CALIBRATION_IMAGES",
    "INT8_MIN_COSINE",
    "CalibrationError",
    "calibration_digest",
    "calibration_pixels",
    "calibration_sources",
    "calibrate",
    "float_prefixes",
    "fold_bias_adds",
    "int8_backbone_id",
    "prepare_for_quantisation",
    "quantise_int8",
]

#: Version of how int8 models are built (part of their cache key): bumped when that changes.
INT8_RECIPE = 2
#: int8 is accepted only if every calibration image's embedding agrees with fp32 this well.
INT8_MIN_COSINE = 0.99
#: At most this many calibration images are used (evenly spread over the given set).
CALIBRATION_IMAGES = 64
#: Fewer usable images than this and calibration is refused.
MIN_CALIBRATION_IMAGES = 8
_CALIBRATION_BATCH = 8
_QUANTISED_OPS = ["Conv", "MatMul", "Gemm"]


class CalibrationError(ValueError):
    """The int8 calibration set is missing, unreadable or too small."""


def calibration_sources(source: str | os.PathLike[str] | Sequence[str | bytes],
                        limit: int = CALIBRATION_IMAGES) -> list[str | bytes]:
    """Up to ``limit`` images from a folder, a manifest, or a list of paths/bytes, evenly spread.

    Raises
    ------
    CalibrationError
        When ``source`` lists no images.
    """
    if isinstance(source, (str, os.PathLike)):
        from slopscore.media.manifest import ManifestRow, iter_manifest

        if not Path(source).expanduser().exists():
            raise CalibrationError(f"int8 calibration set {source} does not exist "
                                   "(embedding.int8_calibration: a folder or manifest of real images)")
        items: list[str | bytes] = [row.path for row in iter_manifest(Path(source).expanduser())
                                    if isinstance(row, ManifestRow)]
    else:
        items = list(source)
    if not items:
        raise CalibrationError(f"int8 calibration set {source} lists no images")
    if len(items) > limit:
        items = [items[int(i)] for i in np.linspace(0, len(items) - 1, limit).round()]
    return items


def calibration_pixels(sources: Sequence[str | bytes], preprocess: Preprocess,
                       max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Decode and preprocess calibration images as for encoding: ``(N, 3, S, S)`` uint8.

    Files that cannot be decoded are left out; fewer than :data:`MIN_CALIBRATION_IMAGES`
    usable images raise :class:`CalibrationError`.
    """
    arrays, failures = [], []
    for source in sources:
        try:
            decoded = load_image(source, draft_size=preprocess.draft_size, max_pixels=max_pixels,
                                 max_bytes=max_bytes)
        except ImageLoadError as exc:
            failures.append(f"{source if isinstance(source, str) else '<bytes>'}: {exc.reason.value}")
            continue
        arrays.append(to_uint8_tensor(decoded.image, preprocess).numpy())
    if len(arrays) < MIN_CALIBRATION_IMAGES:
        raise CalibrationError(
            f"int8 calibration needs at least {MIN_CALIBRATION_IMAGES} real images that decode; "
            f"got {len(arrays)}" + (f" ({'; '.join(failures[:3])})" if failures else ""))
    return np.stack(arrays)


def calibration_digest(sources: Sequence[str | bytes], preprocess: Preprocess,
                       max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A short digest of the calibration set: its files' contents and the preprocessing
    (part of the int8 backbone id and of the int8 model's cache key)."""
    hasher = hashlib.sha256(preprocess.id.encode())
    for source in sources:
        try:
            data = source if isinstance(source, bytes) else read_source(source, max_bytes)
        except ImageLoadError as exc:
            data = f"unreadable:{exc.reason.value}".encode()
        hasher.update(hashlib.sha256(data).digest())
    return hasher.hexdigest()[:8]


def int8_backbone_id(backbone_id: str, digest: str) -> str:
    """The id int8 embeddings are stored under: never the fp32 one."""
    return f"{backbone_id}+int8-{digest}"


class _Reader:
    """ONNX Runtime's calibration reader over preprocessed pixels, a few images at a time."""

    def __init__(self, pixels: np.ndarray):
        self._pixels = pixels
        self.rewind()

    def get_next(self) -> dict | None:
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = iter([{"pixels": self._pixels[i:i + _CALIBRATION_BATCH]}
                              for i in range(0, len(self._pixels), _CALIBRATION_BATCH)])


def prepare_for_quantisation(fp32_model: Path, folder: Path) -> tuple[Path, list[str], list[str]]:
    """ONNX Runtime's pre-processing of ``fp32_model`` into ``folder``.

    Returns
    -------
    prepared : Path
    weight_nodes : list of str
        The convolutions and matrix products, in graph order.
    tail_nodes : list of str
        Everything after the last of them (pooling and L2 normalisation): always float.
    """
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    folder.mkdir(parents=True, exist_ok=True)
    prepared = folder / "prepared.onnx"
    quant_pre_process(str(fp32_model), str(prepared), skip_symbolic_shape=True)
    nodes = onnx.load(str(prepared), load_external_data=False).graph.node
    weights = [node.name for node in nodes if node.op_type in _QUANTISED_OPS]
    last = max(i for i, node in enumerate(nodes) if node.op_type in _QUANTISED_OPS)
    return prepared, weights, [node.name for node in nodes[last + 1:]]


def float_prefixes(n_weight_nodes: int) -> list[int]:
    """How many leading weight nodes stay float, tried in turn until int8 agrees with fp32:
    none, then the first eighth, then the first quarter (early layers see the raw image
    statistics and are the most sensitive to 8-bit activations, e.g. EfficientNet-Lite0's)."""
    return list(dict.fromkeys([0, -(-n_weight_nodes // 8), -(-n_weight_nodes // 4)]))


def quantise_int8(prepared: Path, output: Path, pixels: np.ndarray | None, float_nodes: Sequence[str] = (),
                  ranges: Path | None = None) -> Path:
    """Statically quantise ``prepared`` (see :func:`prepare_for_quantisation`) to ``output``.

    Weights int8 per output channel, activations uint8 per tensor with ranges from
    ``pixels`` (or from ``ranges``, ONNX Runtime's calibration cache, when that file exists;
    it is written when it does not); matrix products keep float outputs (ONNX Runtime then
    runs them as ``MatMulIntegerToFloat``), convolutions and their ReLU6 stay 8-bit from one
    to the next. ``float_nodes`` are left unquantised.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    reader = None if pixels is None else type("CalibrationReader", (_Reader, CalibrationDataReader), {})(pixels)
    quantize_static(str(prepared), str(output), reader, quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=[*_QUANTISED_OPS, "Clip"], per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=list(float_nodes), calibration_cache_path=ranges,
                    extra_options={"MatMulConstBOnly": True,
                                   "OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm"]})
    return output


def fold_bias_adds(model: Path) -> int:
    """Fold each bias added right after an integer matrix product into that product, in place.

    The model is first fused by ONNX Runtime at its extended level (the CPU provider's
    fusions, which turn the quantised products into ``MatMulIntegerToFloat``; they depend
    on the installed version, which is part of the cache key). Each ``Add`` of a 1-D
    constant to such a product's only use then becomes the product's bias input. When
    nothing folds, ``model`` is left as it was.

    Returns
    -------
    int
        How many additions were folded.
    """
    import onnx
    import onnxruntime as ort

    fused = model.with_name(model.stem + "-fused.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(fused)
    options.log_severity_level = 3
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    try:
        graph_model = onnx.load(str(fused))
        folded = _fold_into_products(graph_model.graph)
        if folded:
            onnx.save(graph_model, str(model))
    finally:
        fused.unlink(missing_ok=True)
    return folded


def _fold_into_products(graph) -> int:
    """Fold in place; a bias folds only when it has one value per output column of the weights."""
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    folded = []
    for node in graph.node:
        if node.op_type != "MatMulIntegerToFloat" or len(node.input) > 6 or node.output[0] in outputs:
            continue
        after = users.get(node.output[0], [])
        if len(after) != 1 or after[0].op_type != "Add":
            continue
        columns = (shapes.get(node.input[1]) or (None,))[-1]
        bias = [name for name in after[0].input if shapes.get(name) == (columns,)]
        if columns is None or len(bias) != 1:
            continue
        node.input.extend([""] * (6 - len(node.input)) + bias)
        node.output[0] = after[0].output[0]
        folded.append(after[0])
    for node in folded:
        graph.node.remove(node)
    return len(folded)


def calibrate(prepared: Path, pixels: np.ndarray, ranges: Path) -> Path:
    """Measure the activation ranges of ``prepared`` on ``pixels`` into ``ranges`` (ONNX
    Runtime's calibration cache), in a fresh process.

    Calibration holds every layer's activations for every image at once (about 2 GB for
    EfficientNet-Lite0 on 64 images); in this process that peak would stay in the heap (see
    :mod:`slopscore.embedding.allocator`) and make every later fork of a decoding worker
    slower. The quantisations that follow read the ranges from the file.
    """
    import subprocess
    import sys

    images = ranges.with_name("calibration-pixels.npy")
    np.save(images, pixels)
    try:  # a fresh interpreter (not multiprocessing's spawn, which re-runs an unguarded __main__)
        done = subprocess.run([sys.executable, "-m", __name__, str(prepared), str(images), str(ranges)],
                              capture_output=True, text=True)
    finally:
        images.unlink(missing_ok=True)
    if done.returncode != 0 or not ranges.is_file():
        raise RuntimeError(f"int8 calibration of {prepared} failed (exit code {done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}")
    return ranges


def _calibrate_here(prepared: str, images: str, ranges: str) -> None:
    output = Path(ranges).with_name("calibrated.onnx")
    quantise_int8(Path(prepared), output, np.load(images), ranges=Path(ranges))
    for path in output.parent.glob("calibrated.onnx*"):
        path.unlink()


if __name__ == "__main__":  # the calibration process started by calibrate()
    import sys

    _calibrate_here(*sys.argv[1:4])
