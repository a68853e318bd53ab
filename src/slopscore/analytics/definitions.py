"""The definitions the analyst report prints at its end (every number's meaning, once)."""

from __future__ import annotations

__all__ = ["DEFINITIONS"]

DEFINITIONS = (
    "Reviewed item: a queue item (one upload scored by one model version) with at least one "
    "moderator decision. Its outcome is the outcome of its latest decision: 'no concern' and "
    "'resolved: clarified' are dismissed; 'notify', 'resolved: replaced' and 'escalate' are "
    "confirmed.",
    "False-positive (dismissal) rate: dismissed / reviewed, from 0% to 100%; lower means fewer "
    "people's work was flagged without a concern. Intervals are Wilson 95% score intervals.",
    "Minimum reviewed items: {min_reviewed}. Below it a rate, calibration or AUROC is reported "
    "as 'not enough data' (empty in the CSV files, with status not_enough_data), never as 0% "
    "or 100%. Counts are always shown.",
    "Week: the ISO week (UTC) of the latest decision. --since keeps reviewed items whose latest "
    "decision is on or after the date, and scored items uploaded (scored, when the upload time "
    "is unknown) on or after it.",
    "Segments: every style/medium tag of the item (tags are ';'-separated and lower-cased; an "
    "item counts once in each of its tags), new (scored in cold start) vs established artist, "
    "portfolio-size band (earlier works: 0, 1–4, 5–19, 20–99, 100+), process notes declared, "
    "and file type. Missing values are 'unknown'.",
    "Calibration: reviewed items only, which the queue selected by score, so it describes the "
    "top of the ranking. Reliability bins are {n_bins} equal-width bins over [0, 1]; a bin with "
    "fewer than {min_count} reviewed items says 'too few' and is not drawn. ECE is "
    "the count-weighted mean |observed confirmed rate - mean score| over bins (0 = calibrated, "
    "lower is better); Brier is the mean squared difference between score and outcome "
    "(lower is better).",
    "Threshold table: a day's queue = scored items with triage score ≥ threshold uploaded that "
    "UTC day (scored, when the upload time is unknown); days run from the first day, or "
    "--since, to the last, days without uploads counting as 0, and are summarised as the "
    "median, 90th percentile and maximum over days. OBSERVED: the confirmed and dismissed "
    "shares among reviewed items scoring ≥ threshold (Wilson 95% intervals; 'not enough data' "
    "below the minimum). MODEL ESTIMATE: the mean triage score of the queued items, the "
    "model's calibrated chance of a confirmation. Expected confirmations (false positives) "
    "per day = the median day's queue × the confirmed (dismissed) share, observed where it "
    "exists, else estimated ('rate used' says which). Band: the 10th and 90th percentile "
    "days' queues × the Wilson 95% bounds of the observed share (per-day variation and the "
    "rate's uncertainty), or × the model estimate (per-day variation only).",
    "Daily review budget: --daily-budget N, else the median number of reviewed items per "
    "day with decisions (UTC day of the latest decision), else the configured "
    "training.review_budget_per_day. The operating threshold is the lowest threshold whose "
    "queue fits the budget on at least 9 days in 10 (90th percentile day ≤ N), over every "
    "distinct score, rounded up to 3 decimals.",
    "Headline false-positive rate: the dismissal rate among reviewed items scoring at or above "
    "the operating threshold (what the model, run at that threshold, wrongly sends to people); "
    "the rate over every reviewed item is shown beside it, labelled.",
    "Score drift: each model version's scored items per ISO week of upload (UTC) against the "
    "reference histogram recorded for it (scores of its held-out evaluation items at training "
    "time); a week needs the minimum number of scored items. Measured as the "
    "population stability index PSI = Σ (current − reference) × ln(current / reference) over "
    "bin shares (empty bins count as 0.0001). 0 = same distribution; rule of thumb: below 0.1 "
    "stable, 0.1–0.25 moderate shift, above 0.25 major shift.",
    "Item links open the item's page on the review app: <queue URL>/items/<queue item id> "
    "(--queue-url sets the app's address).",
    "AUROC: how well the triage score separates confirmed from dismissed reviewed items (0.5 = "
    "chance, 1 = perfect); needs both outcomes and the minimum reviewed items.",
)
