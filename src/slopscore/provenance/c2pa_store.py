"""Content Credentials: the embedded C2PA manifest store, read offline with c2pa-python.

:func:`read_c2pa` validates the store with the Rust reader under
:data:`C2PA_OFFLINE_SETTINGS` (no network, bounded decompression) and reduces
its JSON to :class:`C2paFacts`: claim generator, signer, signed camera, every
action of every manifest (at most ``MAX_C2PA_ACTIONS``), Adobe's legacy
``com.adobe.generative-ai`` assertions, and the validation codes. The reader
returns manifests in an order that changes from run to run, so they are put in
a fixed one: the active manifest, then its ingredients' manifests depth first
in ingredient order, then any others by label; codes are sorted. Run it only
when :func:`slopscore.provenance.containers.may_hold_c2pa` finds a marker.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from itertools import islice
from typing import Any, NamedTuple

import c2pa

from slopscore.provenance.collected import Collected, load_json
from slopscore.provenance.exif_xmp import normalise_source_type

__all__ = ["C2PA_OFFLINE_SETTINGS", "MAX_C2PA_ACTIONS", "C2paFacts", "c2pa_context", "read_c2pa"]

#: Most actions read from one manifest store (all manifests together).
MAX_C2PA_ACTIONS = 256
_LEGACY_GENERATIVE_AI = "com.adobe.generative-ai"


class C2paFacts(NamedTuple):
    """What the manifest store says, as plain values (see :class:`~slopscore.provenance.record.ContentCredentials`)."""

    active_manifest: str | None
    claim_generator: str | None
    signer: str | None
    camera: str | None
    actions: tuple[tuple[str, str | None, str | None, str, bool], ...]
    validation_state: str | None
    failure_codes: tuple[str, ...]
    ingredient_failure_codes: tuple[str, ...]
    generative_ai: tuple[str, ...] = ()


#: c2pa-rs settings that keep the reader offline and bounded: no remote manifest or
#: OCSP fetch, an empty host allow-list (any request is refused), no CAWG identity
#: decoding (which can resolve identities online), no trust-list checks (nothing is
#: downloaded), and a cap on decompressed manifest size.
C2PA_OFFLINE_SETTINGS: dict[str, Any] = {
    "version": 1,
    "core": {
        "allowed_network_hosts": [],
        "decode_identity_assertions": False,
        "max_decompressed_manifest_size_in_mb": 16,
    },
    "verify": {
        "remote_manifest_fetch": False,
        "ocsp_fetch": False,
        "verify_trust": False,
        "verify_timestamp_trust": False,
    },
}

_context_lock = threading.Lock()
_context: tuple[int, c2pa.Context] | None = None


def c2pa_context() -> c2pa.Context:
    """The offline reader context, built once per process (native handles do not survive fork)."""
    global _context
    with _context_lock:
        if _context is None or _context[0] != os.getpid():
            _context = (os.getpid(), c2pa.Context.from_dict(C2PA_OFFLINE_SETTINGS))
        return _context[1]


def read_c2pa(data: bytes, out: Collected) -> C2paFacts | None:
    """Read and validate an embedded manifest store; ``None`` when there is none."""
    try:
        with c2pa.Reader(None, io.BytesIO(data), None, c2pa_context()) as reader:
            store = load_json(reader.json())
    except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
        return None
    except c2pa.C2paError as exc:
        message = str(exc)[:200]
        if isinstance(exc, c2pa.C2paError.RemoteManifest) or message.startswith("Remote"):
            out.issue("c2pa_remote_manifest", message, "c2pa")
        else:
            out.issue("c2pa_malformed", message, "c2pa")
        return None
    if not isinstance(store, dict):
        out.issue("c2pa_malformed", "manifest store is not a JSON object", "c2pa")
        return None
    return _c2pa_facts(store, out)


def _c2pa_facts(store: dict[str, Any], out: Collected) -> C2paFacts:
    """Pick claim, signer, actions (all manifests) and validation codes out of the reader JSON."""
    manifests = _as_dict(store.get("manifests"))
    active_label = store.get("active_manifest") if isinstance(store.get("active_manifest"), str) else None
    active = _as_dict(manifests.get(active_label))
    ordered = [(label, _as_dict(manifests[label])) for label in _manifest_order(manifests, active_label)]
    actions = tuple(islice((
        action for label, manifest in ordered
        for action in _manifest_actions(label, manifest, label == active_label)
    ), MAX_C2PA_ACTIONS + 1))
    if len(actions) > MAX_C2PA_ACTIONS:
        out.issue("chunk_limit_reached", f"more than {MAX_C2PA_ACTIONS} C2PA actions", "c2pa")
        actions = actions[:MAX_C2PA_ACTIONS]
    signature = _as_dict(active.get("signature_info"))
    signer = signature.get("issuer") or signature.get("common_name")
    results = _as_dict(store.get("validation_results"))
    failures = _codes(_as_dict(results.get("activeManifest")).get("failure"))
    if not results:
        failures = _codes(store.get("validation_status"))
    ingredient_failures = tuple(
        code for delta in _as_list(results.get("ingredientDeltas"))
        for code in _codes(_as_dict(_as_dict(delta).get("validationDeltas")).get("failure"))
    )
    state = store.get("validation_state")
    return C2paFacts(
        active_manifest=active_label,
        claim_generator=_claim_generator(active),
        signer=signer if isinstance(signer, str) else None,
        camera=_camera(active),
        actions=actions,
        validation_state=state if isinstance(state, str) else None,
        failure_codes=tuple(sorted(set(failures))),
        ingredient_failure_codes=tuple(sorted(set(ingredient_failures))),
        generative_ai=tuple(name for _, manifest in ordered for name in _legacy_generative_ai(manifest)),
    )


def _manifest_order(manifests: dict[str, Any], active_label: str | None) -> list[str]:
    """Labels in a fixed order: active, its ingredients' manifests depth first, then the rest sorted."""
    order: dict[str, None] = {}
    pending = [active_label] if active_label in manifests else []
    while pending:
        label = pending.pop()
        if label in order:
            continue
        order[label] = None
        ingredients = _as_list(_as_dict(manifests[label]).get("ingredients"))
        linked = [_as_dict(i).get("active_manifest") for i in ingredients]
        pending.extend(reversed([ref for ref in linked if isinstance(ref, str) and ref in manifests]))
    return [*order, *sorted(label for label in manifests if label not in order)]


