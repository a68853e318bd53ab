"""The provenance signal: what an upload's FILE says about where it came from.

:func:`read_provenance` reads, without trusting anything, four kinds of
statement a file can make about its origin:

- **Content Credentials (C2PA)**: the manifest store, every action of every
  manifest (active and ingredients) with its IPTC ``digitalSourceType`` (any
  spelling, as below), Adobe's legacy ``com.adobe.generative-ai`` assertion,
  and whether the manifests validate (signature, hash bindings). A tampered or
  invalid manifest is its own finding and never proof either way: its claims
  are still reported, marked unverified.
- **IPTC DigitalSourceType** in XMP (``Iptc4xmpExt:DigitalSourceType``), in
  any spelling (``http``/``https`` URI, ``digsrctype:`` QCode, bare term),
  wherever the XMP is: PNG iTXt/tEXt, ImageMagick's ``Raw profile type xmp``,
  JPEG APP1 (and extended XMP), Photoshop resources, WebP.
- **Generator metadata** left by tools: Stable Diffusion WebUI/Forge
  ``parameters`` (PNG text or EXIF UserComment), ComfyUI ``prompt``/``workflow``,
  InvokeAI records (``invokeai_metadata``, 2.x ``Dream`` and ``sd-metadata``),
  NovelAI (text fields), data hidden in the pixels' least-significant bits
  (alpha or RGB "stealth" metadata), Midjourney job ids, Google's
  "Made with Google AI" credit line (XMP ``photoshop:Credit``, IPTC-IIM Credit),
  and tool names in software/device fields (EXIF Software/Make/Model/MakerNote,
  XMP CreatorTool, IPTC-IIM originating program).
- **Findings**: malformed, oversized or hostile metadata, typed; at most
  ``MAX_ISSUES_PER_KIND`` of a kind, then one that counts the rest.

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
cannot see) runs with :data:`~slopscore.provenance.c2pa_store.C2PA_OFFLINE_SETTINGS`:
remote manifest fetch and OCSP fetch off, an empty network allow-list so
any request is refused, CAWG identity decoding off, trust-list checks off (no
list is downloaded; "valid" means the signature and hashes check out, not
that the signer is on a trust list). It is only invoked when the bytes
contain a JUMBF/C2PA marker. Every other read is size-capped, and the
low-bit check decodes at most ``MAX_STEALTH_PIXELS`` pixels.
"""

from __future__ import annotations

import os

from slopscore.media.decode import DEFAULT_MAX_BYTES, ImageLoadError, SkipReason, read_source
from slopscore.provenance.c2pa_store import C2paFacts, read_c2pa
from slopscore.provenance.collected import Collected
from slopscore.provenance.containers import collect, may_hold_c2pa
from slopscore.provenance.exif_xmp import normalise_source_type, read_xmp
from slopscore.provenance.generators import find_clues
from slopscore.provenance.record import (
    AI_SOURCE_TYPES,
    CAPTURE_SOURCE_TYPES,
    SIGNATURE_CODES,
    C2paAction,
    ContentCredentials,
    Finding,
    FindingKind,
    GeneratorEvidence,
    ProvenanceRecord,
    c2pa_capture,
    c2pa_says_ai,
    c2pa_tool,
    is_hash_mismatch,
)
from slopscore.provenance.stealth import read_stealth

__all__ = ["MAX_EVIDENCE", "read_provenance"]

#: Most generator-evidence entries kept per file (distinct ones, in the order found).
MAX_EVIDENCE = 32


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
    return _record(Collected(), [], None, [finding])


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
    collected = collect(data)
    read_stealth(data, collected)
    source_types = [t for packet, where in collected.xmp for t in read_xmp(packet, where, collected)]
    iptc = [u for t in source_types if (u := normalise_source_type(t))]
    facts = read_c2pa(data, collected) if may_hold_c2pa(data, collected) else None
    credentials = _credentials(facts) if facts else None
    clues = find_clues(collected)
    findings = [Finding(FindingKind(i.kind), i.detail, i.source) for i in collected.all_issues()]
    findings += _validation_findings(credentials) if credentials else []
    evidence = [GeneratorEvidence(*clue) for clue in list(dict.fromkeys(clues))[:MAX_EVIDENCE]]
    return _record(collected, evidence, credentials, findings, tuple(dict.fromkeys(iptc)))


def _credentials(facts: C2paFacts) -> ContentCredentials:
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
        generative_ai=facts.generative_ai,
    )


def _validation_findings(credentials: ContentCredentials) -> list[Finding]:
    """Invalid signature, hash mismatch, other failures: each its own finding."""
    codes = credentials.failure_codes
    signature = [c for c in codes if c in SIGNATURE_CODES]
    hashes = [c for c in codes if is_hash_mismatch(c)]
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


def _record(
    collected: Collected,
    evidence: list[GeneratorEvidence],
    credentials: ContentCredentials | None,
    findings: list[Finding],
    iptc: tuple[str, ...] = (),
) -> ProvenanceRecord:
    """Apply the summary rules (see :class:`ProvenanceRecord`)."""
    c2pa_generator = c2pa_tool(credentials) if credentials else None
    c2pa_ai = credentials is not None and (c2pa_says_ai(credentials) or c2pa_generator is not None)
    declared = [
        ("c2pa", c2pa_ai),
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
        capture=c2pa_capture(credentials) or any(t in CAPTURE_SOURCE_TYPES for t in iptc),
        findings=tuple(findings),
    )
