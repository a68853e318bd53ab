"""Provenance declarations in every form they are written, the bounds on hostile files, and
the false-positive set (human tools and cameras) that must never be called AI.

Every file is built here: Pillow, raw PNG/JPEG chunk writing and c2pa-python signing with a
test certificate chain made on the fly.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
import struct
import tracemalloc
import zlib
from xml.sax.saxutils import quoteattr

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from slopscore.provenance import c2pa_store, stealth
from slopscore.provenance.c2pa_store import MAX_C2PA_ACTIONS, c2pa_context
from slopscore.provenance.collected import MAX_ISSUES_PER_KIND, MAX_XMP_PACKETS, Collected
from slopscore.provenance.containers import collect
from slopscore.provenance.exif_xmp import normalise_source_type, read_xmp
from slopscore.provenance.reader import read_provenance
from slopscore.provenance.record import FindingKind, ProvenanceRecord
from tests.test_provenance import (
    IPTC,
    NOVELAI_FIELDS,
    SD_PARAMETERS,
    XMP_ATTRIBUTE,
    XMP_ELEMENT,
    encode,
    exif,
    jpeg,
    kinds,
    photo,
    png,
    webp,
)

AI = IPTC + "trainedAlgorithmicMedia"
SPELLINGS = {
    "https": "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    "qcode": "digsrctype:trainedAlgorithmicMedia",
    "http": AI,
    "https-slash-case": "HTTPS://cv.iptc.org/newscodes/digitalsourcetype/TrainedAlgorithmicMedia/",
}
RDF = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description rdf:about="" {attributes}>{elements}</rdf:Description></rdf:RDF></x:xmpmeta>')
NS = ('xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
      'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
      'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"')
GOOGLE = "Made with Google AI"


def rdf(attributes: str = "", elements: str = "") -> str:
    """One XMP packet declaring the namespaces used here."""
    return RDF.format(attributes=f"{NS} {attributes}", elements=elements)


def history(*agents: str) -> str:
    """An ``xmpMM:History`` sequence of saves by ``agents``."""
    events = "".join(f'<rdf:li stEvt:action="saved" stEvt:softwareAgent="{agent}"/>' for agent in agents)
    return f"<xmpMM:History><rdf:Seq>{events}</rdf:Seq></xmpMM:History>"


def declares(record: ProvenanceRecord, generator: str | None, source: str) -> None:
    assert record.declared_ai_by_file
    assert record.generator == generator
    assert source in {e.source for e in record.generator_evidence}
    assert record.findings == ()


# --------------------------------------------------------------------------- file builders


def iim(*fields: tuple[int, int, bytes]) -> bytes:
    """IPTC-IIM datasets: tag 0x1C, record, dataset, 16-bit length, value."""
    return b"".join(b"\x1c" + bytes([record, number]) + struct.pack(">H", len(value)) + value
                    for record, number, value in fields)


def resource(number: int, body: bytes, name: bytes = b"") -> bytes:
    """One Photoshop image resource: ``8BIM``, id, padded Pascal name, size, padded data."""
    pascal = bytes([len(name)]) + name
    pascal += b"\x00" * (len(pascal) & 1)
    return b"8BIM" + struct.pack(">H", number) + pascal + struct.pack(">I", len(body)) + body + b"\x00" * (len(body) & 1)


def with_segments(data: bytes, *segments: tuple[int, bytes]) -> bytes:
    """A JPEG with extra ``(marker, body)`` segments right after SOI."""
    extra = b"".join(bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body for marker, body in segments)
    return data[:2] + extra + data[2:]


def photoshop_jpeg(resources: bytes, pieces: int = 1) -> bytes:
    """A JPEG whose APP13 Photoshop resources are split over ``pieces`` segments."""
    step = -(-len(resources) // pieces)
    return with_segments(jpeg(), *((0xED, b"Photoshop 3.0\x00" + resources[i : i + step])
                                   for i in range(0, len(resources), step)))


def raw_profile(name: str, body: bytes) -> str:
    """ImageMagick's raw profile text: newline, name, length, hex in lines of 72 digits."""
    digits = body.hex()
    lines = "\n".join(digits[i : i + 72] for i in range(0, len(digits), 72))
    return f"\n{name}\n{len(body):8d}\n{lines}\n"


def png_with(*texts: tuple[str, str, bool], image: Image.Image | None = None) -> bytes:
    """A PNG with ``(keyword, text, compressed)`` text chunks (zTXt when compressed, else tEXt)."""
    info = PngInfo()
    for key, value, compressed in texts:
        info.add_text(key, value, zip=compressed)
    return encode(image or photo(), "PNG", pnginfo=info)


