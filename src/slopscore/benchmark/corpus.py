"""Read real-image corpus manifests (``realcorpus`` / ``realdata`` format) into one validated table.

A corpus manifest is a CSV with at least ``file`` (relative to the manifest's folder) and
``label`` (``ai`` or ``human``); ``artist_id``, ``generator``, ``style`` and ``source_repo``
are optional. Rows labelled ``provenance`` (conformance test files) are skipped and
counted; any other label is an error. Every string is untrusted: control characters are
dropped and lengths bounded here, and the outputs escape what they show.

Each file gets a grouping key for splits: its ``artist_id``, else ``repo:<source_repo>``
(files from one repository are alike). ``realcorpus`` names its AI accounts
``ai:<repository>``; those become ``repo:<repository>`` as well, so that the same
repository listed in two manifests (with and without an ``artist_id``) is one group and can
never sit on both sides of a fold.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["SKIPPED_LABELS", "Corpus", "CorpusError", "generator_family", "group_key", "read_corpus"]

LABELS = ("ai", "human")
#: Labels whose rows are not benchmark material (realdata's C2PA conformance files).
SKIPPED_LABELS = frozenset({"provenance"})
MAX_TEXT = 120
MAX_FILE = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_VARIANT = re.compile(r"\s*\([^()]*\)\s*$")
COLUMNS = ("corpus_index", "path", "file", "manifest", "label", "is_ai", "group", "style",
           "generator", "family", "source_repo", "sha256")


class CorpusError(ValueError):
    """A corpus manifest that cannot be used; the message names the file, row and value."""


@dataclass
class Corpus:
    """Every usable file of the given manifests, one row each, in manifest order.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns :data:`COLUMNS`: ``path`` (absolute), ``file`` (as given, cleaned),
        ``label`` (``ai``/``human``), ``is_ai`` (bool), ``group`` (grouping key), ``style``
        (or ``unknown``), ``generator`` (AI: the column or ``unknown``; human: empty),
        ``family`` (:func:`generator_family`), ``sha256`` (of the bytes, computed here).
    skipped : dict of str to int
        Rows left out and why (``label provenance``, ``duplicate content``).
    digest : str
        sha256 over the files' content hashes and labels, in a canonical order.
    """

    frame: pd.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)
    digest: str = ""

    def without(self, hashes, reason: str) -> "Corpus":
        """A copy without the files whose sha256 is in ``hashes`` (counted under ``reason``), renumbered."""
        keep = ~self.frame["sha256"].isin(set(hashes))
        frame = self.frame[keep].reset_index(drop=True).assign(corpus_index=lambda f: range(len(f)))
        skipped = {**self.skipped, reason: self.skipped.get(reason, 0) + int((~keep).sum())}
        return Corpus(frame, skipped, _digest(frame))

    def counts(self) -> dict[str, int]:
        """Files, AI files, human files, groups and styles, for reports."""
        frame = self.frame
        return {"files": len(frame), "ai": int(frame["is_ai"].sum()), "human": int((~frame["is_ai"]).sum()),
                "groups": int(frame["group"].nunique()), "styles": int(frame["style"].nunique()),
                "generator families": int(frame.loc[frame["is_ai"], "family"].nunique())}


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` as a printable, stripped string of at most ``limit`` characters."""
    text = "" if value is None else str(value)
    return _CONTROL.sub("", text).strip()[:limit]


def group_key(artist_id: str, source_repo: str, file: str) -> str:
    """The grouping key for splits (see the module docstring); the file itself when nothing is known."""
    if artist_id and not (source_repo and artist_id == f"ai:{source_repo}"):
        return artist_id
    if source_repo:
        return f"repo:{source_repo}"
    return f"file:{file}"


def generator_family(generator: str) -> str:
    """A generator name without its parenthesised variant: ``FLUX.1 (Chroma)`` -> ``FLUX.1``.

    Variants of one family stay together in the unseen-generator folds; ``unknown`` stays
    ``unknown`` (and is never held out as a family of its own).
    """
    return _VARIANT.sub("", generator).strip() or generator


