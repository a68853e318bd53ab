"""Encoder runtimes: ONNX Runtime export, its check against PyTorch, int8, auto's probe, the settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import onnx  # noqa: E402

from slopscore.config import ConfigError, load_settings  # noqa: E402
from slopscore.embedding import onnx_setup, runtime_choice  # noqa: E402
from slopscore.embedding.cache import EmbeddingCache  # noqa: E402
from slopscore.embedding.encoder import ImageEncoder, RuntimeCheckError, embed_sources  # noqa: E402
from slopscore.embedding.int8 import CalibrationError  # noqa: E402
from slopscore.embedding.onnx_export import (  # noqa: E402
    artifact_fields,
    artifact_folder,
    export_onnx,
    runtime_versions,
)
from slopscore.embedding.onnx_runtime import session_threads  # noqa: E402
from slopscore.embedding.preprocess import Preprocess  # noqa: E402


def _write_images(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rng = np.random.default_rng(100 + i)
        base = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((48 + 8 * (i % 5), 40 + 6 * (i % 4)), Image.Resampling.BICUBIC)
        path = folder / f"img{i:02d}.{'png' if i % 2 else 'jpg'}"
        image.save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("images"), 24)


@pytest.fixture(scope="module")
def exported(tiny, images, tmp_path_factory):
    """A cache folder holding the tiny tower's fp32 export (made once for the module)."""
    folder = tmp_path_factory.mktemp("runtime-cache")
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=folder)
    encoder.encode(_batch(tiny, images[:8]))
    return folder


@pytest.fixture
def cache_dir(exported, tmp_path):
    """A private copy of the exported cache, free to damage."""
    target = tmp_path / "cache"
    shutil.copytree(exported, target)
    return target


def _batch(backbone, paths):
    import torch

    from slopscore.embedding.preprocess import to_uint8_tensor

    return torch.stack([to_uint8_tensor(Image.open(p).convert("RGB"), backbone.preprocess) for p in paths])


def _vectors(encoder, paths, **kwargs):
    return np.stack([r.vector for r in embed_sources(paths, encoder, batch_size=8, num_workers=0, **kwargs)])


def _fp32_folder(backbone, cache_dir):
    return artifact_folder(cache_dir, artifact_fields(backbone, "fp32"))


def _perturb(model_path):
    """Add noise to the model's largest float weight, in place (weights inlined)."""
    model = onnx.load(str(model_path))
    weight = max((t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT),
                 key=lambda t: np.prod(t.dims))
    values = onnx.numpy_helper.to_array(weight).copy()
    values += np.random.default_rng(0).normal(0, 3 * float(np.abs(values).mean()) + 1e-3, values.shape)
    weight.CopyFrom(onnx.numpy_helper.from_array(values.astype(np.float32), weight.name))
    for extra in model_path.parent.glob(model_path.name + ".data"):
        extra.unlink()
    onnx.save(model, str(model_path))


def test_onnxruntime_fp32_embeddings_equal_pytorch_to_1e6(tiny, images, cache_dir):
    torch_vectors = _vectors(ImageEncoder(tiny, "cpu", "fp32", "torch"), images)
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir)
    onnx_vectors = _vectors(encoder, images)
    assert encoder.runtime == "onnxruntime" and encoder.precision == "fp32"
    assert encoder.agreement.passed and encoder.agreement.min_cosine >= 0.9999
    assert encoder.backbone.backbone_id == tiny.backbone_id  # fp32 runtimes share one cache
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-6
    assert encoder.n_encoded == len(images)