def stealth_pixels(image: Image.Image, stream: bytes, mode: str) -> Image.Image:
    """sd-webui stealth-pnginfo's writer: bits in column order, in alpha (1/pixel) or R, G, B (3/pixel)."""
    pixels = np.array(image)
    channels = slice(-1, None) if mode == "alpha" else slice(0, 3)
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    columns = pixels[:, :, channels].transpose(1, 0, 2).copy().ravel()
    columns[: bits.size] = (columns[: bits.size] & 0xFE) | bits
    width, height = image.size
    pixels[:, :, channels] = columns.reshape(width, height, -1).transpose(1, 0, 2)
    return Image.fromarray(pixels, image.mode)


def stealth_stream(magic: bytes, payload: bytes) -> bytes:
    return magic + (8 * len(payload)).to_bytes(4, "big") + payload


def big_png(width: int, height: int, color_type: int, column: np.ndarray) -> bytes:
    """A large PNG written row by row (filter 0): ``column`` is the first pixel of each row, the rest 0."""
    channels = {2: 3, 6: 4}[color_type]
    row = bytearray(1 + width * channels)
    deflate = zlib.compressobj(1)
    parts = []
    for y in range(height):
        row[1 : 1 + channels] = column[y].tobytes()
        parts.append(deflate.compress(bytes(row)))
    parts.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def column_with(stream: bytes, height: int, channels: int, mode: str) -> np.ndarray:
    """First-column pixels of a tall image carrying ``stream`` in its low bits."""
    column = np.full((height, channels), 254, np.uint8)
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))
    target = column[:, 3:4] if mode == "alpha" else column[:, :3]
    flat = target.ravel()
    flat[: bits.size] |= bits[: flat.size]
    target[:] = flat.reshape(target.shape)
    return column


# --------------------------------------------------------------------------- C2PA signing


@pytest.fixture(scope="module")
def signer() -> c2pa.Signer:
    return make_signer()


