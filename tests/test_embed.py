"""Batched encoding, the embedding cache and bf16 verification."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest
import torch
from PIL import Image

from slopscore.embedding import torch_runtime as embed_module
from slopscore.embedding.cache import EmbeddingCache
from slopscore.embedding.encoder import ImageEncoder, embed_sources
from slopscore.media.decode import SkipReason


def _write_images(folder, count, start=0):
    paths = []
    for i in range(start, start + count):
        rng = np.random.default_rng(i)
        image = Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)).resize((64, 48))
        path = folder / f"img{i}.{'png' if i % 2 else 'jpg'}"
        image.save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def cache_for(tmp_path):
    return lambda backbone: EmbeddingCache(tmp_path / "cache", backbone.backbone_id, backbone.preprocess.id)


def test_results_come_back_in_order_with_typed_skips(tiny, tmp_path):
    paths = _write_images(tmp_path, 5)
    (tmp_path / "text.png").write_text("not an image")
    mixed = [paths[0], str(tmp_path / "missing.jpg"), paths[1], str(tmp_path / "text.png"), *paths[2:]]
    encoder = ImageEncoder(tiny, device="cpu", precision="fp32")
    results = list(embed_sources(mixed, encoder, batch_size=3, num_workers=0))
    assert [r.index for r in results] == list(range(len(mixed)))
    assert results[1].skip_reason is SkipReason.MISSING
    assert results[3].skip_reason is SkipReason.NOT_AN_IMAGE
    assert all(r.vector is not None for i, r in enumerate(results) if i not in (1, 3))
    assert encoder.n_encoded == 5


def test_worker_processes_give_the_same_vectors_as_in_process(tiny, tmp_path):
    paths = _write_images(tmp_path, 6)
    encoder = ImageEncoder(tiny, device="cpu", precision="fp32")
    inline = [r.vector for r in embed_sources(paths, encoder, batch_size=4, num_workers=0)]
    workers = [r.vector for r in embed_sources(paths, encoder, batch_size=4, num_workers=2)]
    assert all(np.array_equal(a, b) for a, b in zip(inline, workers))


def test_the_first_batch_is_small_so_the_model_starts_early(tiny, tmp_path):
    paths = _write_images(tmp_path, 9)
    encoder = ImageEncoder(tiny, device="cpu", precision="fp32")
    finished = []
    results = list(embed_sources(paths, encoder, batch_size=4, num_workers=1,
                                 on_batch=finished.append))
    assert finished == [1, 4, 4]
    assert [r.index for r in results] == list(range(9))


def test_second_run_over_the_same_files_encodes_nothing(tiny, tmp_path, cache_for):
    paths = _write_images(tmp_path, 7)
    cache = cache_for(tiny)
    first_encoder = ImageEncoder(tiny, device="cpu", precision="fp32")
    first = list(embed_sources(paths, first_encoder, cache=cache, batch_size=4, num_workers=0))
    assert first_encoder.n_encoded == 7 and len(cache) == 7

    second_encoder = ImageEncoder(tiny, device="cpu", precision="fp32")
    second = list(embed_sources(paths, second_encoder, cache=cache, batch_size=4, num_workers=0))
    assert second_encoder.n_encoded == 0
    assert all(r.from_cache for r in second)
    assert all(np.array_equal(a.vector, b.vector) for a, b in zip(first, second))


def test_a_damaged_cache_entry_is_encoded_again(tiny, tmp_path, cache_for):
    import sqlite3

    paths = _write_images(tmp_path, 4)
    cache = cache_for(tiny)
    first = list(embed_sources(paths, ImageEncoder(tiny, "cpu", "fp32"), cache=cache, num_workers=0))
    with sqlite3.connect(cache.path) as connection:
        connection.execute("UPDATE embeddings SET vector = x'00' WHERE sha256 = ?", (first[2].sha256,))
    encoder = ImageEncoder(tiny, "cpu", "fp32")
    again = list(embed_sources(paths, encoder, cache=cache, num_workers=0))
    assert encoder.n_encoded == 1
    assert [r.from_cache for r in again] == [True, True, False, True]
    # Re-encoded alone rather than in a batch of four: equal up to float rounding.
    assert all(np.allclose(a.vector, b.vector, atol=1e-5) for a, b in zip(first, again))
    assert len(cache.get_many([first[2].sha256])) == 1  # repaired


def test_cache_is_keyed_by_backbone(tiny, effnet, tmp_path):
    paths = _write_images(tmp_path, 2)
    tiny_cache = EmbeddingCache(tmp_path / "c", tiny.backbone_id, tiny.preprocess.id)
    list(embed_sources(paths, ImageEncoder(tiny, "cpu", "fp32"), cache=tiny_cache, num_workers=0))
    effnet_cache = EmbeddingCache(tmp_path / "c", effnet.backbone_id, effnet.preprocess.id)
    assert len(effnet_cache) == 0
    with pytest.raises(ValueError, match="different backbone"):
        list(embed_sources(paths, ImageEncoder(effnet, "cpu", "fp32"), cache=tiny_cache))


def _writer(directory, count):
    cache = EmbeddingCache(directory, "b", "p")
    for i in range(count):
        cache.put_many({f"{i:064x}": np.full(8, i, np.float32)})


def test_cache_can_be_read_while_another_process_writes(tmp_path):
    reader = EmbeddingCache(tmp_path, "b", "p")
    process = multiprocessing.get_context("spawn").Process(target=_writer, args=(tmp_path, 300))
    process.start()
    deadline = time.monotonic() + 60
    while process.is_alive() and time.monotonic() < deadline:
        found = reader.get_many(f"{i:064x}" for i in range(300))
        assert all(np.array_equal(v, np.full(8, int(k, 16), np.float32)) for k, v in found.items())
    process.join()
    assert process.exitcode == 0
    assert len(reader.get_many(f"{i:064x}" for i in range(300))) == 300


def test_bf16_is_kept_when_it_agrees_with_fp32(effnet, tmp_path):
    from slopscore.embedding.preprocess import to_uint8_tensor

    images = [Image.open(p).convert("RGB") for p in _write_images(tmp_path, 4)]
    batch = torch.stack([to_uint8_tensor(im, effnet.preprocess) for im in images])
    encoder = ImageEncoder(effnet, device="cpu", precision="bf16")
    vectors = encoder.encode(batch)
    check = encoder.precision_check
    assert check is not None and check.n_images == 4
    assert check.kept_bf16 == (check.min_cosine >= embed_module.BF16_MIN_COSINE)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_bf16_falls_back_to_fp32_when_it_disagrees(tiny, tmp_path, monkeypatch):
    from slopscore.embedding.preprocess import to_uint8_tensor

    monkeypatch.setattr(embed_module, "BF16_MIN_COSINE", 1.5)  # no bf16 result can pass
    images = [Image.open(p).convert("RGB") for p in _write_images(tmp_path, 3)]
    batch = torch.stack([to_uint8_tensor(im, tiny.preprocess) for im in images])
    encoder = ImageEncoder(tiny, device="cpu", precision="bf16")
    assert encoder.precision == "bf16"
    fallback = encoder.encode(batch)
    assert encoder.precision == "fp32" and not encoder.precision_check.kept_bf16
    reference = ImageEncoder(tiny, device="cpu", precision="fp32").encode(batch)
    assert np.allclose(fallback, reference, atol=1e-6)


def test_unknown_precision_is_rejected(tiny):
    with pytest.raises(ValueError, match="'auto', 'fp32', 'bf16'"):
        ImageEncoder(tiny, precision="fp8")
