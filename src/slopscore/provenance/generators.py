"""Generator clues: which tool the collected metadata texts say made the file.

:func:`find_clues` recognises records whose layout identifies a generator
(Stable Diffusion WebUI ``parameters``, ComfyUI prompt/workflow JSON, InvokeAI
records including 2.x ``Dream`` commands and ``sd-metadata``, NovelAI
settings, Midjourney job ids, Google's "Made with Google AI" credit line),
then tool names in software/device fields (:func:`tool_name`), and a stealth
payload that names none. Texts are already size-capped when collected.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from slopscore.provenance.collected import Collected, TextItem, load_json

__all__ = ["Clue", "find_clues", "tool_name"]

# Tool names a file may carry in its software/device fields.
_NAMED_TOOLS = (
    (re.compile(r"adobe[\s_]*firefly", re.I), "Adobe Firefly"),
    (re.compile(r"\bopenai\b|\bdall[\s\-_\u00b7]?e\b", re.I), "OpenAI"),
    (re.compile(r"midjourney", re.I), "Midjourney"),
    (re.compile(r"novelai", re.I), "NovelAI"),
    (re.compile(r"invokeai", re.I), "InvokeAI"),
    (re.compile(r"comfyui", re.I), "ComfyUI"),
    (re.compile(r"stable[\s_\-]*diffusion", re.I), "Stable Diffusion"),
)
# Keys whose value names the software or device that made the file, most specific first.
_TOOL_KEYS = ("Software", "CreatorTool", "OriginatingProgram", "Make", "Model", "MakerNote", "Source")
_SD_PARAMETERS = re.compile(r"^Steps: \d+, .*\bSampler: ", re.M)
_SD_DETAIL = re.compile(r"\b(Model|Version): ([^,\n]{1,80})")
_MIDJOURNEY_JOB = re.compile(
    r"Job ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I
)
_COMFY_MODEL_INPUTS = ("ckpt_name", "unet_name")
# Google's IPTC credit line on images its generative AI made (XMP photoshop:Credit, IIM 2:110).
_GOOGLE_AI_CREDIT = re.compile(r"^\s*made with google ai\b", re.I)
# InvokeAI 2.x ``Dream``: the command line, '"prompt [negative]" -s steps -S seed -W .. -H .. -C .. -A ..'.
_INVOKE_DREAM = (re.compile(r'^\s*"'), re.compile(r"\s-s\s+\d+\b"), re.compile(r"\s-S\s+\d+\b"))
_INVOKE_JSON_KEYS = ("invokeai_metadata", "invokeai_graph", "sd-metadata")
_STEALTH_SOURCES = ("alpha-lsb", "rgb-lsb")


class Clue(NamedTuple):
    """Generator metadata: who made the file (``None`` if unnamed), where it says so, detail."""

    generator: str | None
    source: str
    detail: str


def find_clues(out: Collected) -> list[Clue]:
    """Generator evidence: format-specific records first, then tool names.

    A hidden alpha-channel payload is generator metadata even when its
    content names no tool.
    """
    texts = out.texts
    clues = [clue for item in texts if (clue := _structured_clue(item, out))]
    for key in _TOOL_KEYS:
        clues.extend(_named_clue(item) for item in texts if item.key == key and tool_name(item.value))
    for source in _STEALTH_SOURCES:
        if source in out.stealth and not any(clue.source == source for clue in clues):
            clues.append(Clue(None, source, f"{out.stealth[source]} payload"))
    return clues


def _structured_clue(item: TextItem, out: Collected) -> Clue | None:
    """A clue from a record whose layout identifies the generator, if ``item`` is one."""
    key, value, source = item
    if key in ("parameters", "UserComment", "Comment") and _SD_PARAMETERS.search(value):
        details = dict(_SD_DETAIL.findall(value))
        detail = ", ".join(f"{k.lower()}={v}" for k, v in details.items())
        return Clue("Stable Diffusion WebUI", source, detail)
    if key in ("Description", "ImageDescription") and _MIDJOURNEY_JOB.search(value):
        return Clue("Midjourney", source, "Midjourney job id")
    if key == "Comment" and _is_novelai_comment(value):
        return Clue("NovelAI", source, "NovelAI generation settings")
    if key == "Credit" and _GOOGLE_AI_CREDIT.search(value):
        return Clue("Google AI", source, "credit line: Made with Google AI")
    if key == "Dream" and all(pattern.search(value) for pattern in _INVOKE_DREAM):
        return Clue("InvokeAI", source, "InvokeAI dream command")
    return _json_clue(item, out)


def _json_clue(item: TextItem, out: Collected) -> Clue | None:
    """ComfyUI prompt/workflow graphs (text chunks or ComfyUI's EXIF form) and InvokeAI records."""
    key, value, source = item
    if key in ("Make", "ImageDescription"):
        prefix, _, value = value.partition(":")
        key = prefix.lower() if prefix in ("Prompt", "Workflow") else ""
    if key not in ("prompt", "workflow", *_INVOKE_JSON_KEYS):
        return None
    document = load_json(value)
    if not isinstance(document, dict):
        if key != "prompt":
            out.issue("metadata_json_invalid", f"{key} is not a JSON object", source)
        return None
    if key == "prompt":
        return _comfy_prompt_clue(document, source)
    if key == "workflow":
        nodes = document.get("nodes")
        if not isinstance(nodes, list):
            return None
        return Clue("ComfyUI", source, f"workflow with {len(nodes)} nodes")
    if key == "sd-metadata":
        return _invoke_v2_clue(document, source)
    model = document.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    return Clue("InvokeAI", source, f"model={name[:120]}" if isinstance(name, str) else "InvokeAI record")


def _invoke_v2_clue(document: dict[str, Any], source: str) -> Clue | None:
    """InvokeAI 2.x ``sd-metadata``: ``{"model_weights": ..., "app_id": ..., "image": {"prompt": ...}}``."""
    image = document.get("image")
    if not isinstance(image, dict) or not {"prompt", "steps", "seed", "sampler", "cfg_scale"} & image.keys():
        return None
    model = document.get("model_weights") or document.get("model_id")
    return Clue("InvokeAI", source, f"model={model[:120]}" if isinstance(model, str) else "InvokeAI 2 record")


def _comfy_prompt_clue(document: dict[str, Any], source: str) -> Clue | None:
    """ComfyUI's API prompt: node id -> ``{"class_type": ..., "inputs": {...}}``."""
    nodes = [node for node in document.values() if isinstance(node, dict) and "class_type" in node]
    if not nodes:
        return None
    models = sorted({
        str(node["inputs"][name])[:120]
        for node in nodes if isinstance(node.get("inputs"), dict)
        for name in _COMFY_MODEL_INPUTS if isinstance(node["inputs"].get(name), str)
    })
    detail = f"prompt graph with {len(nodes)} nodes" + (f", model={'+'.join(models)}" if models else "")
    return Clue("ComfyUI", source, detail)


def _is_novelai_comment(value: str) -> bool:
    """NovelAI's ``Comment`` is a JSON object of settings including ``sampler`` and ``uc``."""
    if not value.lstrip().startswith("{"):
        return False
    document = load_json(value)
    return isinstance(document, dict) and {"sampler", "uc"} <= document.keys()


def _named_clue(item: TextItem) -> Clue:
    name = tool_name(item.value)
    return Clue(name, item.source, item.value.strip()[:120])


def tool_name(text: str) -> str | None:
    """The generator named in ``text`` (first match of the known-tool table)."""
    return next((name for pattern, name in _NAMED_TOOLS if pattern.search(text)), None)
