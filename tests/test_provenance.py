"""Provenance: C2PA, IPTC source types, generator metadata, hostile files, offline C2PA."""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import multiprocessing
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import c2pa
import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from slopscore.provenance import reader
from slopscore.provenance.c2pa_store import C2PA_OFFLINE_SETTINGS, read_c2pa
from slopscore.provenance.collected import MAX_TOTAL_INFLATED_BYTES, MAX_XMP_PACKETS, Collected
from slopscore.provenance.containers import collect, may_hold_c2pa
from slopscore.provenance.exif_xmp import decode_user_comment
from slopscore.provenance.generators import tool_name
from slopscore.provenance.reader import read_provenance
from slopscore.provenance.record import AI_SOURCE_TYPES, FindingKind, ProvenanceRecord

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SD_PARAMETERS = (
    "a watercolour fox in a forest\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 96x72, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.10.1"
)
COMFY_PROMPT = json.dumps({
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "model": ["4", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}},
})
COMFY_WORKFLOW = json.dumps({"nodes": [{"id": 3, "type": "KSampler"}, {"id": 4, "type": "CheckpointLoaderSimple"}],
                             "links": [[1, 4, 0, 3, 0, "MODEL"]], "version": 0.4})
NOVELAI_COMMENT = json.dumps({"prompt": "a fox", "steps": 28, "sampler": "k_euler_ancestral",
                              "scale": 5.0, "uc": "lowres, bad anatomy", "seed": 7})
NOVELAI_FIELDS = {"Title": "AI generated image", "Description": "a fox", "Software": "NovelAI",
                  "Source": "NovelAI Diffusion V4.5 4BDE2A90", "Comment": NOVELAI_COMMENT}
MIDJOURNEY_DESCRIPTION = "a fox in the snow --ar 4:3 --v 6.1 Job ID: 0f2c6a8e-1b2c-4d5e-8f90-123456789abc"
XMP_ATTRIBUTE = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'Iptc4xmpExt:DigitalSourceType="{uri}"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
XMP_ELEMENT = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
    "<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)
XMP_DESCRIPTION = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
    '<rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt></dc:description></rdf:Description>'
    "</rdf:RDF></x:xmpmeta>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol4;</x:xmpmeta>'
)


# --------------------------------------------------------------------------- builders