def make_signer() -> c2pa.Signer:
    """ES256 signer: a leaf certificate for document signing, issued by a throwaway test CA."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, key, signing_key, ca: bool):
        usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
                              False)
        usage.update(key_cert_sign=ca, crl_sign=ca, digital_signature=not ca)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
                   .add_extension(x509.KeyUsage(**usage), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if not ca:
            builder = (builder
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                                      critical=False))
        return builder.sign(signing_key, hashes.SHA256())

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "slopscore tests")])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate(name("Test CA"), name("Test CA"), ca_key, ca_key, ca=True)
    leaf = certificate(name("Test Signer"), name("Test CA"), key, ca_key, ca=False)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def signed(signer: c2pa.Signer, assertions: list[dict], source: bytes | None = None,
           ingredient: bytes | None = None) -> bytes:
    """A JPEG signed with a manifest holding ``assertions`` (and optionally a signed parent ingredient)."""
    manifest = {"claim_generator_info": [{"name": "slopscore-test", "version": "1.0"}],
                "title": "upload.jpg", "format": "image/jpeg", "assertions": assertions}
    output = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        if ingredient is not None:
            builder.add_ingredient({"title": "parent.jpg", "relationship": "parentOf", "label": "parent"},
                                   "image/jpeg", io.BytesIO(ingredient))
        builder.sign(signer, "image/jpeg", io.BytesIO(source or jpeg()), output)
    return output.getvalue()


def actions(*items: dict) -> dict:
    return {"label": "c2pa.actions", "data": {"actions": list(items)}}


def created(agent: str = "Photo Editor 2", source_type: str = IPTC + "digitalCreation") -> dict:
    """A ``c2pa.created`` action (which must name a source type), by default a human one."""
    return actions({"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": {"name": agent}})


def reader_json(data: bytes) -> dict:
    with c2pa.Reader(None, io.BytesIO(data), None, c2pa_context()) as manifest_reader:
        return json.loads(manifest_reader.json())


# --------------------------------------------------------------------------- 1. IPTC spellings


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
@pytest.mark.parametrize("container", ["jpeg-attribute", "png-element", "webp-attribute"])
def test_iptc_source_type_in_every_spelling(spelling, container):
    template = XMP_ELEMENT if container.endswith("element") else XMP_ATTRIBUTE
    packet = template.replace("{uri}", spelling)
    data = {"jpeg": lambda: jpeg(xmp=packet.encode()), "png": lambda: png(itxt={"XML:com.adobe.xmp": packet}),
            "webp": lambda: webp(xmp=packet.encode())}[container.partition("-")[0]]()
    record = read_provenance(data)
    assert record.iptc_digital_source_types == (AI,)
    assert record.declared_ai_by_file and record.declared_ai_source == "iptc" and record.findings == ()


@pytest.mark.parametrize(("value", "expected"), [
    ("https://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture", IPTC + "digitalCapture"),
    ("digsrctype:compositeWithTrainedAlgorithmicMedia", IPTC + "compositeWithTrainedAlgorithmicMedia"),
    ("  algorithmicmedia ", IPTC + "algorithmicMedia"),
    ("https://example.org/digitalsourcetype/trainedAlgorithmicMedia",
     "https://example.org/digitalsourcetype/trainedAlgorithmicMedia"),
    ("digsrctype:", "digsrctype:"),
    ("", None),
])
def test_source_type_spellings_normalise_to_one_uri(value, expected):
    assert normalise_source_type(value) == expected


@pytest.mark.parametrize("spelling", [SPELLINGS["https"], SPELLINGS["qcode"]], ids=["https", "qcode"])
def test_c2pa_action_source_type_in_every_spelling(signer, spelling):
    data = signed(signer, [created("Image Maker 3", spelling)])
    record = read_provenance(data)
    assert record.c2pa_verified and record.c2pa.digital_source_types == (AI,)
    assert record.declared_ai_by_file and record.declared_ai_source == "c2pa"
    assert record.generator == "Image Maker 3"
    assert record.reasons()[0] == ("Content Credentials say AI-generated (trainedAlgorithmicMedia, made with "
                                   "Image Maker 3), signature valid")


def test_c2pa_human_source_types_in_https_form_are_not_ai(signer):
    data = signed(signer, [created("Krita 5.2", "https://cv.iptc.org/newscodes/digitalsourcetype/digitalArt")])
    record = read_provenance(data)
    assert record.c2pa.digital_source_types == (IPTC + "digitalArt",)
    assert not record.declared_ai_by_file and record.generator is None


# --------------------------------------------------------------------------- 2. Google's credit line


@pytest.mark.parametrize("build", [
    lambda: jpeg(xmp=rdf(f'photoshop:Credit="{GOOGLE}"').encode()),
    lambda: png(itxt={"XML:com.adobe.xmp": rdf(elements=f"<photoshop:Credit>{GOOGLE}</photoshop:Credit>")}),
], ids=["jpeg-attribute", "png-element"])
def test_google_credit_in_xmp(build):
    declares(read_provenance(build()), "Google AI", "xmp:Credit")


@pytest.mark.parametrize(("fields", "pieces"), [
    ([(2, 110, GOOGLE.encode())], 1),
    ([(1, 90, b"\x1b%G"), (2, 80, "Zoë".encode()), (2, 110, GOOGLE.encode())], 1),
    ([(2, 5, b"x" * 300), (2, 110, GOOGLE.encode())], 3),
], ids=["plain", "utf8-charset", "split-over-segments"])
def test_google_credit_in_iptc_iim(fields, pieces):
    resources = resource(0x03ED, b"\x00" * 16) + resource(0x0404, iim(*fields), name=b"IPTC")
    record = read_provenance(photoshop_jpeg(resources, pieces))
    declares(record, "Google AI", "iptc:Credit")
    assert record.reasons() == ["file says Google AI made it (IPTC Credit)"]


@pytest.mark.parametrize("credit", ["Jane Doe / Google Arts & Culture", "Made with Google Pixel 8",
                                    "Not made with Google AI", "Reuters"])
def test_other_credit_lines_are_not_ai(credit):
    resources = resource(0x0404, iim((2, 110, credit.encode())))
    for data in (photoshop_jpeg(resources), jpeg(xmp=rdf(f'photoshop:Credit={quoteattr(credit)}').encode())):
        record = read_provenance(data)
        assert not record.declared_ai_by_file and record.findings == ()


def test_iptc_originating_program_names_a_tool():
    record = read_provenance(photoshop_jpeg(resource(0x0404, iim((2, 65, b"Adobe Firefly"), (2, 70, b"3.0")))))
    declares(record, "Adobe Firefly", "iptc:OriginatingProgram")


def test_iptc_dataset_with_an_absurd_extended_length_is_a_finding():
    extended = b"\x1c\x02\x6e\x80\x09" + b"\xff" * 9 + GOOGLE.encode()
    record = read_provenance(photoshop_jpeg(resource(0x0404, extended)))
    assert kinds(record) == {"iptc_malformed"} and not record.declared_ai_by_file
    long_form = b"\x1c\x02\x6e\x80\x04" + len(GOOGLE).to_bytes(4, "big") + GOOGLE.encode()
    declares(read_provenance(photoshop_jpeg(resource(0x0404, long_form))), "Google AI", "iptc:Credit")


def test_truncated_photoshop_resources_are_a_finding():
    resources = resource(0x0404, iim((2, 110, GOOGLE.encode())))
    record = read_provenance(photoshop_jpeg(resources[:-10]))
    assert kinds(record) == {"container_truncated"} and not record.declared_ai_by_file


# --------------------------------------------------------------------------- 3. legacy assertion


def test_legacy_adobe_generative_ai_assertion(signer):
    legacy = {"label": "com.adobe.generative-ai", "data": {"description": "Adobe Firefly", "version": "1.0"}}
    record = read_provenance(signed(signer, [created(), legacy]))
    assert record.c2pa.generative_ai == ("Adobe Firefly 1.0",)
    assert record.declared_ai_by_file and record.declared_ai_source == "c2pa"
    assert record.generator == "Adobe Firefly" and record.c2pa_verified
    assert record.reasons() == ["Content Credentials say AI-generated (generative-AI assertion, made with "
                                "Adobe Firefly), signature valid"]
    control = read_provenance(signed(signer, [created()]))
    assert not control.declared_ai_by_file and control.c2pa.generative_ai == ()


def test_legacy_assertion_naming_no_model_still_declares_ai(signer):
    legacy = {"label": "com.adobe.generative-ai", "data": {"prompt": "a fox"}}
    record = read_provenance(signed(signer, [created(), legacy]))
    assert record.c2pa.generative_ai == ("",) and record.declared_ai_by_file and record.generator is None


# --------------------------------------------------------------------------- 4. ImageMagick raw profiles


@pytest.mark.parametrize("compressed", [True, False], ids=["zTXt", "tEXt"])
def test_raw_profile_xmp(compressed):
    packet = XMP_ATTRIBUTE.replace("{uri}", AI).encode()
    record = read_provenance(png_with(("Raw profile type xmp", raw_profile("xmp", packet), compressed)))
    assert record.iptc_digital_source_types == (AI,) and record.declared_ai_source == "iptc"
    assert record.findings == ()


def test_raw_profile_and_itxt_copies_of_one_packet_count_once():
    packet = XMP_ATTRIBUTE.replace("{uri}", AI)
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    info.add_text("Raw profile type xmp", raw_profile("xmp", packet.encode()), zip=True)
    info.add_text("XML:com.adobe.xmp", packet)
    record = read_provenance(encode(photo(), "PNG", pnginfo=info))
    assert record.iptc_digital_source_types == (AI,) and record.findings == ()


@pytest.mark.parametrize(("keyword", "name_line", "body", "generator", "source"), [
    ("exif", "exif", b"Exif\x00\x00" + exif({0x0131: "Adobe Firefly"}).tobytes(), "Adobe Firefly", "exif:Software"),
    ("APP1", "APP1", b"Exif\x00\x00" + exif({0x0131: "DALL-E 3"}).tobytes(), "OpenAI", "exif:Software"),
    ("APP1", "APP1", b"http://ns.adobe.com/xap/1.0/\x00" + rdf('photoshop:Credit="Made with Google AI"').encode(),
     "Google AI", "xmp:Credit"),
    ("iptc", "IPTC profile", resource(0x0404, iim((2, 110, GOOGLE.encode()))), "Google AI", "iptc:Credit"),
    ("iptc", "iptc", b"Photoshop 3.0\x00" + resource(0x0404, iim((2, 110, GOOGLE.encode()))), "Google AI",
     "iptc:Credit"),
    ("8bim", "8bim", resource(0x0424, rdf('xmp:CreatorTool="Midjourney"').encode()), "Midjourney",
     "xmp:CreatorTool"),
], ids=["exif", "app1-exif", "app1-xmp", "iptc-imagemagick", "iptc-photoshop-header", "8bim-xmp"])
def test_other_raw_profiles(keyword, name_line, body, generator, source):
    data = png_with((f"Raw profile type {keyword}", raw_profile(name_line, body), True))
    declares(read_provenance(data), generator, source)


def test_real_google_credit_in_raw_iptc_profile_and_xmp(realdata):
    for name in ("firefly.png", "repro-sundae-ice-cream.png", "thumbnail-in-databox.png"):
        record = read_provenance(realdata / f"provenance/c2pars__tests__fixtures__{name}")
        google = {e.source for e in record.generator_evidence if e.generator == "Google AI"}
        assert google == {"iptc:Credit", "xmp:Credit"}, name
        assert record.findings == () and record.declared_ai_source == "c2pa", name


@pytest.mark.parametrize(("text", "kind"), [
    ("\nxmp\n  999999\n3c783a\n", "text_chunk_corrupt"),
    ("\nxmp\n       4\nzzzzzzzz\n", "text_chunk_corrupt"),
    ("no length here", "text_chunk_corrupt"),
    ("\nxmp\n999999999\n00\n", "text_chunk_too_large"),
])
def test_broken_raw_profiles_are_findings(text, kind):
    record = read_provenance(png_with(("Raw profile type xmp", text, True)))
    assert kinds(record) == {kind} and not record.declared_ai_by_file


# --------------------------------------------------------------------------- 5. InvokeAI 2.x and RGB stealth

DREAM = '"a fox in the snow [blurry]" -s 50 -S 3141592 -W 512 -H 512 -C 7.500000 -A k_lms'
SD_METADATA = json.dumps({"model": "stable diffusion", "model_weights": "stable-diffusion-1.5",
                          "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
                          "image": {"prompt": [{"prompt": "a fox", "weight": 1.0}], "steps": 50, "seed": 3141592,
                                    "sampler": "k_lms", "cfg_scale": 7.5, "type": "txt2img"}})


@pytest.mark.parametrize(("texts", "source", "detail"), [
    ({"Dream": DREAM}, "png:Dream", "InvokeAI dream command"),
    ({"sd-metadata": SD_METADATA}, "png:sd-metadata", "model=stable-diffusion-1.5"),
    ({"Dream": DREAM, "sd-metadata": SD_METADATA}, "png:Dream", "InvokeAI dream command"),
], ids=["dream", "sd-metadata", "both"])
def test_invokeai_2_chunks(texts, source, detail):
    record = read_provenance(png(text=texts))
    declares(record, "InvokeAI", source)
    assert {e.detail for e in record.generator_evidence if e.source == source} == {detail}
    assert record.reasons() == [f"file says InvokeAI made it ({', '.join(f'PNG {k}' for k in texts)})"]


def test_text_resembling_invokeai_2_is_not_evidence():
    record = read_provenance(png(text={"Dream": "a dream I had -s is short", "sd-metadata": '{"note": 1}'}))
    assert not record.declared_ai_by_file and record.findings == ()
    broken = read_provenance(png(text={"sd-metadata": "{not json"}))
    assert kinds(broken) == {"metadata_json_invalid"} and not broken.declared_ai_by_file


@pytest.mark.parametrize(("magic", "payload", "generator"), [
    (b"stealth_rgbinfo", SD_PARAMETERS.encode(), "Stable Diffusion WebUI"),
    (b"stealth_rgbcomp", gzip.compress(SD_PARAMETERS.encode()), "Stable Diffusion WebUI"),
    (b"stealth_rgbcomp", gzip.compress(json.dumps(NOVELAI_FIELDS).encode()), "NovelAI"),
], ids=["rgbinfo", "rgbcomp", "rgbcomp-novelai"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_stealth_metadata_in_rgb_low_bits(magic, payload, generator, mode):
    image = stealth_pixels(photo((64, 48)).convert(mode), stealth_stream(magic, payload), "rgb")
    record = read_provenance(encode(image, "PNG"))
    declares(record, generator, "rgb-lsb")
    assert any("hidden in colour channels" in reason for reason in record.reasons())


def test_alpha_and_rgb_stealth_in_one_file_are_both_read():
    image = photo((96, 96)).convert("RGBA")
    image = stealth_pixels(image, stealth_stream(b"stealth_pnginfo", json.dumps(NOVELAI_FIELDS).encode()), "alpha")
    image = stealth_pixels(image, stealth_stream(b"stealth_rgbinfo", SD_PARAMETERS.encode()), "rgb")
    sources = {e.source: e.generator for e in read_provenance(encode(image, "PNG")).generator_evidence}
    assert sources["alpha-lsb"] == "NovelAI" and sources["rgb-lsb"] == "Stable Diffusion WebUI"


def test_alpha_stealth_in_a_grey_and_alpha_png():
    image = stealth_pixels(photo((64, 64)).convert("LA"), stealth_stream(b"stealth_pnginfo", SD_PARAMETERS.encode()),
                           "alpha")
    declares(read_provenance(encode(image, "PNG")), "Stable Diffusion WebUI", "alpha-lsb")


def test_rgb_stealth_with_an_absurd_length_is_a_finding():
    image = stealth_pixels(photo((64, 64)), stealth_stream(b"stealth_rgbcomp", b"")[:15] + b"\x7f\xff\xff\xff",
                           "rgb")
    record = read_provenance(encode(image, "PNG"))
    assert kinds(record) == {"stealth_payload_invalid"} and not record.declared_ai_by_file


# --------------------------------------------------------------------------- 7. bounds


def test_19000_xmp_packets_give_one_finding_with_the_count():
    packets = [rdf(f'xmp:CreatorTool="tool {i}"').encode() for i in range(19_000)]
    segments = [(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet) for packet in packets]
    record = read_provenance(with_segments(jpeg(), *segments))
    (finding,) = record.findings
    assert finding.kind is FindingKind.CHUNK_LIMIT_REACHED
    assert finding.detail == f"{19_000 - MAX_XMP_PACKETS} XMP packets past the first {MAX_XMP_PACKETS} not parsed"
    assert len(json.dumps(record.to_row())) < 2_000


def test_a_repeated_problem_is_listed_a_few_times_then_counted():
    chunk = b"prompt\x00\x00not zlib at all"
    data = encode(photo(), "PNG")
    body = struct.pack(">I", len(chunk)) + b"zTXt" + chunk + struct.pack(">I", zlib.crc32(b"zTXt" + chunk))
    record = read_provenance(data[:33] + body * 5_000 + data[33:])
    assert [f.kind.value for f in record.findings] == ["text_chunk_corrupt"] * (MAX_ISSUES_PER_KIND + 1)
    assert record.findings[-1].detail == f"{5_000 - MAX_ISSUES_PER_KIND} more of this kind not listed"


class DecodeCounter:
    """Wraps the stealth check's pixel decoding: the pixels (rows x width) of every decode it does."""

    def __init__(self, decode) -> None:
        self.decode = decode
        self.decoded: list[int] = []

    def __call__(self, data, png, rows, n_bits, out):
        pixels = self.decode(data, png, rows, n_bits, out)
        if pixels is not None:
            self.decoded.append(rows * png.width)
        return pixels