def test_effnet_embeddings_and_scores_match_whichever_fp32_runtime(effnet, images, tmp_path):
    from slopscore.model.detector import AIDetector

    paths = images[:12]
    by_runtime = {runtime: _vectors(ImageEncoder(effnet, "cpu", "fp32", runtime, cache_dir=tmp_path), paths)
                  for runtime in ("torch", "onnxruntime")}
    assert np.abs(by_runtime["torch"] - by_runtime["onnxruntime"]).max() < 1e-6
    rng = np.random.default_rng(0)
    train = rng.normal(size=(120, effnet.embed_dim)).astype(np.float32)
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    detector = AIDetector(Cs=(1.0,), n_splits=3).fit(train, (train[:, 0] > 0).astype(int), np.arange(120) % 12)
    scores = {k: detector.predict_ai_probability(v) for k, v in by_runtime.items()}
    assert np.abs(scores["torch"] - scores["onnxruntime"]).max() < 1e-6


def test_the_export_is_cached_with_what_it_depends_on(tiny, images, cache_dir, monkeypatch):
    folder = _fp32_folder(tiny, cache_dir)
    recorded = json.loads((folder / "artifact.json").read_text())
    assert recorded["backbone"] == tiny.backbone_id and recorded["preprocess"] == tiny.preprocess.id
    assert recorded["versions"] == runtime_versions() and recorded["precision"] == "fp32"

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_setup, "export_onnx", no_export)
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir)
    assert _vectors(encoder, images[:4]).shape == (4, tiny.embed_dim)


def test_the_cache_key_changes_with_backbone_preprocessing_precision_and_versions(tiny, effnet, monkeypatch):
    import dataclasses

    from slopscore.embedding import int8

    versions = runtime_versions()
    base = artifact_folder("/c", artifact_fields(tiny, "fp32", versions=versions))
    assert base == artifact_folder("/c", artifact_fields(tiny, "fp32", versions=dict(versions)))
    other_preprocess = dataclasses.replace(tiny, preprocess=Preprocess(48, tiny.preprocess.mean, tiny.preprocess.std))
    variants = [
        artifact_fields(effnet, "fp32", versions=versions),
        artifact_fields(dataclasses.replace(tiny, backbone_id="test:tiny-clip/seed1"), "fp32", versions=versions),
        artifact_fields(other_preprocess, "fp32", versions=versions),
        artifact_fields(tiny, "int8", "aaaa1111", versions=versions),
        artifact_fields(tiny, "int8", "bbbb2222", versions=versions),
        *(artifact_fields(tiny, "fp32", versions={**versions, name: versions[name] + ".post1"})
          for name in ("torch", "onnx", "onnxscript", "onnxruntime")),
    ]
    monkeypatch.setattr(int8, "INT8_RECIPE", int8.INT8_RECIPE + 1)  # int8 models built another way
    variants.append(artifact_fields(tiny, "int8", "aaaa1111", versions=versions))
    folders = {artifact_folder("/c", fields) for fields in variants}
    assert len(folders) == len(variants) and base not in folders


def test_a_perturbed_export_is_refused_with_a_clear_message(tiny, images, tmp_path, monkeypatch):
    def perturbed_export(backbone, folder):
        path = export_onnx(backbone, folder)
        _perturb(path)
        return path

    monkeypatch.setattr(onnx_setup, "export_onnx", perturbed_export)
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=tmp_path)
    with pytest.raises(RuntimeCheckError, match=r"refusing the onnxruntime fp32 encoder.*min cosine"):
        encoder.encode(_batch(tiny, images[:8]))
    assert not (_fp32_folder(tiny, tmp_path) / "model.onnx").exists()  # nothing bad left cached

    auto = ImageEncoder(tiny, "cpu", "fp32", "auto", cache_dir=tmp_path)
    vectors = auto.encode(_batch(tiny, images[:8]))
    assert auto.runtime == "torch" and "refused" in auto.choice.reason
    reference = ImageEncoder(tiny, "cpu", "fp32", "torch").encode(_batch(tiny, images[:8]))
    assert np.array_equal(vectors, reference)


def test_a_damaged_cached_export_is_made_again(tiny, images, cache_dir):
    model = _fp32_folder(tiny, cache_dir) / "model.onnx"
    _perturb(model)
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir)
    torch_vectors = _vectors(ImageEncoder(tiny, "cpu", "fp32", "torch"), images[:8])
    assert np.abs(_vectors(encoder, images[:8]) - torch_vectors).max() < 1e-6
    assert encoder.agreement.passed and model.is_file()


