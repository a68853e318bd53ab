"""What share of uploads are concerns: the base rate the scores assume, and what the queue shows.

Every P(AI) and triage score is stated for a configured base rate, stored with each model
version. Two estimates check it against the platform:

* **EM on every scored upload** (Saerens, Latinne and Decaestecker, 2002): the P(AI) values
  are calibrated for the configured rate, so the share that makes them consistent is an
  estimate of the platform's AI share that needs no labels.
* **Among reviewed items**: the share confirmed. Moderators review the highest scores
  first, so this is the share among *flagged* uploads, an upper bound for the platform.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from slopscore.analytics.render import Section, Table, pct, rate_cells
from slopscore.evaluation.intervals import wilson_interval
from slopscore.model.base_rate import estimate_base_rate

__all__ = ["MIN_ITEMS", "base_rate_section", "base_rate_table"]

#: Fewest scored uploads an EM estimate is made from.
MIN_ITEMS = 50
COLUMNS = ["model_version", "configured", "scored", "em_estimate", "reviewed", "confirmed",
           "confirmed_share", "ci_low", "ci_high", "status"]


def base_rate_table(items: pd.DataFrame, reviewed: pd.DataFrame, configured: dict[str, float | None],
                    min_reviewed: int) -> pd.DataFrame:
    """One row per model version: configured base rate, EM estimate, confirmed share (Wilson 95%)."""
    rows = []
    for version in sorted(set(items["model_version"].dropna()) | set(reviewed["model_version"].dropna())):
        rate = configured.get(version)
        p = pd.to_numeric(items.loc[items["model_version"] == version, "p_ai"], errors="coerce").to_numpy()
        p = p[np.isfinite(p)]
        em = (estimate_base_rate(p, rate).rate
              if rate is not None and math.isfinite(rate) and len(p) >= MIN_ITEMS else float("nan"))
        mine = reviewed[reviewed["model_version"] == version]
        k, n = int(mine["confirmed"].sum()), len(mine)
        low, high = wilson_interval(k, n) if n else (float("nan"), float("nan"))
        rows.append({"model_version": version, "configured": rate, "scored": len(p), "em_estimate": em,
                     "reviewed": n, "confirmed": k, "confirmed_share": k / n if n else float("nan"),
                     "ci_low": low, "ci_high": high, "status": "ok" if n >= min_reviewed else "not_enough_data"})
    return pd.DataFrame(rows, columns=COLUMNS)


def base_rate_section(table: pd.DataFrame) -> Section:
    """The report's section: which base rate the shown percentages assume, and the checks."""
    rows = [[str(r.model_version), pct(r.configured) or "not recorded", str(r.scored),
             pct(r.em_estimate) or f"fewer than {MIN_ITEMS} scored uploads or no configured rate",
             str(r.reviewed), *rate_cells(r.status, r.confirmed_share, r.ci_low, r.ci_high)]
            for r in table.itertuples(index=False)]
    return Section("Base rate: the share of uploads the scores assume are AI", "base-rate", paragraphs=[
        "Every percentage slopscore shows is stated for the configured base rate of its model "
        "version. The EM estimate is the AI share that makes all scored uploads' P(AI) consistent "
        "(no labels needed); if it differs much from the configured rate, set scoring.base_rate to "
        "it and retrain. The confirmed share among reviewed items describes what moderators saw, "
        "the highest scores first: an upper bound, not the platform's rate."],
        tables=[Table(["model version", "configured base rate", "scored uploads", "EM estimate",
                       "reviewed", "confirmed share", "95% interval (Wilson)"], rows)])
