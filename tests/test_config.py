"""Settings: YAML files, overrides, and errors that name key, value and what is allowed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from slopscore.config import ConfigError, load_settings
from tests.conftest import REPO


def test_shipped_configs_load():
    default = load_settings(REPO / "configs" / "default.yaml")
    assert default.embedding.backbone == "open_clip:ViT-B-32/laion2b_s34b_b79k"
    offline = load_settings(REPO / "configs" / "offline.yaml")
    assert offline.embedding.backbone == "effnet-lite0" and not offline.embedding.allow_download


def test_the_shipped_triage_defaults_are_the_models_own():
    from slopscore.model.triage import DEFAULT_NEW_ACCOUNT_UPLOADS, DEFAULT_WEIGHTS

    for settings in (load_settings(REPO / "configs" / "default.yaml"), load_settings()):
        assert {**DEFAULT_WEIGHTS, **settings.triage.weights} == DEFAULT_WEIGHTS
        assert settings.triage.new_account_usual_uploads == DEFAULT_NEW_ACCOUNT_UPLOADS


def test_overrides_win_and_none_changes_nothing(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("embedding:\n  batch_size: 8\n  device: cpu\n")
    settings = load_settings(path, {"embedding.batch_size": 64, "embedding.device": None})
    assert settings.embedding.batch_size == 64 and settings.embedding.device == "cpu"


def test_settings_are_frozen():
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.embedding.batch_size = 3


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("embedding:\n  precision: fp8\n", ["embedding.precision", "'fp8'", "'auto', 'fp32' or 'bf16'"]),
        ("embedding:\n  batch_size: 0\n", ["embedding.batch_size", "0", "greater than or equal to 1"]),
        ("embedding:\n  device: tpu\n", ["embedding.device", "'tpu'", "auto, cpu, cuda"]),
        ("embedding:\n  backbone: resnet\n", ["embedding.backbone", "'resnet'", "open_clip:ARCH/TAG"]),
        ("embeding:\n  batch_size: 4\n", ["embeding is not a known setting", "embedding"]),
        ("cache:\n  dirr: /x\n", ["cache.dirr is not a known setting", "dir, enabled"]),
        ("triage:\n  weights:\n    file_says_ai: -1\n", ["triage.weights", "file_says_ai >= 0"]),
    ],
)
def test_errors_name_key_value_and_allowed(tmp_path, yaml_text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    for fragment in expected:
        assert fragment in str(info.value)


def test_invalid_yaml_is_reported(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("embedding: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)