def test_auto_measures_once_per_machine_and_says_what_it_picked(tiny, images, cache_dir, monkeypatch, caplog):
    calls = []

    def fake_rates(candidates, images_per_call, rounds=3):
        calls.append(sorted(candidates))
        return {"torch": 10.0, "onnxruntime": 25.0}

    monkeypatch.setattr(runtime_choice, "measure_rates", fake_rates)
    with caplog.at_level("INFO", logger="slopscore.embedding.runtime_choice"):
        first = ImageEncoder(tiny, "cpu", "fp32", "auto", cache_dir=cache_dir)
        first.encode(_batch(tiny, images[:8]))
    assert calls == [["onnxruntime", "torch"]]
    assert first.runtime == "onnxruntime" and first.choice.reason == "auto, measured now"
    assert "runtime onnxruntime" in caplog.text and "25.0 images/s" in caplog.text

    second = ImageEncoder(tiny, "cpu", "fp32", "auto", cache_dir=cache_dir)
    second.encode(_batch(tiny, images[:8]))
    assert len(calls) == 1 and second.runtime == "onnxruntime"
    assert second.choice.reason == "auto, measured earlier on this machine"
    assert second.choice.rates == {"torch": 10.0, "onnxruntime": 25.0}


def test_auto_keeps_pytorch_when_it_measures_faster(tiny, images, cache_dir, monkeypatch):
    monkeypatch.setattr(runtime_choice, "measure_rates",
                        lambda candidates, n, rounds=3: {"torch": 30.0, "onnxruntime": 20.0})
    encoder = ImageEncoder(tiny, "cpu", "fp32", "auto", cache_dir=cache_dir)
    vectors = _vectors(encoder, images[:8])
    assert encoder.runtime == "torch" and encoder.agreement.passed
    reference = _vectors(ImageEncoder(tiny, "cpu", "fp32", "torch"), images[:8])
    assert np.array_equal(vectors, reference)


def test_int8_is_accepted_only_with_its_own_backbone_id(tiny, images, cache_dir):
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir, int8=True,
                           int8_calibration=images)
    assert encoder.precision == "int8" and encoder.agreement.passed
    assert encoder.agreement.min_cosine >= 0.99 and encoder.agreement.n_images == len(images)
    assert encoder.backbone.backbone_id.startswith(tiny.backbone_id + "+int8-")
    fp32 = _vectors(ImageEncoder(tiny, "cpu", "fp32", "torch"), images[:8])
    cache = EmbeddingCache(cache_dir / "embeddings", encoder.backbone.backbone_id, tiny.preprocess.id)
    int8 = _vectors(encoder, images[:8], cache=cache)
    assert np.min(np.sum(fp32 * int8, axis=1)) >= 0.99 and not np.allclose(fp32, int8, atol=1e-6)
    assert len(cache) == 8
    assert len(EmbeddingCache(cache_dir / "embeddings", tiny.backbone_id, tiny.preprocess.id)) == 0
    with pytest.raises(ValueError, match="different backbone"):
        list(embed_sources(images[:2], ImageEncoder(tiny, "cpu", "fp32"), cache=cache, num_workers=0))

    again = ImageEncoder(tiny, "cpu", "fp32", "auto", cache_dir=cache_dir, int8=True, int8_calibration=images)
    assert again.backbone.backbone_id == encoder.backbone.backbone_id  # the cached model, checked again
    assert again.agreement.n_images == onnx_setup.INT8_RECHECK_IMAGES
    assert np.array_equal(_vectors(again, images[:8]), int8)


