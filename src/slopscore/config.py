"""Validated, frozen settings loaded from ``configs/*.yaml`` with CLI overrides.

Errors name the key, the value given and what is allowed, e.g.::

    configs/default.yaml: embedding.precision = 'fp8': Input should be 'auto', 'fp32' or 'bf16'

A layer of its own, above the model and below the jobs that read it.
May import: media, embedding (defaults, backbone strings), model (triage weight names).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from slopscore.embedding.backbones import DEFAULT_BACKBONE, BackboneSpecError, parse_backbone
from slopscore.media.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

__all__ = ["ConfigError", "Settings", "load_settings"]

CONFIG_ENV = "SLOPSCORE_CONFIG"


class ConfigError(ValueError):
    """A configuration file or override that does not validate."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmbeddingSettings(_Frozen):
    """How images become embeddings."""

    backbone: str = DEFAULT_BACKBONE
    batch_size: int = Field(32, ge=1, le=4096)
    num_workers: int = Field(2, ge=0, le=64)
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    weights_dir: str | None = None
    allow_download: bool = True
    runtime: Literal["auto", "torch", "onnxruntime"] = "torch"
    int8: bool = False
    int8_calibration: str | None = Field(None, validate_default=True)

    @field_validator("int8")
    @classmethod
    def _int8_runs_on_onnxruntime(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("runtime") == "torch":
            raise ValueError("int8 runs on ONNX Runtime: set embedding.runtime to 'onnxruntime' or 'auto'")
        return value

    @field_validator("int8_calibration")
    @classmethod
    def _int8_needs_images(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("int8") and not value:
            raise ValueError("int8 needs calibration images: a folder or manifest of real images")
        return value

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        try:
            parse_backbone(value)
        except BackboneSpecError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        kind = value.split(":", 1)[0]
        if kind not in {"auto", "cpu", "cuda", "mps"}:
            raise ValueError("allowed: auto, cpu, cuda, cuda:N, mps")
        return value


class CacheSettings(_Frozen):
    """Where embeddings are kept between runs."""

    dir: str = "~/.cache/slopscore/embeddings"
    enabled: bool = True


class ImageSettings(_Frozen):
    """Limits applied to every uploaded file."""

    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)
    max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1)


class PortfolioSettings(_Frozen):
    """How an upload is compared with the artist's own earlier accepted works."""

    min_portfolio: int = Field(5, ge=1)
    k_nearest: int = Field(5, ge=1)
    near_duplicate_similarity: float = Field(0.95, gt=0, le=1)
    near_duplicate_window_hours: float = Field(24.0, gt=0)
    burst_window_hours: float = Field(1.0, gt=0)
    pdq_max_distance: int = Field(31, ge=0, le=256)
    pdq_min_quality: int = Field(50, ge=0, le=100)


class TriageSettings(_Frozen):
    """The triage combination: default weights unless a learned one proves better."""

    weights: dict[str, float] = Field(default_factory=dict)
    min_decisions: int = Field(200, ge=10)
    min_per_class: int = Field(20, ge=1)
    review_threshold: float = Field(0.5, gt=0, lt=1)
    review_threshold_rule: Literal["fixed", "human_fpr"] = "fixed"
    target_human_fpr: float = Field(0.02, gt=0, lt=1)
    new_account_usual_uploads: float = Field(30.0, ge=1)

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: dict[str, float]) -> dict[str, float]:
        from slopscore.model.triage import TriageModel

        TriageModel.from_config(value)  # raises with the names and signs allowed
        return value


class ScoringSettings(_Frozen):
    """What the shown probabilities mean on this platform."""

    base_rate: float = Field(0.05, gt=0, lt=1)


class TrainingSettings(_Frozen):
    """Splits and evaluation."""

    test_fraction: float = Field(0.25, gt=0, lt=1)
    calibration: Literal["auto", "sigmoid", "isotonic", "temperature"] = "auto"
    random_state: int = 0
    review_budget_per_day: int = Field(50, ge=1)
    segment_min_count: int = Field(20, ge=1)


class TrackingSettings(_Frozen):
    """Where runs and models go (MLFLOW_TRACKING_URI overrides store_dir)."""

    store_dir: str = "mlruns"
    experiment: str = "slopscore"
    model_name: str = "slopscore-scorer"
    alias: str = "champion"  # what the daily job loads; moved only by `slopscore promote`
    candidate_alias: str = "candidate"  # what `slopscore train` points at its new version


class BatchSettings(_Frozen):
    """The batch scoring job (``slopscore score``)."""

    chunk_rows: int = Field(2048, ge=16, le=1_000_000)
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_actors: int = Field(1, ge=1, le=1024)


class Settings(_Frozen):
    """All settings; each section documents its keys."""

    embedding: EmbeddingSettings = EmbeddingSettings()
    cache: CacheSettings = CacheSettings()
    images: ImageSettings = ImageSettings()
    portfolio: PortfolioSettings = PortfolioSettings()
    triage: TriageSettings = TriageSettings()
    scoring: ScoringSettings = ScoringSettings()
    training: TrainingSettings = TrainingSettings()
    tracking: TrackingSettings = TrackingSettings()
    batch: BatchSettings = BatchSettings()

    def with_backbone(self, backbone: str) -> "Settings":
        """A copy that embeds with ``backbone`` (e.g. the one a trained scorer expects)."""
        return self.model_copy(update={"embedding": self.embedding.model_copy(
            update={"backbone": backbone})})


def load_settings(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings from YAML (or defaults), then apply dotted-key overrides.

    Parameters
    ----------
    path : path-like, optional
        A YAML file; ``$SLOPSCORE_CONFIG`` is used when None and set.
    overrides : mapping, optional
        ``{"embedding.batch_size": 64}``; None values are ignored, so CLI
        options that were not given change nothing.

    Raises
    ------
    ConfigError
        Unreadable YAML, unknown keys, or invalid values (each one named).
    """
    path = path or os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    origin = "defaults"
    if path:
        origin = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping of sections")
        data = loaded or {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"{origin}: {problems}") from None


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted}: {key} is not a section")
    node[leaf] = value


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key} is not a known setting; allowed here: {', '.join(_keys_at(error['loc'][:-1]))}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key} = {error.get('input')!r}: {message}"


def _keys_at(loc: tuple) -> list[str]:
    """Setting names valid in the section at ``loc``."""
    model: type[BaseModel] = Settings
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
