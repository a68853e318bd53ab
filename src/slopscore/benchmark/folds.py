"""The benchmark's folds: which corpus files train a scorer and which are timelines to score.

Two kinds, reported separately:

- **seen generators**: grouped K-fold over the grouping key (no group on both sides), the
  groups spread so that every fold's test side holds both AI and human files;
- **unseen generator**: leave one generator family out. The test side holds every file of
  that family and the human files of one seen-generators fold; the training side holds the
  other human groups and the AI files of other families. A group with any file on the test
  side is kept off the training side entirely (its other files are left out of that fold),
  and AI files of unknown family are left out of these folds (they might be the held-out one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

__all__ = ["SEEN", "UNSEEN", "Fold", "FoldError", "seen_generator_folds", "unseen_generator_folds"]

SEEN = "seen generators"
UNSEEN = "unseen generator"
#: A generator family needs this many AI files to be held out as a fold of its own.
MIN_FAMILY_FILES = 10


class FoldError(ValueError):
    """The corpus cannot be split as asked (too few groups of a class)."""


@dataclass(frozen=True)
class Fold:
    """One split of the corpus.

    Attributes
    ----------
    fold_id : str
        Safe identifier: ``seen-1`` ... or ``unseen-1`` ...
    kind : str
        :data:`SEEN` or :data:`UNSEEN`.
    train, test : ndarray of int
        Positions in the corpus frame; disjoint, and no group has files on both.
    held_out_family : str
        The unseen generator family ('' for seen-generators folds).
    """

    fold_id: str
    kind: str
    train: np.ndarray
    test: np.ndarray
    held_out_family: str = ""

    @property
    def title(self) -> str:
        return f"{self.fold_id} (held out: {self.held_out_family})" if self.held_out_family else self.fold_id


def _fold_of_group(frame: pd.DataFrame, n_folds: int, seed: int) -> dict[str, int]:
    """Each group's seen-generators fold (0-based): stratified by class, grouped by key."""
    groups = frame["group"].to_numpy()
    y = frame["is_ai"].to_numpy(dtype=int)
    for label, name in ((1, "AI"), (0, "human")):
        n_groups = len(np.unique(groups[y == label]))
        if n_groups < n_folds:
            raise FoldError(f"{n_folds} folds need at least {n_folds} groups with {name} files; "
                            f"the corpus has {n_groups}")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    assignment: dict[str, int] = {}
    for number, (_, test) in enumerate(splitter.split(groups, y, groups)):
        assignment.update({g: number for g in np.unique(groups[test])})
    return assignment


def seen_generator_folds(frame: pd.DataFrame, n_folds: int, seed: int) -> list[Fold]:
    """Grouped K-fold whose every test side holds both classes.

    Raises
    ------
    FoldError
        Fewer groups of a class than folds, or no seeded assignment (of 50 tried) that puts
        both classes on every test side.
    """
    if n_folds < 2:
        raise FoldError(f"need at least 2 folds, got {n_folds}")
    for attempt in range(50):
        assignment = _fold_of_group(frame, n_folds, seed + attempt)
        fold = frame["group"].map(assignment).to_numpy()
        if all(frame.loc[fold == k, "is_ai"].nunique() == 2 for k in range(n_folds)):
            positions = np.arange(len(frame))
            return [Fold(f"seen-{k + 1}", SEEN, positions[fold != k], positions[fold == k])
                    for k in range(n_folds)]
    raise FoldError(f"no grouping of the corpus into {n_folds} folds puts AI and human files on "
                    "every test side; use fewer folds or a corpus with more groups")


def unseen_generator_folds(frame: pd.DataFrame, n_folds: int, seed: int,
                           min_family_files: int = MIN_FAMILY_FILES) -> list[Fold]:
    """One fold per generator family with at least ``min_family_files`` AI files.

    Families are taken in decreasing size (ties by name). Humans on the test side are those of
    seen-generators fold ``i mod n_folds`` for the i-th family. A family whose fold would
    lack AI or human files on either side is left out.
    """
    seen = seen_generator_folds(frame, n_folds, seed)
    human_part = np.full(len(frame), -1)
    for number, fold in enumerate(seen):
        human_part[fold.test] = number
    is_ai = frame["is_ai"].to_numpy()
    family = frame["family"].to_numpy()
    groups = frame["group"].to_numpy()
    sizes = frame.loc[is_ai & (frame["family"] != "unknown"), "family"].value_counts()
    families = sorted((f for f, n in sizes.items() if n >= min_family_files), key=lambda f: (-sizes[f], f))
    folds = []
    for number, held_out in enumerate(families):
        part = number % n_folds
        test_ai = is_ai & (family == held_out)
        test_human = ~is_ai & (human_part == part)
        on_test = np.isin(groups, np.unique(groups[test_ai | test_human]))
        train = ~on_test & (~is_ai | (family != "unknown"))
        test = test_ai | test_human
        sides = [is_ai[train], is_ai[test]]
        if not all(side.any() and (~side).any() for side in sides):
            continue
        positions = np.arange(len(frame))
        folds.append(Fold(f"unseen-{len(folds) + 1}", UNSEEN, positions[train], positions[test], held_out))
    return folds