def test_bias_additions_fold_into_the_integer_products_without_changing_the_output(tiny, images, cache_dir):
    from slopscore.embedding.int8 import fold_bias_adds, prepare_for_quantisation, quantise_int8
    from slopscore.embedding.onnx_runtime import OnnxSession

    pixels = _batch(tiny, images).numpy()
    prepared, weights, tail = prepare_for_quantisation(_fp32_folder(tiny, cache_dir) / "model.onnx",
                                                       cache_dir / "fold")
    model = quantise_int8(prepared, cache_dir / "fold" / "int8.onnx", pixels, tail)
    before = OnnxSession(model, "int8", 1).run(pixels)
    folded = fold_bias_adds(model)
    graph = onnx.load(str(model)).graph
    products = [node for node in graph.node if node.op_type == "MatMulIntegerToFloat"]
    assert folded == len([node for node in products if len(node.input) == 7]) > 0
    assert len(products) >= len(weights) // 2
    product_outputs = {node.output[0] for node in products}
    vectors = {t.name for t in graph.initializer if len(t.dims) == 1}
    assert not [node for node in graph.node if node.op_type == "Add"
                and set(node.input) & product_outputs and set(node.input) & vectors]  # none left
    np.testing.assert_allclose(OnnxSession(model, "int8", 1).run(pixels), before, atol=1e-5)
    assert fold_bias_adds(model) == 0  # nothing left to fold: the model is left as it was


def test_int8_is_refused_when_it_disagrees_with_fp32(tiny, images, cache_dir, monkeypatch):
    monkeypatch.setattr(onnx_setup, "INT8_MIN_COSINE", 1.5)  # nothing can pass
    with pytest.raises(RuntimeCheckError, match="refusing the onnxruntime int8 encoder"):
        ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir, int8=True, int8_calibration=images)
    assert not list((cache_dir / "runtimes").glob("int8-*/model.onnx"))


def test_int8_needs_onnxruntime_and_calibration_images(tiny, images, tmp_path):
    with pytest.raises(ValueError, match="int8 runs on ONNX Runtime"):
        ImageEncoder(tiny, "cpu", "fp32", "torch", int8=True, int8_calibration=images)
    with pytest.raises(CalibrationError, match="int8_calibration"):
        ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=tmp_path, int8=True)
    with pytest.raises(CalibrationError, match="does not exist"):
        ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=tmp_path, int8=True,
                     int8_calibration=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="runtime 'tvm'"):
        ImageEncoder(tiny, "cpu", "fp32", "tvm")


def test_runtime_settings_are_validated(tmp_path):
    assert load_settings().embedding.runtime == "torch"
    assert load_settings(None, {"embedding.runtime": "auto"}).embedding.runtime == "auto"
    settings = load_settings(None, {"embedding.runtime": "onnxruntime", "embedding.int8": True,
                                    "embedding.int8_calibration": str(tmp_path)})
    assert settings.embedding.int8 and settings.embedding.int8_calibration == str(tmp_path)
    with pytest.raises(ConfigError, match=r"embedding.runtime = 'tvm'.*'auto', 'torch' or 'onnxruntime'"):
        load_settings(None, {"embedding.runtime": "tvm"})
    with pytest.raises(ConfigError, match="embedding.int8 = True: int8 runs on ONNX Runtime"):
        load_settings(None, {"embedding.int8": True, "embedding.int8_calibration": str(tmp_path)})
    with pytest.raises(ConfigError, match="embedding.int8_calibration = None: int8 needs calibration"):
        load_settings(None, {"embedding.int8": True, "embedding.runtime": "auto"})


def test_session_threads_are_the_cores_the_workers_leave_free():
    assert session_threads(1.86, cores=2) == 2
    assert session_threads(0.7, cores=2) == 1
    assert session_threads(-0.5, cores=2) == 1
    assert session_threads(13.2, cores=16) == 14
    assert session_threads(40.0, cores=16) == 16


def test_the_session_is_resized_when_the_workers_take_cores(tiny, images, cache_dir):
    from slopscore.embedding.encoder import RETHREAD_BATCHES
    from slopscore.embedding.onnx_runtime import available_cores

    if available_cores() < 2:
        pytest.skip("needs two cores")
    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir)
    before = encoder.encode(_batch(tiny, images[:8]))
    for _ in range(RETHREAD_BATCHES - 1):
        encoder.use_free_cores(0.5)
    assert encoder.threads == encoder._session.threads == available_cores()  # not yet: a passing burst
    encoder.use_free_cores(0.5)
    assert encoder.threads == 1 and encoder._session.threads == 1
    assert np.abs(encoder.encode(_batch(tiny, images[:8])) - before).max() < 1e-6


