"""Smoke evaluation on ../shared/realdata: effnet-lite0, grouped by source, as-is vs metadata stripped.

The corpus has no artist ids, so a file's group is its name without the last
``__`` part (e.g. ``comfy__flux``, ``compvis__stable-samples__img2img``,
``adain__style``): near-identical renders of one model family, or one repository's
set of style images, stay together. Every prediction comes from a detector trained
on other groups (grouped 5-fold), the "unseen artist" setting. The triage score uses the default weights with each file's own
provenance signals. Everything is computed twice: on the files as they are, and
with all metadata stripped (so the metadata shortcut cannot inflate the numbers).
No threshold here is tuned to this corpus; it is a smoke test, not a benchmark.

    python scripts/realdata_smoke.py [--realdata ../shared/realdata]
"""

from __future__ import annotations

import argparse
import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from slopscore.embedding.backbones import load_backbone
from slopscore.embedding.encoder import ImageEncoder, embed_sources
from slopscore.evaluation.metrics import summarise
from slopscore.media.strip import strip_metadata
from slopscore.model.detector import AIDetector, SplitError
from slopscore.model.scorer import signals_from_frame
from slopscore.model.triage import TriageModel
from slopscore.signals.file_signals import file_signals


def load_corpus(root: Path) -> pd.DataFrame:
    with open(root / "manifest.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["label"] in {"ai", "human"}]
    frame = pd.DataFrame({"path": [str(root / r["file"]) for r in rows],
                          "is_ai": [int(r["label"] == "ai") for r in rows]})
    frame["source"] = frame["path"].map(lambda p: Path(p).name.rsplit("__", 1)[0])
    return frame


def out_of_source_p_ai(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    p = np.full(len(y), np.nan)
    for train, test in GroupKFold(n_splits=5).split(X, y, groups):
        try:
            detector = AIDetector(calibration="sigmoid")
            p[test] = detector.fit(X[train], y[train], groups[train]).predict_ai_probability(X[test])
        except SplitError as exc:
            print(f"  a fold was skipped: {exc}")
    return p


def evaluate(frame: pd.DataFrame, blobs: list[bytes], encoder: ImageEncoder, label: str) -> None:
    vectors = [r.vector for r in embed_sources(blobs, encoder, num_workers=0, batch_size=16)]
    X = np.stack(vectors)
    y = frame["is_ai"].to_numpy()
    p_ai = out_of_source_p_ai(X, y, frame["source"].to_numpy())
    signals = pd.DataFrame([file_signals_from_bytes(b) for b in blobs])
    triage = TriageModel().score(signals_from_frame(signals, p_ai))
    ok = np.isfinite(p_ai)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = summarise(y[ok], p_ai[ok])
        queue = summarise(y[ok], triage[ok])
    print(f"{label:<22} n={int(ok.sum()):>3}  detector AUROC {detector['auroc']:.3f}  "
          f"AP {detector['average_precision']:.3f}  ECE {detector['ece']:.3f}   |  triage AUROC "
          f"{queue['auroc']:.3f}  AP {queue['average_precision']:.3f}  ECE {queue['ece']:.3f}  "
          f"| files declaring AI: {int(signals['file_says_ai'].sum())}")


def file_signals_from_bytes(data: bytes) -> dict:
    import tempfile

    with tempfile.NamedTemporaryFile() as handle:
        handle.write(data)
        handle.flush()
        return file_signals(handle.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata")
    args = parser.parse_args()
    if not (args.realdata / "manifest.csv").is_file():
        raise SystemExit(f"no corpus at {args.realdata}")
    frame = load_corpus(args.realdata)
    print(f"{len(frame)} files ({int(frame.is_ai.sum())} ai, {int((1 - frame.is_ai).sum())} human) "
          f"in {frame.source.nunique()} groups")
    encoder = ImageEncoder(load_backbone("effnet-lite0"), device="cpu", precision="fp32")
    originals = [Path(p).read_bytes() for p in frame["path"]]
    evaluate(frame, originals, encoder, "files as they are")
    evaluate(frame, [strip_metadata(b) for b in originals], encoder, "metadata stripped")


if __name__ == "__main__":
    main()
