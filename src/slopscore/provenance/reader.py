"""The provenance signal: what an upload's FILE says about where it came from.

:func:`read_provenance` reads, without trusting anything, four kinds of
statement a file can make about its origin:

- **Content Credentials (C2PA)**: the manifest store, every action of every
  manifest (active and ingredients) with its IPTC ``digitalSourceType``, and
  whether the manifests validate (signature, hash bindings). A tampered or
  invalid manifest is its own finding and never proof either way: its claims
  are still reported, marked unverified.
- **IPTC DigitalSourceType** in XMP (``Iptc4xmpExt:DigitalSourceType``).
- **Generator metadata** left by tools: Stable Diffusion WebUI/Forge
  ``parameters`` (PNG text or EXIF UserComment), ComfyUI ``prompt``/``workflow``,
  InvokeAI records, NovelAI (text fields and data hidden in the alpha
  channel's least-significant bits), Midjourney job ids, and tool names in
  software/device fields (EXIF Software/Make/Model/MakerNote, XMP CreatorTool).
- **Findings**: malformed, oversized or hostile metadata, typed.

Product rule
------------
Metadata may raise a reviewer's attention; its ABSENCE never lowers a score.
Nothing this module outputs may be used to lower one: a file without
metadata is simply "unknown", and ``capture`` (a camera's claim) is context
for the moderator, not evidence of human authorship, since metadata is
trivially stripped or forged.

Safety
------
The C2PA reader (Rust, with its own HTTP client that Python's socket guards
cannot see) runs with :data:`~slopscore.provenance._parsers.C2PA_OFFLINE_SETTINGS`:
remote manifest fetch and OCSP fetch off, an empty network allow-list so
any request is refused, CAWG identity decoding off, trust-list checks off (no
list is downloaded; "valid" means the signature and hashes check out, not
that the signer is on a trust list). It is only invoked when the bytes
contain a JUMBF/C2PA marker. Every other read is size-capped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from slopscore.media.decode import DEFAULT_MAX_BYTES, ImageLoadError, SkipReason, read_source
from slopscore.provenance import _parsers as parsers

__all__ = [
    "AI_SOURCE_TYPES",
    "CAPTURE_SOURCE_TYPES",
    "C2paAction",
    "ContentCredentials",
    "Finding",
    "FindingKind",
    "GeneratorEvidence",
    "ProvenanceRecord",
    "read_provenance",
]

_IPTC = parsers.IPTC_SOURCE_PREFIX
#: IPTC digital source types that declare AI / algorithmic generation.
AI_SOURCE_TYPES = frozenset(
    _IPTC + term
    for term in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia")
)
#: IPTC digital source types that declare a capture of the real world.
CAPTURE_SOURCE_TYPES = frozenset(
    _IPTC + term for term in ("digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm")
)
#: C2PA failure codes that mean the claim signature itself does not verify.
_SIGNATURE_CODES = frozenset(
    {"claimSignature.missing", "claimSignature.mismatch", "signingCredential.invalid"}
)


class FindingKind(str, Enum):
    """What went wrong or looked odd. Values are stable strings written to outputs."""

    UNREADABLE = "unreadable"
    NOT_AN_IMAGE = "not_an_image"
    CONTAINER_TRUNCATED = "container_truncated"
    CHUNK_LIMIT_REACHED = "chunk_limit_reached"
    TEXT_CHUNK_TOO_LARGE = "text_chunk_too_large"
    TEXT_CHUNK_CORRUPT = "text_chunk_corrupt"
    METADATA_JSON_INVALID = "metadata_json_invalid"
    EXIF_MALFORMED = "exif_malformed"
    XMP_MALFORMED = "xmp_malformed"
    XMP_UNSAFE_XML = "xmp_unsafe_xml"
    XMP_TOO_LARGE = "xmp_too_large"
    PIXELS_UNREADABLE = "pixels_unreadable"
    STEALTH_PAYLOAD_INVALID = "stealth_payload_invalid"
    C2PA_MALFORMED = "c2pa_malformed"
    C2PA_REMOTE_MANIFEST = "c2pa_remote_manifest"
    C2PA_INVALID_SIGNATURE = "c2pa_invalid_signature"
    C2PA_HASH_MISMATCH = "c2pa_hash_mismatch"
    C2PA_VALIDATION_FAILED = "c2pa_validation_failed"
    C2PA_INGREDIENT_VALIDATION_FAILED = "c2pa_ingredient_validation_failed"
    PARSER_ERROR = "parser_error"


@dataclass(frozen=True)
class Finding:
    """One typed observation about the file's metadata.

    Attributes
    ----------
    kind : FindingKind
        Stable category (e.g. ``c2pa_invalid_signature``, ``xmp_malformed``).
    detail : str
        Short explanation (codes, sizes, exception names); never file content.
    source : str
        Where it was found (``png:iTXt``, ``jpeg:XMP``, ``c2pa``, ``file``...).
    """

    kind: FindingKind
    detail: str
    source: str


@dataclass(frozen=True)
class GeneratorEvidence:
    """Generator metadata found in the file.

    Attributes
    ----------
    generator : str or None
        Tool named by the evidence (``ComfyUI``, ``Stable Diffusion WebUI``,
        ``NovelAI``...); ``None`` when the metadata is clearly a generator's
        but names none (e.g. an alpha-channel payload with unknown content).
    source : str
        Where it is: ``png:<keyword>``, ``exif:<Tag>``, ``xmp:<Property>``,
        ``jpeg:COM`` or ``alpha-lsb``.
    detail : str
        Short summary (model name, node count, the matched software string).
    """

    generator: str | None
    source: str
    detail: str


@dataclass(frozen=True)
class C2paAction:
    """One action recorded in a C2PA manifest.

    Attributes
    ----------
    action : str
        Action label, e.g. ``c2pa.created``, ``c2pa.edited``.
    digital_source_type : str or None
        Full IPTC URI of the declared source type, if any.
    software_agent : str or None
        Name of the software that performed the action, if given.
    manifest : str
        Label of the manifest holding the action.
    in_active_manifest : bool
        True for the active (latest) manifest, False for ingredients' manifests.
    """

    action: str
    digital_source_type: str | None
    software_agent: str | None
    manifest: str
    in_active_manifest: bool


@dataclass(frozen=True)
class ContentCredentials:
    """What an embedded C2PA manifest store claims, and whether it validated.

    Attributes
    ----------
    active_manifest : str or None
        Label of the active manifest.
    claim_generator : str or None
        Claim generator of the active manifest (the software that signed it).
    signer : str or None
        Issuer (or common name) of the active manifest's signing certificate.
    camera : str or None
        Camera make and model signed in the active manifest's EXIF assertion.
    actions : tuple of C2paAction
        Every action of every manifest in the store.
    digital_source_types : tuple of str
        Distinct source types (full IPTC URIs) over all actions, in order found.
    validation_state : str or None
        The reader's overall state: ``Valid``, ``Invalid`` or ``Trusted``.
    failure_codes : tuple of str
        Validation failure codes of the active manifest (e.g. ``claimSignature.mismatch``).
    ingredient_failure_codes : tuple of str
        Validation failure codes reported for ingredients.
    verified : bool
        True when the active manifest's signature and hash bindings validated.
        Signers are not checked against a trust list.
    """

    active_manifest: str | None
    claim_generator: str | None
    signer: str | None
    camera: str | None
    actions: tuple[C2paAction, ...]
    digital_source_types: tuple[str, ...]
    validation_state: str | None
    failure_codes: tuple[str, ...]
    ingredient_failure_codes: tuple[str, ...]
    verified: bool


@dataclass(frozen=True)
class ProvenanceRecord:
    """Everything one file says about its origin, with a summary for triage.

    Attributes
    ----------
    container : str or None
        Detected container (``PNG``, ``JPEG``, ``WEBP``, another Pillow format), or None.
    c2pa : ContentCredentials or None
        The embedded manifest store, None when there is none.
    iptc_digital_source_types : tuple of str
        ``Iptc4xmpExt:DigitalSourceType`` values from XMP, as full URIs.
    generator_evidence : tuple of GeneratorEvidence
        Generator metadata found outside C2PA.
    declared_ai_by_file : bool
        True when C2PA or IPTC declares an AI/algorithmic source type, a C2PA
        manifest names an AI tool, or generator metadata is present.
    declared_ai_source : str or None
        The first source that declares it: ``c2pa``, ``iptc``, or an evidence
        source such as ``png:parameters``.
    generator : str or None
        The generator the file names (``ComfyUI``, ``Adobe Firefly``...).
    capture : bool
        True when the file's own C2PA or IPTC metadata says it is a capture
        (a capture source type, or camera EXIF signed in the active manifest).
        Context for moderators only; never a reason to lower a score.
    findings : tuple of Finding
        Typed problems (invalid manifests, malformed or oversized metadata...).
    """

    container: str | None
    c2pa: ContentCredentials | None
    iptc_digital_source_types: tuple[str, ...]
    generator_evidence: tuple[GeneratorEvidence, ...]
    declared_ai_by_file: bool
    declared_ai_source: str | None
    generator: str | None
    capture: bool
    findings: tuple[Finding, ...]

    @property
    def c2pa_present(self) -> bool:
        """Whether an embedded C2PA manifest store was read."""
        return self.c2pa is not None

    @property
    def c2pa_verified(self) -> bool | None:
        """Whether the manifest validated; None when there is no manifest."""
        return None if self.c2pa is None else self.c2pa.verified

    def reasons(self) -> list[str]:
        """Short plain-language sentences for moderators, strongest first."""
        reasons = _c2pa_reasons(self.c2pa) if self.c2pa else []
        ai_iptc = _terms(t for t in self.iptc_digital_source_types if t in AI_SOURCE_TYPES)
        if ai_iptc:
            reasons.append(f"IPTC metadata says AI-generated ({ai_iptc})")
        capture_iptc = _terms(t for t in self.iptc_digital_source_types if t in CAPTURE_SOURCE_TYPES)
        if capture_iptc:
            reasons.append(f"IPTC metadata says captured ({capture_iptc})")
        reasons.extend(_evidence_reasons(self.generator_evidence))
        reasons.extend(f"file could not be read ({f.detail})"
                       for f in self.findings if f.kind is FindingKind.UNREADABLE)
        return reasons

    def to_row(self) -> dict[str, Any]:
        """Flat, JSON-serialisable columns; multi-valued columns are ``|``-joined strings."""
        c2pa = self.c2pa
        source_types = (c2pa.digital_source_types if c2pa else ()) + self.iptc_digital_source_types
        return {
            "provenance_declared_ai": self.declared_ai_by_file,
            "provenance_declared_ai_source": self.declared_ai_source,
            "provenance_generator": self.generator,
            "provenance_capture": self.capture,
            "provenance_c2pa_present": self.c2pa_present,
            "provenance_c2pa_verified": self.c2pa_verified,
            "provenance_c2pa_validation_state": c2pa.validation_state if c2pa else None,
            "provenance_c2pa_failure_codes": "|".join(c2pa.failure_codes) if c2pa else "",
            "provenance_c2pa_claim_generator": c2pa.claim_generator if c2pa else None,
            "provenance_c2pa_signer": c2pa.signer if c2pa else None,
            "provenance_digital_source_types": "|".join(dict.fromkeys(source_types)),
            "provenance_evidence_sources": "|".join(e.source for e in self.generator_evidence),
            "provenance_findings": "|".join(f.kind.value for f in self.findings),
            "provenance_reasons": " | ".join(self.reasons()),
        }


def read_provenance(
    source: bytes | str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> ProvenanceRecord:
    """Read what a file says about its origin. Never raises for bad files.

    Parameters
    ----------
    source : bytes, str or path-like
        The file's bytes, a local path or a ``file://`` URI.
    max_bytes : int
        Files larger than this are not read (an ``unreadable`` finding).

    Returns
    -------
    ProvenanceRecord
        Unreadable input gives a record with an ``unreadable`` finding and
        nothing declared.
    """
    try:
        data = _read_bytes(source, max_bytes)
    except ImageLoadError as exc:
        return _unknown(Finding(FindingKind.UNREADABLE, exc.reason.value, "file"))
    try:
        return _read(data)
    except Exception as exc:  # noqa: BLE001 - batch contract: one bad file never stops a run
        return _unknown(Finding(FindingKind.PARSER_ERROR, type(exc).__name__, "file"))


def _unknown(finding: Finding) -> ProvenanceRecord:
    """A record that says nothing about origin, only why."""
    return _record(parsers.Collected(), [], None, [finding])


def _read_bytes(source: bytes | str | os.PathLike[str], max_bytes: int) -> bytes:
    """Bytes of ``source`` with typed failures (see :func:`slopscore.media.decode.read_source`)."""
    if not isinstance(source, bytes):
        return read_source(source, max_bytes)
    if len(source) > max_bytes:
        raise ImageLoadError(SkipReason.TOO_LARGE, f"{len(source)} bytes")
    if not source:
        raise ImageLoadError(SkipReason.EMPTY, "0 bytes")
    return source


def _read(data: bytes) -> ProvenanceRecord:
    collected = parsers.collect(data)
    if collected.png_has_alpha:
        parsers.read_alpha_stealth(data, collected)
    source_types = [t for packet, where in collected.xmp for t in parsers.read_xmp(packet, where, collected)]
    iptc = [u for t in source_types if (u := parsers.normalise_source_type(t))]
    facts = parsers.read_c2pa(data, collected) if parsers.may_hold_c2pa(data, collected) else None
    credentials = _credentials(facts) if facts else None
    clues = parsers.find_clues(collected)
    findings = [Finding(FindingKind(i.kind), i.detail, i.source) for i in collected.issues]
    findings += _validation_findings(credentials) if credentials else []
    evidence = [GeneratorEvidence(*clue) for clue in dict.fromkeys(clues)]
    return _record(collected, evidence, credentials, findings, tuple(dict.fromkeys(iptc)))


def _credentials(facts: parsers.C2paFacts) -> ContentCredentials:
    actions = tuple(C2paAction(*action) for action in facts.actions)
    source_types = tuple(dict.fromkeys(a.digital_source_type for a in actions if a.digital_source_type))
    valid_state = facts.validation_state in (None, "Valid", "Trusted")
    return ContentCredentials(
        active_manifest=facts.active_manifest,
        claim_generator=facts.claim_generator,
        signer=facts.signer,
        camera=facts.camera,
        actions=actions,
        digital_source_types=source_types,
        validation_state=facts.validation_state,
        failure_codes=facts.failure_codes,
        ingredient_failure_codes=facts.ingredient_failure_codes,
        verified=valid_state and not facts.failure_codes and facts.active_manifest is not None,
    )


def _validation_findings(credentials: ContentCredentials) -> list[Finding]:
    """Invalid signature, hash mismatch, other failures: each its own finding."""
    codes = credentials.failure_codes
    signature = [c for c in codes if c in _SIGNATURE_CODES]
    hashes = [c for c in codes if _is_hash_mismatch(c)]
    others = [c for c in codes if c not in signature and c not in hashes]
    findings = [
        Finding(kind, "|".join(group), "c2pa")
        for kind, group in (
            (FindingKind.C2PA_INVALID_SIGNATURE, signature),
            (FindingKind.C2PA_HASH_MISMATCH, hashes),
            (FindingKind.C2PA_VALIDATION_FAILED, others),
            (FindingKind.C2PA_INGREDIENT_VALIDATION_FAILED, credentials.ingredient_failure_codes),
        )
        if group
    ]
    if not credentials.verified and not codes:
        state = f"state {credentials.validation_state}"
        findings.append(Finding(FindingKind.C2PA_VALIDATION_FAILED, state, "c2pa"))
    return findings


def _is_hash_mismatch(code: str) -> bool:
    """Hard-binding or assertion hash failures (``assertion.dataHash.mismatch``...)."""
    return code.startswith("assertion.") and code.endswith(".mismatch")


def _record(
    collected: parsers.Collected,
    evidence: list[GeneratorEvidence],
    credentials: ContentCredentials | None,
    findings: list[Finding],
    iptc: tuple[str, ...] = (),
) -> ProvenanceRecord:
    """Apply the summary rules (see :class:`ProvenanceRecord`)."""
    c2pa_generator = _c2pa_generator(credentials) if credentials else None
    c2pa_says_ai = credentials is not None and (bool(_ai_types(credentials)) or c2pa_generator is not None)
    declared = [
        ("c2pa", c2pa_says_ai),
        ("iptc", any(t in AI_SOURCE_TYPES for t in iptc)),
        *((e.source, True) for e in evidence),
    ]
    sources = [name for name, says_ai in declared if says_ai]
    generator = c2pa_generator or next((e.generator for e in evidence if e.generator), None)
    return ProvenanceRecord(
        container=collected.container,
        c2pa=credentials,
        iptc_digital_source_types=iptc,
        generator_evidence=tuple(evidence),
        declared_ai_by_file=bool(sources),
        declared_ai_source=sources[0] if sources else None,
        generator=generator,
        capture=_c2pa_capture(credentials) or any(t in CAPTURE_SOURCE_TYPES for t in iptc),
        findings=tuple(findings),
    )


def _ai_types(credentials: ContentCredentials) -> list[str]:
    return [t for t in credentials.digital_source_types if t in AI_SOURCE_TYPES]


def _c2pa_generator(credentials: ContentCredentials) -> str | None:
    """The AI tool the manifests name: agents of AI actions, else any known tool name."""
    ai_agents = [a.software_agent for a in credentials.actions
                 if a.digital_source_type in AI_SOURCE_TYPES and a.software_agent]
    agents = [a.software_agent for a in credentials.actions if a.software_agent]
    names = [*ai_agents, *agents, credentials.claim_generator or ""]
    known = next((tool for name in names if (tool := parsers.tool_name(name))), None)
    return known or (ai_agents[0] if ai_agents else None)


def _c2pa_capture(credentials: ContentCredentials | None) -> bool:
    """Active manifest declares a capture source type, or signs camera EXIF without AI."""
    if credentials is None:
        return False
    active = [a.digital_source_type for a in credentials.actions if a.in_active_manifest]
    if any(t in CAPTURE_SOURCE_TYPES for t in active):
        return True
    return credentials.camera is not None and not any(t in AI_SOURCE_TYPES for t in active)


def _c2pa_reasons(credentials: ContentCredentials) -> list[str]:
    status = _verification_phrase(credentials)
    ai = _terms(_ai_types(credentials))
    tool = _c2pa_generator(credentials)
    if ai:
        named = f", made with {tool}" if tool else ""
        return [f"Content Credentials say AI-generated ({ai}{named}), {status}"]
    if tool:
        return [f"Content Credentials name {tool} as the tool, {status}"]
    if _c2pa_capture(credentials):
        captured = _terms(t for t in credentials.digital_source_types if t in CAPTURE_SOURCE_TYPES)
        how = f"by {credentials.camera}" if credentials.camera else f"({captured})"
        return [f"Content Credentials say captured {how}, {status}"]
    generator = f" (made by {credentials.claim_generator})" if credentials.claim_generator else ""
    return [f"Content Credentials present{generator}, {status}"]


def _verification_phrase(credentials: ContentCredentials) -> str:
    codes = credentials.failure_codes
    if credentials.verified:
        return "signature valid"
    if any(c in _SIGNATURE_CODES for c in codes):
        return "but the signature is invalid (unverified)"
    if any(_is_hash_mismatch(c) for c in codes):
        return "but the image was changed after signing (unverified)"
    return f"but validation failed ({', '.join(codes) or credentials.validation_state}; unverified)"


def _evidence_reasons(evidence: Iterable[GeneratorEvidence]) -> list[str]:
    """One sentence per generator: "file says ComfyUI made it (PNG prompt, PNG workflow)"."""
    by_generator: dict[str | None, list[str]] = {}
    for item in evidence:
        by_generator.setdefault(item.generator, []).append(_source_label(item.source))
    return [
        f"file says {name} made it ({', '.join(dict.fromkeys(where))})"
        if name else f"file carries hidden generator metadata ({', '.join(dict.fromkeys(where))})"
        for name, where in by_generator.items()
    ]


def _source_label(source: str) -> str:
    if source == "alpha-lsb":
        return "hidden in alpha channel"
    container, _, key = source.partition(":")
    return f"{container.upper()} {key}".strip()


def _terms(uris: Iterable[str]) -> str:
    """Short IPTC terms (``trainedAlgorithmicMedia``) joined for display."""
    return ", ".join(dict.fromkeys(uri.removeprefix(_IPTC) for uri in uris))
