"""Per-file signals (provenance + PDQ) and their content-addressed cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from slopscore.embedding.cache import SignalCache
from slopscore.signals import file_signals as module
from slopscore.signals.file_signals import file_signals


def _png(path, seed, parameters=None):
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize((128, 128))
    info = PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    image.save(path, pnginfo=info)
    return str(path)


def test_generator_metadata_and_pdq_are_read(tmp_path):
    path = _png(tmp_path / "a.png", 0, "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    row = file_signals(path)
    assert row["file_says_ai"] is True and row["provenance_source"] == "png:parameters"
    assert len(row["pdq_hex"]) == 64 and 0 <= row["pdq_quality"] <= 100
    plain = file_signals(_png(tmp_path / "b.png", 1))
    assert plain["file_says_ai"] is False and plain["file_generator"] is None


def test_missing_files_give_empty_signals(tmp_path):
    row = file_signals(str(tmp_path / "gone.png"))
    assert row["pdq_hex"] is None and row["file_says_ai"] is False


def test_cached_files_are_not_parsed_again(tmp_path, monkeypatch):
    paths = [_png(tmp_path / f"{i}.png", i, "x\nSteps: 5" if i % 2 else None) for i in range(10)]
    cache = SignalCache(tmp_path / "cache", "1")
    first = [file_signals(p, cache=cache) for p in paths]
    calls = []
    original = module.read_provenance
    monkeypatch.setattr(module, "read_provenance", lambda data: calls.append(1) or original(data))
    again = [file_signals(p, cache=cache) for p in paths]
    assert calls == [] and again == first
    fresh = [file_signals(p, cache=SignalCache(tmp_path / "cache", "2")) for p in paths[:2]]
    assert len(calls) == 2 and fresh == first[:2]  # a new signals version recomputes


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_read_once_with_the_embedding_gives_the_same_signals_as_reading_alone(tmp_path, tiny, fmt):
    """The batch job reads each file once; its signals must equal a standalone read."""
    from slopscore.embedding.encoder import ImageEncoder, embed_sources
    from slopscore.signals.file_signals import FileSignalReader

    rng = np.random.default_rng(5)
    paths = []
    for i in range(4):
        image = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize((1600, 1200))
        path = tmp_path / f"p{i}.{fmt.lower()}"
        image.save(path, fmt)
        paths.append(str(path))
    calls = []

    class Counting(FileSignalReader):
        def __call__(self, data, sha256, decoded=None):
            calls.append(decoded is not None)
            return super().__call__(data, sha256, decoded)

    results = list(embed_sources(paths, ImageEncoder(tiny, "cpu", "fp32"), num_workers=0,
                                 signals=Counting()))
    assert calls == [True] * len(paths)  # the model's decode was reused for PDQ
    assert [r.signals for r in results] == [file_signals(p) for p in paths]
    assert all(r.signals["file_type"] == fmt.lower() for r in results)
