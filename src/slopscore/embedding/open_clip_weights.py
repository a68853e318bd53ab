"""open_clip backbones: loading with pretrained weights, offline checks, stable ids.

Nothing is fetched unless downloads are allowed; what is missing is found from the local
caches alone (open_clip's, Hugging Face's), and the error names every place tried.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from slopscore.embedding.backbones import (
    EFFNET_BACKBONE,
    BackboneSpec,
    BackboneSpecError,
    LoadedBackbone,
    WeightsUnavailableError,
)
from slopscore.embedding.preprocess import Preprocess

__all__ = ["load_open_clip", "missing_open_clip_files"]


def load_open_clip(spec: BackboneSpec, weights_dir, allow_download: bool) -> LoadedBackbone:
    import open_clip

    cache_dir = os.fspath(weights_dir) if weights_dir else None
    missing = missing_open_clip_files(spec, weights_dir)
    if missing and not allow_download:
        raise _weights_error(spec, missing, "downloads are off (allow_download is false)")
    offline = contextlib.nullcontext() if missing else _hf_offline()
    try:
        with offline:
            if spec.architecture.startswith(("local-dir:", "hf-hub:")):
                model = open_clip.create_model(
                    spec.architecture, cache_dir=cache_dir, require_pretrained=True
                )
            else:
                model = open_clip.create_model(
                    spec.architecture,
                    pretrained=spec.weights,
                    cache_dir=cache_dir,
                    require_pretrained=True,
                )
    except (RuntimeError, OSError, ValueError) as exc:
        raise _weights_error(spec, missing or ["(download attempted)"], str(exc)) from exc
    visual = model.visual
    cfg = getattr(visual, "preprocess_cfg", {}) or {}
    preprocess = Preprocess(
        image_size=_square_size(cfg.get("size", 224)),
        mean=tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)),
        interpolation=cfg.get("interpolation", "bicubic"),
        resize_mode="squash" if cfg.get("resize_mode") == "squash" else "shortest",
    )
    return LoadedBackbone(
        spec=spec,
        backbone_id=_open_clip_id(spec),
        is_clip=True,
        description=f"CLIP image encoder {spec.text}",
        preprocess=preprocess,
        module=visual,
        embed_dim=int(visual.output_dim),
    )


def _square_size(size) -> int:
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ValueError(f"non-square backbone input {tuple(size)} is not supported")
        return int(size[0])
    return int(size)


def missing_open_clip_files(spec: BackboneSpec, weights_dir) -> list[str]:
    """Places checked for weights that hold nothing; empty when all is local."""
    arch = spec.architecture or ""
    if spec.weights_is_file:
        return [] if Path(spec.weights).is_file() else [f"checkpoint file {spec.weights}"]
    if arch.startswith("local-dir:"):
        folder = Path(arch[len("local-dir:") :])
        return [] if (folder / "open_clip_config.json").is_file() else [f"folder {folder}"]
    if arch.startswith("hf-hub:"):
        repo = arch[len("hf-hub:") :]
        return _missing_hf_files(repo, ["open_clip_config.json"], weights_dir, any_of=_HF_WEIGHTS)
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, spec.weights)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise BackboneSpecError(
            f"open_clip has no pretrained tag {spec.weights!r} for {arch!r}; known tags: {tags}"
        )
    hub = cfg.get("hf_hub")
    if hub:
        repo, filename = os.path.split(hub)  # "org/name/" means the default file names
        names = [str(Path(filename).with_suffix(".safetensors")), filename] if filename else _HF_WEIGHTS
        return _missing_hf_files(repo, [], weights_dir, any_of=names)
    url = cfg.get("url", "")
    target = Path(weights_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
    return [] if target.is_file() else [f"file {target}"]


_HF_WEIGHTS = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]


def _missing_hf_files(repo: str, required: list[str], weights_dir, any_of: list[str]) -> list[str]:
    """Which Hugging Face files are absent from the local cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    cache_dir = os.fspath(weights_dir) if weights_dir else None

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(repo, name, cache_dir=cache_dir), str)

    missing = [f"hf-hub:{repo}/{name}" for name in required if not cached(name)]
    if not any(cached(name) for name in any_of):
        missing.append(f"hf-hub:{repo}/{' or '.join(any_of)}")
    return missing


@contextlib.contextmanager
def _hf_offline():
    """Make huggingface_hub resolve from its cache only, never the network."""
    import huggingface_hub.constants as hf_constants

    previous = hf_constants.HF_HUB_OFFLINE
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = previous


def _weights_error(spec: BackboneSpec, tried: list[str], cause: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"No pretrained weights for backbone {spec.text!r}. Tried: {'; '.join(tried)}. "
        f"Cause: {cause}. Two ways out: (1) on a machine with internet, run once with "
        f"downloads allowed (--allow-download) so the weights land in the cache "
        f"(--weights-dir), then copy that cache here; or (2) pass a local checkpoint, "
        f"e.g. 'open_clip:{spec.architecture or 'ViT-B-32'}@/path/to/weights.safetensors' "
        f"or 'open_clip:local-dir:/path/to/folder'. Offline, {EFFNET_BACKBONE!r} works "
        f"with no download (it is not CLIP)."
    )


def _open_clip_id(spec: BackboneSpec) -> str:
    """A stable id: tags by name, local files by content hash (paths differ per machine)."""
    arch = spec.architecture or ""
    if spec.weights_is_file:
        return f"open_clip:{arch}@sha256:{_file_digest(Path(spec.weights))}"
    if arch.startswith("local-dir:"):
        folder = Path(arch[len("local-dir:") :])
        files = sorted(p for p in folder.iterdir() if p.is_file())
        digest = hashlib.sha256("".join(_file_digest(p) for p in files).encode()).hexdigest()
        return f"open_clip:local-dir@sha256:{digest[:16]}"
    return spec.text


def _file_digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]