@pytest.fixture
def counting(monkeypatch) -> DecodeCounter:
    counter = DecodeCounter(stealth._decode_rows)
    monkeypatch.setattr(stealth, "_decode_rows", counter)
    return counter


SIDE = 9000


@pytest.fixture(scope="module")
def huge_plain() -> bytes:
    return big_png(SIDE, SIDE, 6, np.full((SIDE, 4), 255, np.uint8))


def test_a_9000_square_image_without_payload_decodes_a_few_rows(huge_plain, counting):
    tracemalloc.start()
    try:
        record = read_provenance(huge_plain)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.findings == () and not record.declared_ai_by_file
    assert counting.decoded == [SIDE * 16]  # the rows holding the magic's first two bytes in alpha
    assert peak < 16 << 20


def test_a_9000_square_image_with_a_long_alpha_payload_is_skipped_with_a_finding(counting):
    stream = stealth_stream(b"stealth_pngcomp", gzip.compress(np.random.default_rng(0).bytes(2_000)))
    record = read_provenance(big_png(SIDE, SIDE, 6, column_with(stream, SIDE, 4, "alpha")))
    assert kinds(record) == {"pixel_budget_exceeded"}
    assert record.declared_ai_by_file and record.declared_ai_source == "alpha-lsb" and record.generator is None
    assert counting.decoded == [SIDE * 16, SIDE * 152]  # magic probe, then magic and length; no payload