def photo(size: tuple[int, int] = (96, 72), seed: int = 0) -> Image.Image:
    """A smooth gradient with sensor-like noise: no metadata, nothing to find."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    noisy = base + np.random.default_rng(seed).normal(0, 6, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png(text: dict[str, str] | None = None, itxt: dict[str, str] | None = None,
        image: Image.Image | None = None) -> bytes:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value, zip=len(value) > 200)
    return encode(image or photo(), "PNG", pnginfo=info)


def exif(ifd0: dict[int, object] | None = None, sub: dict[int, object] | None = None) -> Image.Exif:
    """EXIF with IFD0 tags and tags inside the Exif sub-IFD (0x8769)."""
    tags = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        tags[tag] = value
    if sub:
        tags.get_ifd(0x8769).update(sub)
    return tags


def jpeg(**kwargs) -> bytes:
    return encode(photo(), "JPEG", quality=92, **kwargs)


def webp(**kwargs) -> bytes:
    return encode(photo(), "WEBP", lossless=True, **kwargs)


def user_comment(text: str, charset: str) -> bytes:
    """EXIF UserComment with its 8-byte character-code prefix."""
    if charset == "unicode-be":
        return b"UNICODE\x00" + text.encode("utf-16-be")
    if charset == "unicode-le":
        return b"UNICODE\x00" + text.encode("utf-16-le")
    return b"ASCII\x00\x00\x00" + text.encode("ascii")


def stealth_png(payload: bytes, magic: bytes, image: Image.Image | None = None) -> bytes:
    """Hide ``magic + bit length + payload`` in the alpha LSBs, column by column (NovelAI layout)."""
    rgba = np.array((image or photo((96, 96))).convert("RGBA"))
    stream = magic + (8 * len(payload)).to_bytes(4, "big") + payload
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    columns = rgba[:, :, 3].T.copy().ravel()
    assert bits.size <= columns.size, "test image too small for the payload"
    columns[: bits.size] = (columns[: bits.size] & 0xFE) | bits
    rgba[:, :, 3] = columns.reshape(rgba.shape[1], rgba.shape[0]).T
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def xmp(template: str, term: str) -> str:
    return template.replace("{uri}", IPTC + term)


# (name, builder, expected generator, expected evidence source)
GENERATOR_FIXTURES: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("sd-webui-png", lambda: png(text={"parameters": SD_PARAMETERS}), "Stable Diffusion WebUI", "png:parameters"),
    ("sd-webui-jpeg-unicode-be", lambda: jpeg(exif=exif(sub={0x9286: user_comment(SD_PARAMETERS, "unicode-be")})),
     "Stable Diffusion WebUI", "exif:UserComment"),
    ("sd-webui-jpeg-unicode-le", lambda: jpeg(exif=exif(sub={0x9286: user_comment(SD_PARAMETERS, "unicode-le")})),
     "Stable Diffusion WebUI", "exif:UserComment"),
    ("sd-webui-jpeg-ascii", lambda: jpeg(exif=exif(sub={0x9286: user_comment(SD_PARAMETERS, "ascii")})),
     "Stable Diffusion WebUI", "exif:UserComment"),
    ("sd-webui-webp", lambda: webp(exif=exif(sub={0x9286: user_comment(SD_PARAMETERS, "unicode-be")})),
     "Stable Diffusion WebUI", "exif:UserComment"),
    ("comfyui-png", lambda: png(text={"prompt": COMFY_PROMPT, "workflow": COMFY_WORKFLOW}), "ComfyUI", "png:prompt"),
    ("comfyui-webp-exif", lambda: webp(exif=exif({0x010F: "Prompt:" + COMFY_PROMPT,
                                                  0x010E: "Workflow:" + COMFY_WORKFLOW})),
     "ComfyUI", "exif:Make"),
    ("invokeai-png", lambda: png(text={"invokeai_metadata": json.dumps({"model": {"name": "sdxl-base"}}),
                                       "invokeai_graph": json.dumps({"id": "g", "nodes": {}})}),
     "InvokeAI", "png:invokeai_metadata"),
    ("novelai-text", lambda: png(text=NOVELAI_FIELDS), "NovelAI", "png:Comment"),
    ("novelai-stealth-pngcomp", lambda: stealth_png(gzip.compress(json.dumps(NOVELAI_FIELDS).encode()),
                                                    b"stealth_pngcomp"), "NovelAI", "alpha-lsb"),
    ("novelai-stealth-pnginfo", lambda: stealth_png(json.dumps(NOVELAI_FIELDS).encode(), b"stealth_pnginfo"),
     "NovelAI", "alpha-lsb"),
    ("sd-webui-stealth-pnginfo", lambda: stealth_png(SD_PARAMETERS.encode(), b"stealth_pnginfo"),
     "Stable Diffusion WebUI", "alpha-lsb"),
    ("midjourney-png", lambda: png(text={"Description": MIDJOURNEY_DESCRIPTION, "Author": "u123"}),
     "Midjourney", "png:Description"),
    ("midjourney-xmp", lambda: jpeg(xmp=XMP_DESCRIPTION.replace("{text}", MIDJOURNEY_DESCRIPTION).encode()),
     "Midjourney", "xmp:Description"),
    ("exif-software-firefly", lambda: jpeg(exif=exif({0x0131: "Adobe Firefly"})), "Adobe Firefly", "exif:Software"),
    ("exif-software-dalle", lambda: jpeg(exif=exif({0x0131: "DALL-E 3"})), "OpenAI", "exif:Software"),
    ("exif-make-openai", lambda: jpeg(exif=exif({0x010F: "OpenAI"})), "OpenAI", "exif:Make"),
    ("exif-makernote-midjourney", lambda: jpeg(exif=exif(sub={0x927C: b"Midjourney v6"})), "Midjourney",
     "exif:MakerNote"),
    ("png-software-invokeai", lambda: png(text={"Software": "InvokeAI 4.2"}), "InvokeAI", "png:Software"),
    ("xmp-creatortool-sd", lambda: png(itxt={"XML:com.adobe.xmp": (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmp:CreatorTool="Stable Diffusion 3.5"/></rdf:RDF></x:xmpmeta>')}),
     "Stable Diffusion", "xmp:CreatorTool"),
]

# (name, builder, expected full IPTC URI)
IPTC_FIXTURES: list[tuple[str, Callable[[], bytes], str]] = [
    ("png-attribute", lambda: png(itxt={"XML:com.adobe.xmp": xmp(XMP_ATTRIBUTE, "trainedAlgorithmicMedia")}),
     IPTC + "trainedAlgorithmicMedia"),
    ("png-element", lambda: png(itxt={"XML:com.adobe.xmp": xmp(XMP_ELEMENT, "compositeWithTrainedAlgorithmicMedia")}),
     IPTC + "compositeWithTrainedAlgorithmicMedia"),
    ("jpeg-attribute", lambda: jpeg(xmp=xmp(XMP_ATTRIBUTE, "algorithmicMedia").encode()), IPTC + "algorithmicMedia"),
    ("jpeg-element", lambda: jpeg(xmp=xmp(XMP_ELEMENT, "trainedAlgorithmicMedia").encode()),
     IPTC + "trainedAlgorithmicMedia"),
    ("webp-attribute", lambda: webp(xmp=xmp(XMP_ATTRIBUTE, "trainedAlgorithmicMedia").encode()),
     IPTC + "trainedAlgorithmicMedia"),
]

EVIDENCE_FIXTURES: list[tuple[str, Callable[[], bytes]]] = (
    [(name, build) for name, build, _, _ in GENERATOR_FIXTURES] + [(name, build) for name, build, _ in IPTC_FIXTURES]
)


def assert_nothing(record: ProvenanceRecord) -> None:
    """No evidence of any kind: the "unknown" record."""
    assert not record.declared_ai_by_file
    assert record.declared_ai_source is None
    assert record.generator is None
    assert record.generator_evidence == ()
    assert record.c2pa is None and not record.c2pa_present and record.c2pa_verified is None
    assert record.iptc_digital_source_types == ()
    assert not record.capture
    assert record.findings == ()
    assert record.reasons() == []


def timed(build: Callable[[], ProvenanceRecord]) -> ProvenanceRecord:
    start = time.perf_counter()
    record = build()
    assert time.perf_counter() - start < 2.0
    return record


def kinds(record: ProvenanceRecord) -> set[str]:
    return {finding.kind.value for finding in record.findings}


# --------------------------------------------------------------------------- generators


@pytest.mark.parametrize(("name", "build", "generator", "source"), GENERATOR_FIXTURES,
                         ids=[f[0] for f in GENERATOR_FIXTURES])
def test_generator_metadata_names_the_generator(name, build, generator, source):
    record = read_provenance(build())
    assert record.generator == generator
    assert record.declared_ai_by_file
    assert source in {e.source for e in record.generator_evidence}
    assert record.declared_ai_source == record.generator_evidence[0].source
    assert record.findings == ()
    assert any(generator in reason for reason in record.reasons())


def test_comfyui_reports_both_chunks_and_the_model():
    record = read_provenance(png(text={"prompt": COMFY_PROMPT, "workflow": COMFY_WORKFLOW}))
    assert [e.source for e in record.generator_evidence] == ["png:prompt", "png:workflow"]
    assert "flux1-dev.safetensors" in record.generator_evidence[0].detail
    assert record.reasons() == ["file says ComfyUI made it (PNG prompt, PNG workflow)"]


def test_sd_parameters_detail_names_model_and_version():
    (evidence,) = read_provenance(png(text={"parameters": SD_PARAMETERS})).generator_evidence
    assert evidence.detail == "model=sd_xl_base_1.0, version=v1.10.1"


def test_novelai_software_and_comment_are_both_evidence():
    record = read_provenance(png(text=NOVELAI_FIELDS))
    sources = {e.source: e.generator for e in record.generator_evidence}
    assert sources["png:Comment"] == "NovelAI" and sources["png:Software"] == "NovelAI"


@pytest.mark.parametrize(("text", "name"), [
    ("DALL\u00b7E 3", "OpenAI"), ("dall-e", "OpenAI"), ("Made with OpenAI", "OpenAI"),
    ("Adobe_Firefly", "Adobe Firefly"), ("ComfyUI", "ComfyUI"), ("stable-diffusion-webui", "Stable Diffusion"),
    ("Dallas Photo Lab", None), ("Adobe Photoshop 25.0", None), ("Firefly Camera", None),
])
def test_tool_names(text, name):
    assert tool_name(text) == name


def test_text_that_only_resembles_generator_keys_is_not_evidence():
    record = read_provenance(png(text={"prompt": "draw a fox", "Comment": '{"note": "hi"}',
                                       "Description": "Job ID: none", "Software": "GIMP 2.10"}))
    assert_nothing(record)


def test_user_comment_charsets_decode():
    text = "Steps: 1, Sampler: Euler \u00e9"
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-be")) == text
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-le")) == text
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16")) == text
    assert decode_user_comment(b"ASCII\x00\x00\x00plain") == "plain"
    assert decode_user_comment(b"no prefix at all") == "no prefix at all"


@pytest.mark.parametrize(("name", "build", "uri"), IPTC_FIXTURES, ids=[f[0] for f in IPTC_FIXTURES])
def test_iptc_digital_source_type_in_xmp(name, build, uri):
    record = read_provenance(build())
    assert record.iptc_digital_source_types == (uri,)
    assert record.declared_ai_by_file and record.declared_ai_source == "iptc"
    assert record.findings == ()
    assert record.reasons() == [f"IPTC metadata says AI-generated ({uri.removeprefix(IPTC)})"]


def test_iptc_digital_capture_is_capture_not_ai():
    record = read_provenance(jpeg(xmp=xmp(XMP_ATTRIBUTE, "digitalCapture").encode()))
    assert record.capture and not record.declared_ai_by_file
    assert record.iptc_digital_source_types == (IPTC + "digitalCapture",)


def test_iptc_resource_form_and_bare_term_are_full_uris():
    resource = XMP_ELEMENT.replace("<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>",
                                   '<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/>')
    assert read_provenance(jpeg(xmp=xmp(resource, "trainedAlgorithmicMedia").encode())).declared_ai_by_file
    bare = XMP_ATTRIBUTE.replace("{uri}", "trainedAlgorithmicMedia")
    assert read_provenance(jpeg(xmp=bare.encode())).iptc_digital_source_types == (IPTC + "trainedAlgorithmicMedia",)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_plain_photo_has_no_evidence(fmt):
    assert_nothing(read_provenance(encode(photo(), fmt)))


def test_plain_rgba_png_has_no_evidence():
    assert_nothing(read_provenance(encode(photo().convert("RGBA"), "PNG")))


def test_sources_paths_and_uris(tmp_path: Path):
    path = tmp_path / "comfy.png"
    path.write_bytes(png(text={"prompt": COMFY_PROMPT}))
    for source in (path, str(path), path.as_uri()):
        assert read_provenance(source).generator == "ComfyUI"
    missing = read_provenance(tmp_path / "absent.png")
    assert kinds(missing) == {"unreadable"} and missing.findings[0].detail == "missing"
    assert missing.reasons() == ["file could not be read (missing)"]
    assert kinds(read_provenance(b"x" * 100, max_bytes=10)) == {"unreadable"}


def test_to_row_is_flat_and_json_serialisable():
    row = read_provenance(png(text={"prompt": COMFY_PROMPT, "workflow": COMFY_WORKFLOW})).to_row()
    assert json.loads(json.dumps(row)) == row
    assert all(isinstance(v, (str, bool, type(None))) for v in row.values())
    assert row["provenance_generator"] == "ComfyUI" and row["provenance_declared_ai"] is True
    assert row["provenance_evidence_sources"] == "png:prompt|png:workflow"
    assert row["provenance_c2pa_present"] is False and row["provenance_c2pa_verified"] is None


# --------------------------------------------------------------------------- hostile files


def insert_after_ihdr(chunk_type: bytes, body: bytes, declared_length: int | None = None) -> bytes:
    """A valid PNG with one extra chunk right after IHDR (optionally lying about its length)."""
    base = encode(photo(), "PNG")
    length = len(body) if declared_length is None else declared_length
    chunk = struct.pack(">I", length) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))
    return base[:33] + chunk + base[33:]


@pytest.fixture(scope="module")
def zlib_bomb() -> bytes:
    """64 MiB of zeros compressed to about 64 KB."""
    return zlib.compress(b"\x00" * (64 << 20), 9)


def test_text_chunk_claiming_50_mb(zlib_bomb):
    data = insert_after_ihdr(b"iTXt", b"parameters\x00\x00\x00\x00\x00" + b"x" * 1000, declared_length=50_000_000)
    record = timed(lambda: read_provenance(data))
    assert kinds(record) == {"text_chunk_too_large"}
    assert not record.declared_ai_by_file


@pytest.mark.parametrize("chunk", ["iTXt", "zTXt"])
def test_zlib_bomb_is_not_inflated(chunk, zlib_bomb):
    header = b"workflow\x00\x01\x00\x00\x00" if chunk == "iTXt" else b"workflow\x00\x00"
    record = timed(lambda: read_provenance(insert_after_ihdr(chunk.encode(), header + zlib_bomb)))
    assert kinds(record) == {"text_chunk_too_large"}


def test_decompression_budget_spans_chunks():
    chunk = b"note\x00\x00" + zlib.compress(b"a" * 900_000, 9)
    data = encode(photo(), "PNG")
    for _ in range(12):
        data = data[:33] + struct.pack(">I", len(chunk)) + b"zTXt" + chunk + b"\x00" * 4 + data[33:]
    record = timed(lambda: read_provenance(data))
    assert kinds(record) == {"text_chunk_too_large"}
    assert len(record.findings) == 12 - MAX_TOTAL_INFLATED_BYTES // 900_000


def test_xmp_packet_count_is_capped():
    info = PngInfo()
    for i in range(MAX_XMP_PACKETS + 5):
        packet = xmp(XMP_ATTRIBUTE, "trainedAlgorithmicMedia").replace("</x:xmpmeta>", f"<!-- {i} --></x:xmpmeta>")
        info.add_itxt("XML:com.adobe.xmp", packet)
    record = timed(lambda: read_provenance(encode(photo(), "PNG", pnginfo=info)))
    (finding,) = record.findings
    assert finding.kind is FindingKind.CHUNK_LIMIT_REACHED and finding.detail.startswith("5 XMP packets")
    assert record.declared_ai_by_file


def test_identical_xmp_packets_are_parsed_once():
    info = PngInfo()
    for _ in range(MAX_XMP_PACKETS + 5):
        info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>")
    record = read_provenance(encode(photo(), "PNG", pnginfo=info))
    assert [f.kind for f in record.findings] == [FindingKind.XMP_MALFORMED]


def test_corrupt_zlib_text_chunk():
    record = timed(lambda: read_provenance(insert_after_ihdr(b"zTXt", b"prompt\x00\x00not zlib at all")))
    assert kinds(record) == {"text_chunk_corrupt"}


def test_truncated_png_chunk():
    data = encode(photo(), "PNG")
    assert "container_truncated" in kinds(timed(lambda: read_provenance(data[: len(data) // 2])))


@pytest.mark.parametrize(("packet", "kind"), [
    ("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><unclosed>", "xmp_malformed"),
    (BILLION_LAUGHS, "xmp_unsafe_xml"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "xmp_unsafe_xml"),
])
@pytest.mark.parametrize("container", ["png", "jpeg"])
def test_hostile_xmp_is_a_finding(packet, kind, container):
    data = png(itxt={"XML:com.adobe.xmp": packet}) if container == "png" else jpeg(xmp=packet.encode())
    record = timed(lambda: read_provenance(data))
    assert kinds(record) == {kind}
    assert record.iptc_digital_source_types == ()


def test_deeply_nested_workflow_json():
    record = timed(lambda: read_provenance(png(text={"workflow": "[" * 200_000})))
    assert kinds(record) == {"metadata_json_invalid"}
    assert not record.declared_ai_by_file


def test_malformed_exif_block():
    data = jpeg()
    segment = b"Exif\x00\x00" + b"\x13\x37" * 50
    app1 = b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment
    record = timed(lambda: read_provenance(data[:2] + app1 + data[2:]))
    assert kinds(record) == {"exif_malformed"}


def test_stealth_header_with_absurd_length():
    image = np.array(Image.open(io.BytesIO(stealth_png(b"", b"stealth_pngcomp"))))
    height = image.shape[0]
    image[120 % height, 120 // height, 3] |= 1  # top bit of the 32-bit length: 2**31 bits
    record = timed(lambda: read_provenance(encode(Image.fromarray(image, "RGBA"), "PNG")))
    assert kinds(record) == {"stealth_payload_invalid"}


def test_unrecognised_stealth_payload_is_still_generator_metadata():
    record = read_provenance(stealth_png(json.dumps({"foo": "bar"}).encode(), b"stealth_pnginfo"))
    assert record.declared_ai_by_file and record.declared_ai_source == "alpha-lsb"
    assert record.generator is None
    assert record.reasons() == ["file carries hidden generator metadata (hidden in alpha channel)"]


def test_random_bytes_and_empty_input():
    noise = np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    assert kinds(timed(lambda: read_provenance(noise))) == {"not_an_image"}
    assert kinds(timed(lambda: read_provenance(noise[:1000] + b"jumbc2pa" + noise[1000:]))) <= {
        "not_an_image", "c2pa_malformed"}
    empty = timed(lambda: read_provenance(b""))
    assert kinds(empty) == {"unreadable"} and empty.findings[0].detail == "empty"
    assert not empty.declared_ai_by_file


def test_bogus_jumbf_box_in_a_jpeg():
    box = struct.pack(">I", 64) + b"jumb" + struct.pack(">I", 56) + b"jumd" + b"c2pa" + b"\xff" * 48
    segment = b"JP\x00\x00\x00\x00\x00\x01" + box
    app11 = b"\xff\xeb" + struct.pack(">H", len(segment) + 2) + segment
    data = jpeg()
    record = timed(lambda: read_provenance(data[:2] + app11 + data[2:]))
    assert not record.c2pa_verified and not record.declared_ai_by_file


def test_parser_failure_never_escapes(monkeypatch):
    def broken(data: bytes) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(reader, "collect", broken)
    record = read_provenance(png(text={"parameters": SD_PARAMETERS}))
    assert kinds(record) == {"parser_error"} and not record.declared_ai_by_file


def test_every_issue_kind_is_a_finding_kind():
    """Every ``.issue(kind, ...)`` call in every module of the wing names a valid FindingKind."""
    modules = sorted(Path(reader.__file__).parent.glob("*.py"))
    calls = [node for module in modules for node in ast.walk(ast.parse(module.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "issue"]
    assert len(calls) > 10
    for call in calls:
        assert isinstance(call.args[0], ast.Constant), ast.unparse(call)
        FindingKind(call.args[0].value)


# --------------------------------------------------------------------------- C2PA offline


def test_every_offline_setting_is_recognised_by_the_library():
    """c2pa-rs ignores unknown keys, but type-checks known ones: a wrong type proves the key exists."""
    for section, values in C2PA_OFFLINE_SETTINGS.items():
        if section == "version":
            continue
        for key in values:
            with pytest.raises(c2pa.C2paError):
                c2pa.Context.from_dict({"version": 1, section: {key: "not-a-valid-value"}})


def _count_connections(read: Callable[[bytes], object], url_path: str) -> int:
    """Serve on loopback, point a JPEG's XMP at a remote manifest there, count connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.5)
    hits: list[bytes] = []

    def accept() -> None:
        try:
            while True:
                connection, _ = server.accept()
                hits.append(connection.recv(256))
                connection.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}{url_path}"
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              f'<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/>'
              "</rdf:RDF></x:xmpmeta>")
    try:
        read(jpeg(xmp=packet.encode()))
        thread.join(timeout=1.0)
    finally:
        server.close()
    return len(hits)


