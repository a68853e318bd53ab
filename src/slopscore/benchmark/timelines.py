"""Simulated platform timelines built from real files: who uploads what, and when.

Each scenario turns one fold's test side into accounts with a history (earlier, accepted
works) and new uploads (the ones scored). Everything is seeded and deterministic; a file is
used at most once per scenario, so reposts across accounts happen only where a scenario
means them (``protest``). The scenarios and their sizes are fixed here, not fitted to any
corpus. New uploads go to the scorer unlabelled, as a platform's new uploads are; the true
label stays with the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from slopscore.media.manifest import Label, ManifestRow

__all__ = ["HUMAN_ONLY", "SCENARIOS", "T0", "Upload", "build_scenario", "manifest_rows"]

#: "Today" on the simulated platform; history lies before it.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
ESTABLISHED_MIN_WORKS = 8
HISTORY_WORKS = 5
ECLECTIC_ACCOUNTS, ECLECTIC_STYLES, ECLECTIC_PER_STYLE = 4, 3, 3
BACKLOG_MIN, BACKLOG_MAX = 10, 30
BURST_MIN, BURST_MAX = 5, 12
DECLARED_PER_ACCOUNT = 3
PROTEST_ACCOUNTS, PROTEST_MIN_ACCOUNTS = 8, 3

SCENARIOS: dict[str, str] = {
    "established": f"human artists with real portfolios (groups with >= {ESTABLISHED_MIN_WORKS} works): "
                   "earlier works are history, uploaded 1-3 weeks apart; the rest are new uploads "
                   "at the same cadence",
    "eclectic": f"synthetic human accounts whose works span >= {ECLECTIC_STYLES} styles, drawn from "
                "several groups' files: history and new uploads, 1-3 weeks apart",
    "backlog": f"a new human account with no history uploading {BACKLOG_MIN}-{BACKLOG_MAX} human works "
               "within one hour (one artist's files where a group has enough, else pooled)",
    "ai_burst": f"AI-only accounts, one per AI group, posting bursts of {BURST_MIN}-{BURST_MAX} generator "
                "outputs within an hour, bursts days apart (as-is files keep their metadata)",
    "human_one_ai": "an established human artist who posts one AI piece (ai_slop) among their own "
                    "new works",
    "ai_assisted_declared": f"accounts with a human history of >= {HISTORY_WORKS} works uploading "
                            f"{DECLARED_PER_ACCOUNT} AI works declared as AI-assisted with process "
                            "notes (allowed by the policy: not a concern for triage, AI for the detector)",
    "protest": f"one human image reposted by up to {PROTEST_ACCOUNTS} human accounts, each with its own "
               f"history of {HISTORY_WORKS} works (label human)",
}
#: Scenarios whose new uploads are all human works (measured for false positives).
HUMAN_ONLY = ("established", "eclectic", "backlog", "protest")


@dataclass(frozen=True)
class Upload:
    """One row of a timeline.

    Attributes
    ----------
    corpus_index : int
        Row of the corpus frame (the file).
    account : str
        Generated account id (safe text), unique within the scenario.
    uploaded_at : datetime
    new : bool
        True for a new upload (scored), False for history (context only).
    label : Label
        The truth: ``human``, ``ai_slop`` or ``ai_assisted``.
    declared : bool
        The member declared AI use and gave process notes.
    """

    corpus_index: int
    account: str
    uploaded_at: datetime
    new: bool
    label: Label = Label.HUMAN
    declared: bool = False


def _grouped(humans: pd.DataFrame, rng: np.random.Generator) -> list[tuple[str, list[int]]]:
    """(group, shuffled corpus indices) per group, groups in name order."""
    return [(str(group), [int(i) for i in rng.permutation(rows["corpus_index"].to_numpy())])
            for group, rows in sorted(humans.groupby("group"), key=lambda item: str(item[0]))]


def _cadence(rng: np.random.Generator, n: int, start: datetime) -> list[datetime]:
    """``n`` upload times 1-3 weeks apart from ``start``."""
    gaps = rng.uniform(7, 21, n) * 86400
    gaps[0] = rng.uniform(0, 86400)
    return [start + timedelta(seconds=float(s)) for s in np.cumsum(gaps)]


def _within_hour(rng: np.random.Generator, n: int, start: datetime) -> list[datetime]:
    return [start + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 3599, n))]


def _portfolio(rng: np.random.Generator, works: Sequence[int], account: str, n_new: int) -> list[Upload]:
    """History then new uploads at one cadence; the new ones start around :data:`T0`."""
    n_history = len(works) - n_new
    times = _cadence(rng, len(works), T0 - timedelta(days=14 * n_history))
    return [Upload(w, account, t, i >= n_history) for i, (w, t) in enumerate(zip(works, times))]


def _history(rng: np.random.Generator, works: Sequence[int], account: str) -> list[Upload]:
    return _portfolio(rng, works, account, 0)


def _established_works(humans: pd.DataFrame, rng: np.random.Generator) -> list[tuple[str, list[int]]]:
    return [(g, w) for g, w in _grouped(humans, rng) if len(w) >= ESTABLISHED_MIN_WORKS]


def _n_new(n: int) -> int:
    return max(2, 2 * n // 5)


def _established(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    uploads = []
    for k, (_, works) in enumerate(_established_works(humans, rng)):
        uploads += _portfolio(rng, works, f"est-{k + 1:02d}", _n_new(len(works)))
    return uploads


def _human_one_ai(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    pieces = [int(i) for i in rng.permutation(ai["corpus_index"].to_numpy())]
    uploads = []
    for k, ((_, works), piece) in enumerate(zip(_established_works(humans, rng), pieces)):
        own = _portfolio(rng, works, f"one-ai-{k + 1:02d}", _n_new(len(works)))
        new_times = [u.uploaded_at for u in own if u.new]
        when = new_times[0] + (new_times[-1] - new_times[0]) * float(rng.uniform(0.1, 0.9))
        uploads += own + [Upload(piece, own[0].account, when, True, Label.AI_SLOP)]
    return uploads


def _ai_assisted_declared(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    pieces = [int(i) for i in rng.permutation(ai["corpus_index"].to_numpy())]
    uploads = []
    for k, (_, works) in enumerate(g for g in _grouped(humans, rng) if len(g[1]) >= HISTORY_WORKS):
        chosen, pieces = pieces[:DECLARED_PER_ACCOUNT], pieces[DECLARED_PER_ACCOUNT:]
        if not chosen:
            break
        account = f"declared-{k + 1:02d}"
        history = _history(rng, works[:12], account)
        times = _cadence(rng, len(chosen) + 1, history[-1].uploaded_at)[1:]
        uploads += history + [Upload(p, account, t, True, Label.AI_ASSISTED, declared=True)
                              for p, t in zip(chosen, times)]
    return uploads


def _eclectic(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    pools = {style: [int(i) for i in rng.permutation(rows["corpus_index"].to_numpy())]
             for style, rows in sorted(humans.groupby("style"), key=lambda item: str(item[0]))}
    uploads = []
    for k in range(ECLECTIC_ACCOUNTS):
        available = sorted((s for s in pools if pools[s]), key=lambda s: (-len(pools[s]), s))
        if len(available) < ECLECTIC_STYLES:
            break
        works = []
        for style in available[:ECLECTIC_STYLES]:
            works += pools[style][:ECLECTIC_PER_STYLE]
            pools[style] = pools[style][ECLECTIC_PER_STYLE:]
        works = [int(w) for w in rng.permutation(works)]
        uploads += _portfolio(rng, works, f"eclectic-{k + 1:02d}", max(2, len(works) // 3))
    return uploads


def _backlog(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    accounts, pool = [], []
    for _, works in _grouped(humans, rng):
        if len(works) >= BACKLOG_MIN:
            accounts.append(works[:BACKLOG_MAX])
            pool += works[BACKLOG_MAX:]
        else:
            pool += works
    pool = [int(i) for i in rng.permutation(pool)]
    while len(pool) >= BACKLOG_MIN:
        size = int(rng.integers(BACKLOG_MIN, BACKLOG_MAX + 1))
        accounts.append(pool[:size])
        pool = pool[size:]
    uploads = []
    for k, works in enumerate(accounts):
        start = T0 + timedelta(hours=float(rng.uniform(0, 20)))
        uploads += [Upload(w, f"backlog-{k + 1:02d}", t, True)
                    for w, t in zip(works, _within_hour(rng, len(works), start))]
    return uploads


def _ai_burst(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    uploads = []
    for k, (_, works) in enumerate(_grouped(ai, rng)):
        start = T0 - timedelta(days=30)
        while works:
            size = int(rng.integers(BURST_MIN, BURST_MAX + 1))
            burst, works = works[:size], works[size:]
            uploads += [Upload(w, f"ai-{k + 1:02d}", t, True, Label.AI_SLOP)
                        for w, t in zip(burst, _within_hour(rng, len(burst), start))]
            start += timedelta(days=float(rng.uniform(1, 7)))
    return uploads


def _protest(humans: pd.DataFrame, ai: pd.DataFrame, rng: np.random.Generator) -> list[Upload]:
    if humans.empty:
        return []
    image = int(rng.choice(humans["corpus_index"].to_numpy()))
    histories, pool = [], []
    for _, works in _grouped(humans[humans["corpus_index"] != image], rng):
        while len(works) >= HISTORY_WORKS and len(histories) < PROTEST_ACCOUNTS:
            histories.append(works[:HISTORY_WORKS])
            works = works[HISTORY_WORKS:]
        pool += works
    pool = [int(i) for i in rng.permutation(pool)]
    while len(pool) >= HISTORY_WORKS and len(histories) < PROTEST_ACCOUNTS:
        histories.append(pool[:HISTORY_WORKS])
        pool = pool[HISTORY_WORKS:]
    if len(histories) < PROTEST_MIN_ACCOUNTS:
        return []
    uploads = []
    for k, works in enumerate(histories):
        account = f"protest-{k + 1:02d}"
        uploads += _history(rng, works, account)
        uploads.append(Upload(image, account, T0 + timedelta(hours=float(rng.uniform(0, 48))), True))
    return uploads


_BUILDERS: dict[str, Callable[[pd.DataFrame, pd.DataFrame, np.random.Generator], list[Upload]]] = {
    "established": _established, "eclectic": _eclectic, "backlog": _backlog, "ai_burst": _ai_burst,
    "human_one_ai": _human_one_ai, "ai_assisted_declared": _ai_assisted_declared, "protest": _protest,
}


def build_scenario(name: str, test_side: pd.DataFrame, seed: int, fold_number: int) -> list[Upload]:
    """The timeline of scenario ``name`` over one fold's test side (corpus rows).

    Parameters
    ----------
    name : str
        One of :data:`SCENARIOS`.
    test_side : pandas.DataFrame
        Corpus rows (``corpus_index``, ``is_ai``, ``group``, ``style``) of the fold's test side.
    seed, fold_number : int
        Seed the scenario's random choices (the same for every processing of the files).

    Returns
    -------
    list of Upload
        Empty when the test side cannot make the scenario (e.g. no group with enough works).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    rng = np.random.default_rng([seed, fold_number, list(SCENARIOS).index(name)])
    humans, ai = test_side[~test_side["is_ai"]], test_side[test_side["is_ai"]]
    return _BUILDERS[name](humans, ai, rng)


def manifest_rows(uploads: Sequence[Upload], paths: Mapping[int, str], prefix: str) -> list[ManifestRow]:
    """Data-contract rows for :func:`slopscore.batch.feature_pipeline.write_manifest`.

    Item ids are ``{prefix}/{n:04d}`` in timeline order. History rows carry the label
    ``human`` (accepted works); new uploads carry no label, as on a platform.
    """
    rows = []
    for n, upload in enumerate(uploads):
        history_label = None if upload.new else upload.label
        rows.append(ManifestRow(
            item_id=f"{prefix}/{n:04d}", artist_id=upload.account, path=str(paths[upload.corpus_index]),
            uploaded_at=upload.uploaded_at, label=history_label,
            declared_ai=True if upload.declared else None,
            has_process_notes=True if upload.declared else None, row_number=n + 2,
        ))
    return rows