def test_a_9000_square_image_with_a_short_rgb_payload_reads_only_its_rows(counting):
    stream = stealth_stream(b"stealth_rgbinfo", SD_PARAMETERS.encode())
    record = read_provenance(big_png(SIDE, SIDE, 2, column_with(stream, SIDE, 3, "rgb")))
    declares(record, "Stable Diffusion WebUI", "rgb-lsb")
    rows_needed = -(-8 * len(stream) // 3)
    assert counting.decoded == [SIDE * 6, SIDE * 51, SIDE * rows_needed]  # probe, header, payload


def filtered_png(pixels: np.ndarray, filters: list[int]) -> bytes:
    """An RGBA PNG whose row ``y`` uses PNG filter ``filters[y]`` (0 None .. 4 Paeth), written by hand."""
    height, width, _ = pixels.shape
    raw = pixels.astype(np.int16).reshape(height, width * 4)
    rows = []
    for y, kind in enumerate(filters):
        left = np.concatenate([np.zeros(4, np.int16), raw[y, :-4]])
        up = raw[y - 1] if y else np.zeros_like(raw[y])
        corner = np.concatenate([np.zeros(4, np.int16), up[:-4]])
        estimate = left + up - corner
        paeth = np.where((abs(estimate - left) <= abs(estimate - up)) & (abs(estimate - left) <= abs(estimate - corner)),
                         left, np.where(abs(estimate - up) <= abs(estimate - corner), up, corner))
        predictor = [0, left, up, (left + up) // 2, paeth][kind]
        rows.append(bytes([kind]) + ((raw[y] - predictor) % 256).astype(np.uint8).tobytes())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + _chunk(b"IEND", b""))


def test_first_column_is_unfiltered_like_pillow_for_every_filter_type():
    pixels = np.random.default_rng(4).integers(0, 256, (40, 7, 4), dtype=np.uint8)
    data = filtered_png(pixels, [y % 5 for y in range(40)][::-1])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)  # the hand-made file is right
    column = stealth._first_column(data, collect(data).png, 39, Collected())
    assert np.array_equal(column, pixels[:39, :1])