def test_c2pa_reader_never_fetches_a_remote_manifest():
    results: list[ProvenanceRecord] = []
    assert _count_connections(lambda data: results.append(read_provenance(data)), "/manifest.c2pa") == 0
    assert kinds(results[0]) == {"c2pa_remote_manifest"}
    assert not results[0].c2pa_present

    def default_reader(data: bytes) -> None:
        try:
            c2pa.Reader("image/jpeg", io.BytesIO(data))
        except c2pa.C2paError:
            pass

    if _count_connections(default_reader, "/manifest.c2pa") == 0:
        pytest.skip("control: this c2pa build does not fetch remote manifests by default")


# --------------------------------------------------------------------------- real files


def _manifest_rows(realdata: Path) -> list[dict[str, str]]:
    with open(realdata / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _source_types(record: ProvenanceRecord) -> set[str]:
    c2pa_types = record.c2pa.digital_source_types if record.c2pa else ()
    return {t.removeprefix(IPTC) for t in (*c2pa_types, *record.iptc_digital_source_types)}


def test_real_files_with_declared_source_types(realdata):
    rows = [r for r in _manifest_rows(realdata) if "digitalSourceType=" in r["notes"]]
    assert rows
    for row in rows:
        expected = {t for found in re.findall(r"digitalSourceType=([A-Za-z|]+)", row["notes"])
                    for t in found.split("|")}
        record = read_provenance(realdata / row["file"])
        assert expected <= _source_types(record), row["file"]
        if expected & {t.removeprefix(IPTC) for t in AI_SOURCE_TYPES}:
            assert record.declared_ai_by_file and record.declared_ai_source == "c2pa", row["file"]
        if "firefly" in row["notes"].lower():
            assert record.generator == "Adobe Firefly", row["file"]
    composite = read_provenance(realdata / "provenance/c2pars__tests__fixtures__ocsp.jpg")
    assert {"compositeWithTrainedAlgorithmicMedia", "trainedAlgorithmicMedia"} <= _source_types(composite)


def test_real_firefly_files_validate(realdata):
    for name in ("cai.jpg", "firefly.png", "ocsp.jpg", "thumbnail-in-databox.png"):
        record = read_provenance(realdata / f"provenance/c2pars__tests__fixtures__{name}")
        assert record.c2pa_verified, name
        assert record.reasons()[0].startswith("Content Credentials say AI-generated"), name


@pytest.mark.parametrize("name", ["c2paorg__image__jpeg__nikon-20221019-building.jpeg",
                                  "c2paorg__image__jpeg__truepic-20230212-camera.jpg",
                                  "c2paorg__image__jpeg__truepic-20230212-landscape.jpg"])
def test_real_camera_files_are_captures(realdata, name):
    record = read_provenance(realdata / "provenance" / name)
    assert record.c2pa_present and record.capture
    assert not record.declared_ai_by_file


def test_real_invalid_signature_and_hash_mismatch(realdata):
    signature = read_provenance(realdata / "provenance/c2paorg__image__jpeg__adobe-20220124-E-sig-CA.jpg")
    assert "c2pa_invalid_signature" in kinds(signature)
    assert signature.c2pa_present and signature.c2pa_verified is False
    assert any("signature is invalid" in reason for reason in signature.reasons())
    mismatch = read_provenance(realdata / "provenance/c2paorg__image__jpeg__adobe-20220124-XCA.jpg")
    assert "c2pa_hash_mismatch" in kinds(mismatch)
    assert mismatch.c2pa_verified is False


def test_real_file_without_manifest_says_nothing(realdata):
    assert_nothing(read_provenance(realdata / "provenance/c2pars__tests__fixtures__no_manifest.jpg"))


def test_real_comfyui_files(realdata):
    files = sorted((realdata / "ai").glob("comfy__*"))
    assert files
    for path in files:
        record = read_provenance(path)
        assert record.generator == "ComfyUI", path.name
        assert record.declared_ai_source in ("png:prompt", "png:workflow"), path.name


def test_real_human_files_declare_nothing(realdata):
    for path in sorted((realdata / "human").iterdir()):
        assert not read_provenance(path).declared_ai_by_file, path.name


def test_marker_precheck_misses_no_real_manifest(realdata):
    """Every file in which the C2PA reader finds a manifest carries the cheap byte marker."""
    found = 0
    for row in _manifest_rows(realdata):
        data = (realdata / row["file"]).read_bytes()
        if read_c2pa(data, Collected()) is not None:
            found += 1
            assert may_hold_c2pa(data, collect(data)), row["file"]
    assert found >= 10


def test_png_precheck_looks_at_metadata_chunks_only():
    pixels_only = encode(photo(), "PNG")
    assert collect(pixels_only).c2pa_marker is False
    with_box = insert_after_ihdr(b"caBX", struct.pack(">I", 16) + b"jumb" + b"\x00" * 8)
    assert may_hold_c2pa(with_box, collect(with_box))
    truncated = pixels_only[:-20]
    assert collect(truncated).c2pa_marker is None


def _verified(path: str) -> bool | None:
    return read_provenance(path).c2pa_verified


def test_reads_in_forked_workers_after_the_parent_used_c2pa(realdata):
    """Batch jobs fork worker pools; the native reader context must not be shared across fork."""
    paths = [str(realdata / "provenance" / name) for name in (
        "c2pars__tests__fixtures__cai.jpg", "c2paorg__image__jpeg__adobe-20220124-E-sig-CA.jpg")]
    assert _verified(paths[0])
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_verified, paths) == [True, False]


def _jumbf_offset(data: bytes) -> int:
    offset = data.find(b"jumb")
    assert offset > 0
    return offset


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_real_manifest(realdata, damage):
    for name in ("c2pars__tests__fixtures__cai.jpg", "c2pars__tests__fixtures__firefly.png"):
        data = bytearray((realdata / "provenance" / name).read_bytes())
        offset = _jumbf_offset(bytes(data))
        if damage == "flip":
            for i in range(offset + 200, offset + 4000, 7):
                data[i] ^= 0xFF
        else:
            del data[offset + 3000 :]
        record = timed(lambda: read_provenance(bytes(data)))
        assert not record.c2pa_verified, name
        assert any(kind.startswith("c2pa_") for kind in kinds(record)), name
