"""Resize/crop to the backbone's input and the preprocessing id."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from slopscore.embedding.preprocess import Preprocess, to_uint8_tensor

MEAN = (0.5, 0.5, 0.5)


def test_shortest_side_resize_then_centre_crop():
    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 0, 0), (100, 0, 200, 100))  # red centre third
    tensor = to_uint8_tensor(image, Preprocess(50, MEAN, MEAN))
    assert tuple(tensor.shape) == (3, 50, 50) and str(tensor.dtype) == "torch.uint8"
    assert tensor[0].float().mean() > 240 and tensor[1].float().mean() < 15  # only the red centre kept


def test_squash_keeps_the_whole_frame():
    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 100, 100))  # red left third
    tensor = to_uint8_tensor(image, Preprocess(60, MEAN, MEAN, resize_mode="squash"))
    red = tensor[0].float().numpy()
    assert red[:, :15].mean() > 240 and red[:, -15:].mean() < 15


def test_small_images_are_upscaled():
    tensor = to_uint8_tensor(Image.new("RGB", (10, 20), (9, 9, 9)), Preprocess(32, MEAN, MEAN))
    assert tuple(tensor.shape) == (3, 32, 32) and np.all(tensor.numpy() == 9)


def test_preprocess_id_changes_with_any_setting():
    base = Preprocess(224, MEAN, MEAN)
    variants = [Preprocess(256, MEAN, MEAN), Preprocess(224, (0.4, 0.5, 0.5), MEAN),
                Preprocess(224, MEAN, MEAN, "bilinear"), Preprocess(224, MEAN, MEAN, resize_mode="squash")]
    assert len({base.id, *(v.id for v in variants)}) == 5
    assert base.id == Preprocess(224, MEAN, MEAN).id


def test_unknown_settings_are_rejected():
    with pytest.raises(ValueError, match="interpolation"):
        Preprocess(224, MEAN, MEAN, "lanczos9")