def _legacy_generative_ai(manifest: dict[str, Any]) -> Iterator[str]:
    """Adobe's pre-standard ``com.adobe.generative-ai`` assertions: the model each names, or ``""``."""
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        if str(assertion.get("label", "")).startswith(_LEGACY_GENERATIVE_AI):
            data = _as_dict(assertion.get("data"))
            words = [data.get(key) for key in ("description", "version")]
            yield " ".join(w.strip() for w in words if isinstance(w, str) and w.strip())[:120]


def _manifest_actions(label: str, manifest: dict[str, Any], active: bool):
    """``(action, digitalSourceType, softwareAgent, manifest label, in active manifest)``."""
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in _as_list(_as_dict(assertion.get("data")).get("actions")):
            action = _as_dict(action)
            yield (str(action.get("action", "")), _action_source_type(action),
                   _agent_name(action.get("softwareAgent")), label, active)


def _action_source_type(action: dict[str, Any]) -> str | None:
    """``digitalSourceType`` of an action, or a vendor-namespaced one in its parameters."""
    value = action.get("digitalSourceType")
    if not isinstance(value, str):
        parameters = _as_dict(action.get("parameters"))
        value = next((v for k, v in parameters.items()
                      if str(k).endswith(".digitalSourceType") and isinstance(v, str)), None)
    return normalise_source_type(value) if isinstance(value, str) else None


def _agent_name(agent: Any) -> str | None:
    """A software agent given as text or as a ``{"name": ...}`` object."""
    name = agent.get("name") if isinstance(agent, dict) else agent
    return name.strip()[:120] if isinstance(name, str) and name.strip() else None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    """The v1 ``claim_generator`` string, else the first ``claim_generator_info`` name."""
    value = manifest.get("claim_generator")
    if isinstance(value, str) and value.strip():
        return value.strip()[:200]
    info = _as_list(manifest.get("claim_generator_info"))
    return _agent_name(info[0]) if info else None


def _camera(manifest: dict[str, Any]) -> str | None:
    """Camera make and model signed in the manifest's own ``stds.exif`` assertions."""
    found: dict[str, str] = {}
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        if assertion.get("label") != "stds.exif":
            continue
        for key, value in _as_dict(assertion.get("data")).items():
            field_name = str(key).rpartition(":")[2].lower()
            if field_name in ("make", "model") and isinstance(value, str) and value.strip():
                found.setdefault(field_name, value.strip()[:80])
    return " ".join(found[k] for k in ("make", "model") if k in found) if "make" in found else None


def _codes(entries: Any) -> list[str]:
    return [code for e in _as_list(entries) if isinstance(code := _as_dict(e).get("code"), str)]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
