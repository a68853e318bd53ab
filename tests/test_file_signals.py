"""Per-file signals (provenance + PDQ) and their content-addressed cache."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from slopscore.embedding.cache import SignalCache
from slopscore.provenance import stealth
from slopscore.provenance.collected import MAX_XMP_PACKETS
from slopscore.provenance.reader import read_provenance
from slopscore.signals import file_signals as module
from slopscore.signals.file_signals import FileSignalReader, file_signals
from tests.test_provenance import (
    BILLION_LAUGHS,
    IPTC,
    encode,
    insert_after_ihdr,
    jpeg,
    photo,
    png,
    stealth_png,
)
from tests.test_provenance_forms import created, iim, make_signer, resource, signed, with_segments


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



# --------------------------------------------------------------------------- typed findings reach the signals


@pytest.fixture(scope="module")
def signer():
    return make_signer()


def _tampered(signer) -> bytes:
    """A signed JPEG with one byte of its image data changed after signing."""
    data = bytearray(signed(signer, [created("Image Maker 3", IPTC + "trainedAlgorithmicMedia")]))
    data[-10] ^= 0xFF
    return bytes(data)


def _many_xmp() -> bytes:
    info = PngInfo()
    for i in range(MAX_XMP_PACKETS + 3):
        info.add_itxt("XML:com.adobe.xmp", f"<x:xmpmeta xmlns:x='adobe:ns:meta/'><!-- {i} --></x:xmpmeta>")
    return encode(photo(), "PNG", pnginfo=info)


def _over_the_pixel_budget(monkeypatch) -> bytes:
    monkeypatch.setattr(stealth, "MAX_STEALTH_PIXELS", 96 * 150)
    return stealth_png(gzip.compress(np.random.default_rng(0).bytes(3000)), b"stealth_pngcomp", photo((96, 300)))


def _three_problems() -> bytes:
    """Unsafe XMP, a malformed EXIF block and Photoshop resources cut short, in one JPEG."""
    data = jpeg(xmp=BILLION_LAUGHS.encode())
    cut = b"Photoshop 3.0\x00" + resource(0x0404, iim((2, 110, b"Jane Doe")))[:-4]
    return with_segments(data, (0xE1, b"Exif\x00\x00" + b"\x13\x37" * 20), (0xED, cut))


FINDING_FILES = {
    "c2pa_hash_mismatch": lambda signer, monkeypatch: _tampered(signer),
    "xmp_unsafe_xml": lambda signer, monkeypatch: jpeg(xmp=BILLION_LAUGHS.encode()),
    "xmp_malformed": lambda signer, monkeypatch: png(itxt={"XML:com.adobe.xmp": "<x:xmpmeta><open>"}),
    "text_chunk_too_large": lambda signer, monkeypatch: insert_after_ihdr(
        b"zTXt", b"workflow\x00\x00" + zlib.compress(b"\x00" * (4 << 20), 9)),
    "chunk_limit_reached": lambda signer, monkeypatch: _many_xmp(),
    "pixel_budget_exceeded": lambda signer, monkeypatch: _over_the_pixel_budget(monkeypatch),
    "container_truncated": lambda signer, monkeypatch: _three_problems(),
}


@pytest.mark.parametrize("kind", FINDING_FILES, ids=FINDING_FILES)
def test_every_typed_finding_reaches_the_signals(kind, signer, monkeypatch, tmp_path):
    data = FINDING_FILES[kind](signer, monkeypatch)
    path = tmp_path / "upload"
    path.write_bytes(data)
    listed = json.loads(file_signals(str(path))["provenance_findings"])
    assert kind in listed
    assert listed == read_provenance(data).finding_kinds()


def test_finding_kinds_in_the_signals_are_distinct_and_bounded(monkeypatch):
    chunk = b"prompt\x00\x00not zlib"
    body = struct.pack(">I", len(chunk)) + b"zTXt" + chunk + struct.pack(">I", zlib.crc32(b"zTXt" + chunk))
    data = encode(photo(), "PNG")
    row = FileSignalReader()(data[:33] + body * 3_000 + data[33:], "a")
    assert json.loads(row["provenance_findings"]) == ["text_chunk_corrupt"]
    monkeypatch.setattr(module, "MAX_FINDING_KINDS", 2)
    three = _three_problems()
    assert read_provenance(three).finding_kinds() == ["exif_malformed", "container_truncated", "xmp_unsafe_xml"]
    assert json.loads(FileSignalReader()(three, "b")["provenance_findings"]) == ["exif_malformed", "container_truncated"]
