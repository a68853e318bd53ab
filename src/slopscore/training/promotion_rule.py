"""The rule ``slopscore promote --if-better`` applies, in words (light to import: the CLI's help
shows it). :mod:`slopscore.training.promotion` implements it."""

from __future__ import annotations

__all__ = ["MIN_ITEMS", "RULE"]

#: Fewest items of a class a check is made from (:data:`slopscore.evaluation.estimates.MIN_COUNT`).
MIN_ITEMS = 20

RULE = ("the candidate is not worse when, on the same labelled manifest and each at its own review "
        "threshold, its triage AUROC is not below the champion's 95% lower bound, its detection rate "
        "(confirmed AI slop flagged) is not below the champion's 95% lower bound, and its false-positive "
        "rate on human work is not above the champion's 95% upper bound; a check on fewer than "
        f"{MIN_ITEMS} items of a class fails")
