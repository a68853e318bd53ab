"""The public record of the provenance signal, and how it reads to a moderator.

:class:`ProvenanceRecord` is what :func:`slopscore.provenance.reader.read_provenance`
returns: the file's Content Credentials (:class:`ContentCredentials`, its
:class:`C2paAction` list), IPTC source types, :class:`GeneratorEvidence`, typed
:class:`Finding` values (:class:`FindingKind`) and the summary. The record renders
itself as plain-language reasons (:meth:`ProvenanceRecord.reasons`) and as flat
columns (:meth:`ProvenanceRecord.to_row`).

The IPTC source-type sets and the rules on what a manifest store says
(:func:`c2pa_ai_types`, :func:`c2pa_says_ai`, :func:`c2pa_tool`,
:func:`c2pa_capture`, the validation codes) are here because both the reasons
and the reader's summary apply them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from slopscore.provenance.exif_xmp import IPTC_SOURCE_PREFIX
from slopscore.provenance.generators import tool_name

__all__ = [
    "AI_SOURCE_TYPES",
    "CAPTURE_SOURCE_TYPES",
    "SIGNATURE_CODES",
    "C2paAction",
    "ContentCredentials",
    "Finding",
    "FindingKind",
    "GeneratorEvidence",
    "ProvenanceRecord",
    "c2pa_ai_types",
    "c2pa_capture",
    "c2pa_says_ai",
    "c2pa_tool",
    "is_hash_mismatch",
]

_IPTC = IPTC_SOURCE_PREFIX
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
SIGNATURE_CODES = frozenset(
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
    IPTC_MALFORMED = "iptc_malformed"
    PIXELS_UNREADABLE = "pixels_unreadable"
    PIXEL_BUDGET_EXCEEDED = "pixel_budget_exceeded"
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
        ``iptc:<Dataset>``, ``jpeg:COM``, ``alpha-lsb`` or ``rgb-lsb``.
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
    generative_ai : tuple of str
        Adobe's legacy ``com.adobe.generative-ai`` assertions (before IPTC source
        types in actions), one entry per assertion: the model it names
        (description and version), or ``""`` when it names none.
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
    generative_ai: tuple[str, ...] = ()


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

    def finding_kinds(self, limit: int | None = None) -> list[str]:
        """Distinct finding kinds, in the order first found (at most ``limit``)."""
        return list(dict.fromkeys(f.kind.value for f in self.findings))[:limit]

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
            "provenance_findings": "|".join(self.finding_kinds()),
            "provenance_reasons": " | ".join(self.reasons()),
        }


def is_hash_mismatch(code: str) -> bool:
    """Hard-binding or assertion hash failures (``assertion.dataHash.mismatch``...)."""
    return code.startswith("assertion.") and code.endswith(".mismatch")


def c2pa_ai_types(credentials: ContentCredentials) -> list[str]:
    """The AI / algorithmic source types (full IPTC URIs) the manifests declare."""
    return [t for t in credentials.digital_source_types if t in AI_SOURCE_TYPES]


def c2pa_says_ai(credentials: ContentCredentials) -> bool:
    """An AI source type in any action, or a legacy ``com.adobe.generative-ai`` assertion."""
    return bool(c2pa_ai_types(credentials)) or bool(credentials.generative_ai)


def c2pa_tool(credentials: ContentCredentials) -> str | None:
    """The AI tool the manifests name: agents of AI actions (and legacy generative-AI
    assertions), else any known tool name."""
    ai_agents = [a.software_agent for a in credentials.actions
                 if a.digital_source_type in AI_SOURCE_TYPES and a.software_agent]
    ai_agents += [name for name in credentials.generative_ai if name]
    agents = [a.software_agent for a in credentials.actions if a.software_agent]
    names = [*ai_agents, *agents, credentials.claim_generator or ""]
    known = next((tool for name in names if (tool := tool_name(name))), None)
    return known or (ai_agents[0] if ai_agents else None)


def c2pa_capture(credentials: ContentCredentials | None) -> bool:
    """Active manifest declares a capture source type, or signs camera EXIF without AI."""
    if credentials is None:
        return False
    active = [a.digital_source_type for a in credentials.actions if a.in_active_manifest]
    if any(t in CAPTURE_SOURCE_TYPES for t in active):
        return True
    no_ai = not any(t in AI_SOURCE_TYPES for t in active) and not credentials.generative_ai
    return credentials.camera is not None and no_ai


def _c2pa_reasons(credentials: ContentCredentials) -> list[str]:
    status = _verification_phrase(credentials)
    ai = _terms(c2pa_ai_types(credentials))
    if credentials.generative_ai:
        ai = ", ".join(filter(None, (ai, "generative-AI assertion")))
    tool = c2pa_tool(credentials)
    if ai:
        named = f", made with {tool}" if tool else ""
        return [f"Content Credentials say AI-generated ({ai}{named}), {status}"]
    if tool:
        return [f"Content Credentials name {tool} as the tool, {status}"]
    if c2pa_capture(credentials):
        captured = _terms(t for t in credentials.digital_source_types if t in CAPTURE_SOURCE_TYPES)
        how = f"by {credentials.camera}" if credentials.camera else f"({captured})"
        return [f"Content Credentials say captured {how}, {status}"]
    generator = f" (made by {credentials.claim_generator})" if credentials.claim_generator else ""
    return [f"Content Credentials present{generator}, {status}"]


def _verification_phrase(credentials: ContentCredentials) -> str:
    codes = credentials.failure_codes
    if credentials.verified:
        return "signature valid"
    if any(c in SIGNATURE_CODES for c in codes):
        return "but the signature is invalid (unverified)"
    if any(is_hash_mismatch(c) for c in codes):
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
    if source == "rgb-lsb":
        return "hidden in colour channels"
    container, _, key = source.partition(":")
    return f"{container.upper()} {key}".strip()


def _terms(uris: Iterable[str]) -> str:
    """Short IPTC terms (``trainedAlgorithmicMedia``) joined for display."""
    return ", ".join(dict.fromkeys(uri.removeprefix(_IPTC) for uri in uris))