def test_session_threads_sleep_between_operators_unless_a_benchmark_asks(tiny, images, cache_dir, monkeypatch):
    from slopscore.embedding.onnx_runtime import OnnxSession

    def spinning(session: OnnxSession) -> str:
        return session.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")

    encoder = ImageEncoder(tiny, "cpu", "fp32", "onnxruntime", cache_dir=cache_dir)
    encoder.encode(_batch(tiny, images[:2]))
    assert spinning(encoder._session) == "0"  # the decoding workers need those cycles
    monkeypatch.setattr(OnnxSession, "spin_while_waiting", True)
    assert spinning(OnnxSession(encoder._session.model, "fp32", 1)) == "1"


_FAULTS = """
import sys, resource, numpy as np
if sys.argv[1] == "1":
    from slopscore.embedding.allocator import keep_freed_memory
    assert keep_freed_memory()
np.ones(16 << 20, np.float32)  # warm-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    block = np.ones(16 << 20, np.float32)  # 64 MiB, allocated and freed like an activation
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_keeping_freed_memory_stops_faulting_large_blocks_in_again():
    faults = {flag: int(subprocess.run([sys.executable, "-c", _FAULTS, flag], capture_output=True, text=True,
                                       check=True).stdout) for flag in ("0", "1")}
    assert faults["0"] > 20 * 100  # every block faulted in again (in huge pages where numpy asks for them)
    assert faults["1"] < faults["0"] / 20


def test_score_gives_the_same_scores_whichever_fp32_runtime_runs(trained, tmp_path):
    from slopscore.batch.score_job import run_batch_job
    from slopscore.batch.score_output import read_scores

    platform, settings, outcome, _ = trained
    frames, summaries = {}, {}
    for runtime in ("torch", "onnxruntime"):
        chosen = settings.model_copy(update={
            "cache": settings.cache.model_copy(update={"dir": str(tmp_path / runtime)}),
            "embedding": settings.embedding.model_copy(update={"runtime": runtime}),
        })
        out = tmp_path / f"{runtime}.parquet"
        summaries[runtime] = run_batch_job(outcome.scorer, platform.new_uploads, out, chosen,
                                           history=platform.history)
        frames[runtime] = read_scores(out).sort_values("item_id").reset_index(drop=True)
    assert summaries["onnxruntime"].runtime.startswith("runtime onnxruntime")
    assert summaries["torch"].runtime.startswith("runtime torch")
    assert summaries["onnxruntime"].n_encoded > 0
    first, second = frames["torch"], frames["onnxruntime"]
    assert list(first["item_id"]) == list(second["item_id"]) and list(first["status"]) == list(second["status"])
    for column in ("p_ai", "triage_score"):
        np.testing.assert_allclose(first[column].to_numpy(float), second[column].to_numpy(float), atol=1e-6)


def test_the_cli_takes_the_runtime_and_says_which_ran(images, tmp_path):
    from typer.testing import CliRunner

    from slopscore.cli.main import app

    result = CliRunner().invoke(app, [
        "embed", str(Path(images[0]).parent), "--out", str(tmp_path / "e.parquet"),
        "--backbone", "test:tiny-clip", "--cache-dir", str(tmp_path / "cache"), "--workers", "0",
        "--device", "cpu", "--precision", "fp32", "--runtime", "onnxruntime"])
    assert result.exit_code == 0, result.output
    assert "runtime onnxruntime (requested)" in result.output
    bad = CliRunner().invoke(app, ["embed", str(tmp_path), "--out", str(tmp_path / "f.parquet"),
                                   "--runtime", "tensorrt"])
    assert bad.exit_code == 2 and "runtime" in bad.output
