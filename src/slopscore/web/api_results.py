"""What the API answers for each upload: its scores and reasons, or a typed error.

The models also document the responses in the OpenAPI schema (``/docs``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from slopscore.web.api_uploads import UploadError

__all__ = ["BatchResponse", "ItemError", "ItemResult", "Portfolio", "error_result", "item_result"]


class ItemError(BaseModel):
    """Why an upload was not scored."""

    type: str = Field(description="corrupt, truncated, not_an_image, too_large, empty, invalid_field, "
                                  "missing_file, duplicate_item_id, ...")
    detail: str


class Portfolio(BaseModel):
    """The upload against the artist's own earlier works (from the queue's ``artworks``)."""

    portfolio_size: int | None = Field(None, description="earlier accepted works compared with")
    cold_start: bool | None = Field(None, description="too few earlier works for a distance")
    centroid_z: float | None = Field(None, description="distance from the artist's earlier works in units of "
                                                       "their own spread; higher = less like them")
    near_duplicates: float | None = Field(None, description="near-identical recent uploads by the artist")
    cross_account_posters: int | None = Field(None, description="other accounts with a near-identical image "
                                                                "(reposts; never AI evidence)")
    nearest_works: list[dict] = Field(default_factory=list, description="most similar earlier works "
                                                                         "(item_id, cosine similarity)")


class ItemResult(BaseModel):
    """One upload's result: scored (``status`` ``scored``) or not (``error`` says why)."""

    item_id: str | None
    artist_id: str | None = None
    status: str = Field(description="scored, or error")
    p_ai: float | None = Field(None, description="calibrated chance the image is AI-generated, in [0, 1], "
                                                 "for the model's base rate")
    triage_score: float | None = Field(None, description="estimated chance a reviewer confirms a policy "
                                                         "concern, in [0, 1]; higher = review sooner")
    reasons: list[str] = Field(default_factory=list, description="what moved the score most, in words")
    provenance_reasons: list[str] = Field(default_factory=list, description="what the file says about its origin")
    provenance_findings: list[str] = Field(default_factory=list,
                                           description="typed problems in the file's metadata")
    warnings: list[str] = Field(default_factory=list, description="what was cut or doubted in the metadata")
    breakdown: dict[str, float] = Field(default_factory=dict,
                                        description="each signal's contribution to the score's log-odds")
    portfolio: Portfolio | None = None
    declared_ai: bool | None = None
    has_process_notes: bool | None = None
    file_type: str | None = None
    model_version: str | None = None
    backbone_id: str | None = None
    queued: bool = Field(False, description="written to the review queue")
    error: ItemError | None = None


class BatchResponse(BaseModel):
    """One entry per upload, in the request's order."""

    model_version: str
    items: list[ItemResult]


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _plain(value: Any):
    """None for pandas' missing values, else a plain Python value."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _json(value: Any, default):
    value = _plain(value)
    if not isinstance(value, str):
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def item_result(row: dict) -> ItemResult:
    """An output row of the scorer (``slopscore score``'s columns) as the API's answer."""
    scored = row.get("status") == "embedded"
    common = {"item_id": row.get("item_id"), "artist_id": _plain(row.get("artist_id")),
              "warnings": _json(row.get("warnings"), []), "model_version": _plain(row.get("model_version")),
              "backbone_id": _plain(row.get("backbone_id")), "queued": bool(row.get("queued", False)),
              "provenance_reasons": _json(row.get("provenance_reasons"), []),
              "provenance_findings": _json(row.get("provenance_findings"), []),
              "declared_ai": _plain(row.get("declared_ai")), "has_process_notes": _plain(row.get("has_process_notes")),
              "file_type": _plain(row.get("file_type"))}
    if not scored:
        error = ItemError(type=_plain(row.get("skip_reason")) or "unknown",
                          detail=_plain(row.get("skip_detail")) or "the file could not be scored")
        return ItemResult(status="error", error=error, **common)
    size = _plain(row.get("portfolio_size"))
    posters = _plain(row.get("cross_account_posters"))
    portfolio = Portfolio(
        portfolio_size=None if size is None else int(size), cold_start=_plain(row.get("cold_start")),
        centroid_z=_number(_plain(row.get("centroid_z"))), near_duplicates=_number(_plain(row.get("near_duplicates"))),
        cross_account_posters=None if posters is None else int(posters),
        nearest_works=_json(row.get("nearest_works"), []))
    return ItemResult(status="scored", p_ai=_number(row.get("p_ai")), triage_score=_number(row.get("triage_score")),
                      reasons=_json(row.get("reasons"), []), breakdown=_json(row.get("breakdown"), {}),
                      portfolio=portfolio, **common)


def error_result(error: UploadError, model_version: str) -> ItemResult:
    """The answer for an upload refused before scoring (bad metadata, too large...)."""
    return ItemResult(item_id=error.item_id, status="error", model_version=model_version,
                      error=ItemError(type=error.type, detail=error.detail))