@pytest.mark.parametrize(("damage", "detail"), [("filter", "row 3 has filter type 9"),
                                               ("truncate", "pixel data ends early")])
def test_broken_pixel_rows_are_a_finding(damage, detail):
    pixels = np.full((40, 7, 4), 255, np.uint8)
    rows = b"".join(bytes([9 if damage == "filter" and y == 3 else 0]) + pixels[y].tobytes() for y in range(40))
    if damage == "truncate":
        rows = rows[: 10 * 29]
    ihdr = struct.pack(">IIBBBBB", 7, 40, 8, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
    record = read_provenance(data)
    assert [(f.kind.value, f.detail) for f in record.findings] == [("pixels_unreadable", detail)]
    assert not record.declared_ai_by_file


def test_c2pa_manifest_order_does_not_change_the_facts(signer):
    parent = signed(signer, [created("Generator A", AI)])
    child = signed(signer, [actions({"action": "c2pa.opened", "softwareAgent": {"name": "Editor B"},
                                     "parameters": {"ingredientIds": ["parent"]}})], ingredient=parent)
    store = reader_json(child)
    assert len(store["manifests"]) == 2
    reordered = dict(store, manifests=dict(reversed(list(store["manifests"].items()))))
    facts = c2pa_store._c2pa_facts(store, Collected())
    assert c2pa_store._c2pa_facts(reordered, Collected()) == facts
    assert [(a[0], a[2], a[4]) for a in facts.actions] == [("c2pa.opened", "Editor B", True),
                                                         ("c2pa.created", "Generator A", False)]
    record = read_provenance(child)
    assert record.generator == "Generator A" and record.declared_ai_source == "c2pa"


def test_c2pa_action_count_is_capped(signer):
    store = reader_json(signed(signer, [created()]))
    manifest = store["manifests"][store["active_manifest"]]
    manifest["assertions"][0]["data"]["actions"] *= MAX_C2PA_ACTIONS + 10
    collected = Collected()
    facts = c2pa_store._c2pa_facts(store, collected)
    assert len(facts.actions) == MAX_C2PA_ACTIONS
    assert [i.kind for i in collected.issues] == ["chunk_limit_reached"]


# --------------------------------------------------------------------------- 8. false positives

CAMERA_EXIF = [
    ({0x010F: "Canon", 0x0110: "Canon EOS R6", 0x0131: "Firmware Version 1.8.1"}, {0x927C: b"\x00\x01" * 40}),
    ({0x010F: "NIKON CORPORATION", 0x0110: "NIKON Z 9", 0x0131: "Ver.04.00"}, {0x927C: b"Nikon\x00\x02\x11"}),
    ({0x010F: "SONY", 0x0110: "ILCE-7M4", 0x0131: "ILCE-7M4 v3.01"}, {}),
    ({0x010F: "Apple", 0x0110: "iPhone 15 Pro", 0x0131: "17.4.1"}, {0x9286: b"ASCII\x00\x00\x00holiday"}),
    ({0x010F: "Google", 0x0110: "Pixel 8 Pro", 0x0131: "HDR+ 1.0.584010932zd"}, {}),
    ({0x010F: "FUJIFILM", 0x0110: "X-T5", 0x013B: "Jane Doe"}, {}),
]
HUMAN_FILES = {
    "photoshop-jpeg": lambda: with_segments(
        jpeg(exif=exif({0x0131: "Adobe Photoshop 25.9 (Windows)", 0x013B: "Jane Doe"}),
             xmp=rdf('xmp:CreatorTool="Adobe Photoshop 25.9 (Windows)" photoshop:ColorMode="3" '
                     'photoshop:Credit="Jane Doe Illustration"',
                     history("Adobe Photoshop 25.9 (Windows)", "Adobe Photoshop 25.9 (Windows)")).encode()),
        (0xED, b"Photoshop 3.0\x00" + resource(0x03ED, b"\x00" * 16) + resource(0x0404, iim(
            (1, 90, b"\x1b%G"), (2, 80, b"Jane Doe"), (2, 110, b"Jane Doe Illustration"),
            (2, 65, b"Adobe Photoshop"))))),
    "photoshop-png": lambda: png(itxt={"XML:com.adobe.xmp": rdf(
        'xmp:CreatorTool="Adobe Photoshop 2024 (Macintosh)"', history("Adobe Photoshop 2024 (Macintosh)"))}),
    "krita": lambda: png(text={"Software": "Krita 5.2.2", "Title": "Dream of spring", "Author": "jd"},
                         itxt={"XML:com.adobe.xmp": rdf('xmp:CreatorTool="Krita 5.2.2"')}),
    "gimp-png": lambda: png(text={"Comment": "Created with GIMP", "Software": "GIMP 2.10.36"},
                            itxt={"XML:com.adobe.xmp": rdf(
                                'xmp:CreatorTool="GIMP 2.10" xmlns:GIMP="http://www.gimp.org/xmp/" '
                                'GIMP:API="2.0" GIMP:Version="2.10.36"', history("Gimp 2.10 (Linux)"))}),
    "gimp-jpeg": lambda: with_segments(jpeg(exif=exif({0x0131: "GIMP 2.10.36"})), (0xFE, b"Created with GIMP")),
    "procreate": lambda: jpeg(exif=exif({0x0131: "Procreate 5.2.9", 0x013B: "jd"}),
                              xmp=rdf('xmp:CreatorTool="Procreate"').encode()),
    "procreate-dreams-rgba": lambda: png(text={"Software": "Procreate Dreams 1.0"},
                                         image=photo((120, 90), seed=3).convert("RGBA")),
    "clip-studio": lambda: png(text={"Software": "CLIP STUDIO PAINT"},
                               itxt={"XML:com.adobe.xmp": rdf('xmp:CreatorTool="CLIP STUDIO PAINT 3.0.0"')}),
    "clip-studio-imagemagick": lambda: png_with(
        ("Raw profile type exif", raw_profile("exif", b"Exif\x00\x00" + exif({0x0131: "CLIP STUDIO PAINT"}).tobytes()),
         True)),
    "digital-art-https": lambda: png(itxt={"XML:com.adobe.xmp": rdf(
        'Iptc4xmpExt:DigitalSourceType="https://cv.iptc.org/newscodes/digitalsourcetype/digitalArt"')}),
    "human-edits-qcode": lambda: jpeg(xmp=rdf('Iptc4xmpExt:DigitalSourceType="digsrctype:humanEdits"').encode()),
    **{f"camera-{ifd0[0x010F].split()[0].lower()}": (lambda ifd0=ifd0, sub=sub: jpeg(exif=exif(ifd0, sub)))
       for ifd0, sub in CAMERA_EXIF},
    "camera-capture-https": lambda: with_segments(
        jpeg(exif=exif(*CAMERA_EXIF[0]), xmp=rdf(
            'Iptc4xmpExt:DigitalSourceType="https://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"')
             .encode()),
        (0xED, b"Photoshop 3.0\x00" + resource(0x0404, iim((2, 110, b"Reuters"), (2, 80, b"A. Photographer"))))),
    "camera-imagemagick-png": lambda: png_with(
        ("Raw profile type exif", raw_profile("exif", b"Exif\x00\x00" + exif(*CAMERA_EXIF[4]).tobytes()), True)),
}


def texts_of(data: bytes) -> set[tuple[str, str, str]]:
    """Every text item the readers take from a file: container fields, then its XMP."""
    collected = collect(data)
    for packet, where in collected.xmp:
        read_xmp(packet, where, collected)
    return {(t.key, t.value, t.source) for t in collected.texts}


@pytest.mark.parametrize("build", HUMAN_FILES.values(), ids=HUMAN_FILES.keys())
def test_human_tools_and_cameras_are_never_declared_ai(build):
    record = read_provenance(build())
    assert not record.declared_ai_by_file
    assert record.generator is None and record.generator_evidence == ()
    assert record.findings == ()
    assert not any("AI" in reason for reason in record.reasons())


def test_the_false_positive_set_reads_its_metadata():
    """The set is only meaningful if the readers see the tool and camera fields (and say nothing)."""
    photoshop = texts_of(HUMAN_FILES["photoshop-jpeg"]())
    assert photoshop >= {
        ("Software", "Adobe Photoshop 25.9 (Windows)", "exif:Software"),
        ("CreatorTool", "Adobe Photoshop 25.9 (Windows)", "xmp:CreatorTool"),
        ("Credit", "Jane Doe Illustration", "xmp:Credit"), ("Credit", "Jane Doe Illustration", "iptc:Credit"),
        ("OriginatingProgram", "Adobe Photoshop", "iptc:OriginatingProgram")}
    converted = texts_of(HUMAN_FILES["camera-imagemagick-png"]())
    assert converted >= {("Make", "Google", "exif:Make"), ("Model", "Pixel 8 Pro", "exif:Model")}
    capture = read_provenance(HUMAN_FILES["camera-capture-https"]())
    assert capture.capture and capture.iptc_digital_source_types == (IPTC + "digitalCapture",)
    art = read_provenance(HUMAN_FILES["digital-art-https"]())
    assert art.iptc_digital_source_types == (IPTC + "digitalArt",)
    edits = read_provenance(HUMAN_FILES["human-edits-qcode"]())
    assert edits.iptc_digital_source_types == (IPTC + "humanEdits",)