def read_corpus(manifests: Sequence[str | os.PathLike[str]]) -> Corpus:
    """Read and validate corpus manifests; the same content listed twice is used once.

    Raises
    ------
    CorpusError
        A manifest that is missing or not CSV, lacks ``file`` or ``label``, has a row with
        an unknown label, a ``file`` that escapes the manifest's folder or does not exist;
        or no usable row at all.
    """
    if not manifests:
        raise CorpusError("no corpus manifest given")
    rows: list[dict] = []
    skipped: dict[str, int] = {}
    seen: dict[str, str] = {}
    for manifest in manifests:
        for row in _read_one(Path(manifest), skipped):
            if row["sha256"] in seen:
                skipped["duplicate content"] = skipped.get("duplicate content", 0) + 1
                continue
            seen[row["sha256"]] = row["path"]
            rows.append(row)
    if not rows:
        raise CorpusError(f"no row labelled ai or human in {', '.join(str(m) for m in manifests)}")
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "corpus_index"])
    frame.insert(0, "corpus_index", range(len(frame)))
    return Corpus(frame, skipped, _digest(frame))


def _read_one(manifest: Path, skipped: dict[str, int]) -> list[dict]:
    if not manifest.is_file():
        raise CorpusError(f"corpus manifest {manifest} does not exist")
    if manifest.suffix.lower() != ".csv":
        raise CorpusError(f"corpus manifest {manifest.name}: expected a .csv file")
    folder = manifest.resolve().parent
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("file", "label") if c not in (reader.fieldnames or [])]
            if missing:
                raise CorpusError(f"corpus manifest {manifest.name} lacks column(s) {missing}; "
                                  "required: file, label (ai|human)")
            records = list(reader)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CorpusError(f"corpus manifest {manifest.name} is not readable CSV: {exc}") from None
    rows = []
    for number, record in enumerate(records, start=2):
        where = f"{manifest.name} row {number}"
        if None in record:
            raise CorpusError(f"{where}: more fields than the header")
        label = clean_text(record.get("label"), 40).lower()
        if label in SKIPPED_LABELS:
            skipped[f"label {label}"] = skipped.get(f"label {label}", 0) + 1
            continue
        if label not in LABELS:
            raise CorpusError(f"{where}: label {label!r} is not one of {list(LABELS)} "
                              f"(rows labelled {sorted(SKIPPED_LABELS)} are skipped)")
        rows.append(_row(record, label, folder, manifest.name, where))
    return rows


def _row(record: dict, label: str, folder: Path, manifest: str, where: str) -> dict:
    file = _checked_file(record.get("file"), where)
    path = (folder / file).resolve()
    if not path.is_relative_to(folder):
        raise CorpusError(f"{where}: file {file!r} lies outside the manifest's folder {folder}")
    if not path.is_file():
        raise CorpusError(f"{where}: file {file!r} does not exist")
    artist_id, source_repo = clean_text(record.get("artist_id")), clean_text(record.get("source_repo"))
    generator = (clean_text(record.get("generator")) or "unknown") if label == "ai" else ""
    return {
        "path": str(path), "file": file, "manifest": manifest, "label": label, "is_ai": label == "ai",
        "group": group_key(artist_id, source_repo, file),
        "style": clean_text(record.get("style"), 40).lower() or "unknown",
        "generator": generator, "family": generator_family(generator) if generator else "",
        "source_repo": source_repo, "sha256": _sha256(path),
    }


def _checked_file(value: object, where: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise CorpusError(f"{where}: file is empty")
    if len(text) > MAX_FILE or _CONTROL.search(text):
        raise CorpusError(f"{where}: file name is too long or contains control characters")
    if os.path.isabs(text) or "://" in text:
        raise CorpusError(f"{where}: file {text[:80]!r} must be relative to the manifest's folder")
    return text


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _digest(frame: pd.DataFrame) -> str:
    hasher = hashlib.sha256()
    for sha, label in sorted(zip(frame["sha256"], frame["label"])):
        hasher.update(f"{sha}\t{label}\n".encode())
    return hasher.hexdigest()
