"""The real-image benchmark (``slopscore benchmark``) on a small generated corpus with the tiny backbone.

The corpus is drawn here (demo art written as PNG/JPEG, some AI files with SD-WebUI
``parameters`` chunks) in the realcorpus manifest format; the real corpus is only read by
the test marked ``realdata``.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from slopscore.benchmark.corpus import CorpusError, read_corpus
from slopscore.benchmark.folds import UNSEEN, seen_generator_folds, unseen_generator_folds
from slopscore.benchmark.measure import MIN_COUNT, measure
from slopscore.benchmark.processing import MAX_SIDE, PROCESSING_ID, platform_process, processed_copies
from slopscore.benchmark.timelines import SCENARIOS, build_scenario
from slopscore.cli.main import app
from slopscore.demo.generator_art import generator_image, generator_params
from slopscore.demo.human_art import human_image, random_style
from slopscore.evaluation.bootstrap import (
    cluster_weights,
    interval,
    weighted_auroc,
    weighted_average_precision,
    weighted_ece,
    weighted_tpr_at_fpr,
)
from slopscore.evaluation.metrics import detection_rate_at_fpr, summarise
from slopscore.media.manifest import Label
from slopscore.model.scorer import SIGNAL_COLUMNS

REALCORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "realcorpus"
COLUMNS = ["file", "label", "artist_id", "generator", "style", "source_repo"]
SD_PARAMETERS = ("a castle, masterpiece\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
                 "CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15")


def _write_manifest(folder: Path, rows: list[dict], columns=COLUMNS) -> Path:
    path = folder / "manifest.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_corpus(root: Path, seed: int = 0) -> Path:
    """4 named artists x 9 works and one repository of 6, in 5 styles; 34 AI files in 4 repositories."""
    rng = np.random.default_rng(seed)
    (root / "ai").mkdir(parents=True)
    (root / "human").mkdir()
    rows = []
    artists = [("Ann", "strokes", "painting"), ("Bo", "blocks", "pixel"), ("Cy", "hatching", "drawing"),
               ("Di", "airbrush", "digital"), ("", "vector", "vector")]
    for a, (name, mark, style) in enumerate(artists):
        personal = random_style(rng, mark)
        for k in range(9 if name else 6):
            file = f"human/{a}_{k}.jpg"
            human_image(rng, personal).resize((72, 64)).save(root / file, quality=90)
            rows.append({"file": file, "label": "human", "artist_id": name, "style": style,
                         "source_repo": "" if name else "example/humans"})
    repositories = [("ex/sd", ["SD1.x"], 12), ("ex/flux", ["FLUX.1", "FLUX.1 (Chroma)"], 12),
                    ("ex/gan", ["StyleGAN (GAN)"], 6), ("ex/misc", [""], 4)]
    for g, (repo, generators, n) in enumerate(repositories):
        for k in range(n):
            info = PngImagePlugin.PngInfo()
            if k % 3 == 0:
                info.add_text("parameters", SD_PARAMETERS)
            file = f"ai/{g}_{k}.png"
            generator_image(generator_params(rng, (64, 64))).save(root / file, pnginfo=info)
            rows.append({"file": file, "label": "ai", "artist_id": f"ai:{repo}", "style": "digital",
                         "generator": generators[k % len(generators)], "source_repo": repo})
    return _write_manifest(root, rows)


@pytest.fixture(scope="module")
def corpus_manifest(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "corpus")


@pytest.fixture(scope="module")
def corpus(corpus_manifest):
    return read_corpus([corpus_manifest])


# ----------------------------------------------------------------------------- corpus


def test_corpus_reader_groups_styles_and_families(corpus):
    frame = corpus.frame
    assert corpus.counts()["files"] == 76 and int(frame["is_ai"].sum()) == 34
    assert set(frame.loc[frame["is_ai"], "group"]) == {"repo:ex/sd", "repo:ex/flux", "repo:ex/gan", "repo:ex/misc"}
    assert set(frame.loc[~frame["is_ai"], "group"]) == {"Ann", "Bo", "Cy", "Di", "repo:example/humans"}
    assert set(frame.loc[frame["is_ai"], "family"]) == {"SD1.x", "FLUX.1", "StyleGAN", "unknown"}
    assert (frame.loc[~frame["is_ai"], "generator"] == "").all()
    assert frame["sha256"].is_unique and len(corpus.digest) == 64


def _bad(tmp_path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    (tmp_path / "ai").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "ai" / "x.png")
    return _write_manifest(tmp_path, rows, columns)


@pytest.mark.parametrize("rows, columns, message", [
    ([{"label": "ai"}], ["label", "style"], "lacks column(s) ['file']"),
    ([{"file": "ai/x.png", "label": "maybe"}], COLUMNS, "label 'maybe' is not one of"),
    ([{"file": "../outside.png", "label": "ai"}], COLUMNS, "outside the manifest's folder"),
    ([{"file": "/etc/passwd", "label": "human"}], COLUMNS, "must be relative"),
    ([{"file": "ai/gone.png", "label": "ai"}], COLUMNS, "does not exist"),
    ([{"file": "ai/x.png", "label": "provenance"}], COLUMNS, "no row labelled ai or human"),
])
def test_bad_manifests_give_clear_typed_errors(tmp_path, rows, columns, message):
    with pytest.raises(CorpusError, match=None) as error:
        read_corpus([_bad(tmp_path, rows, columns)])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_provenance_rows_are_skipped_and_counted_and_duplicates_used_once(tmp_path):
    manifest = _bad(tmp_path, [{"file": "ai/x.png", "label": "ai"}, {"file": "ai/x.png", "label": "ai"},
                               {"file": "ai/x.png", "label": "provenance"}])
    corpus = read_corpus([manifest])
    assert len(corpus.frame) == 1
    assert corpus.skipped == {"duplicate content": 1, "label provenance": 1}
    assert corpus.frame.loc[0, "generator"] == "unknown" and corpus.frame.loc[0, "style"] == "unknown"


def test_leaving_files_out_renumbers_the_corpus_and_changes_its_digest(corpus):
    dropped = set(corpus.frame["sha256"][:3])
    smaller = corpus.without(dropped, "not decodable")
    assert len(smaller.frame) == len(corpus.frame) - 3 and not set(smaller.frame["sha256"]) & dropped
    assert smaller.frame["corpus_index"].tolist() == list(range(len(smaller.frame)))
    assert smaller.skipped["not decodable"] == 3 and smaller.digest != corpus.digest


# ----------------------------------------------------------------------------- folds


def _groups(frame: pd.DataFrame, positions) -> set:
    return set(frame.iloc[positions]["group"])


def test_seen_generator_folds_keep_groups_apart_and_hold_both_classes(corpus):
    frame = corpus.frame
    folds = seen_generator_folds(frame, 3, seed=1)
    assert sorted(np.concatenate([f.test for f in folds])) == list(range(len(frame)))
    for fold in folds:
        assert not _groups(frame, fold.train) & _groups(frame, fold.test)
        assert frame.iloc[fold.test]["is_ai"].nunique() == 2 and frame.iloc[fold.train]["is_ai"].nunique() == 2


def test_unseen_generator_folds_hold_out_whole_families(corpus):
    frame = corpus.frame
    folds = unseen_generator_folds(frame, 2, seed=0)
    assert {f.held_out_family for f in folds} == {"SD1.x", "FLUX.1"}  # StyleGAN has 6 < 10 files
    for fold in folds:
        train, test = frame.iloc[fold.train], frame.iloc[fold.test]
        family = fold.held_out_family
        assert fold.kind == UNSEEN and not _groups(frame, fold.train) & _groups(frame, fold.test)
        assert set(test.loc[test["is_ai"], "family"]) == {family}
        assert (test["family"] == family).sum() == (frame["family"] == family).sum()
        assert family not in set(train["family"]) and "unknown" not in set(train["family"])
        assert (~test["is_ai"]).any() and (~train["is_ai"]).any()


# ----------------------------------------------------------------------------- timelines


def _by_account(uploads):
    accounts: dict[str, list] = {}
    for upload in uploads:
        accounts.setdefault(upload.account, []).append(upload)
    return accounts


def test_scenarios_are_deterministic_and_reuse_files_only_in_protest(corpus):
    frame = corpus.frame
    for name in SCENARIOS:
        first, again = build_scenario(name, frame, 7, 2), build_scenario(name, frame, 7, 2)
        assert first and first == again, name
        files = [u.corpus_index for u in first]
        if name != "protest":
            assert len(files) == len(set(files)), name
    assert build_scenario("backlog", frame, 7, 2) != build_scenario("backlog", frame, 8, 2)


def test_backlog_is_a_new_account_uploading_10_to_30_works_within_one_hour(corpus):
    accounts = _by_account(build_scenario("backlog", corpus.frame, 0, 0))
    assert accounts
    for uploads in accounts.values():
        times = [u.uploaded_at for u in uploads]
        assert all(u.new and u.label is Label.HUMAN for u in uploads)  # no history at all
        assert 10 <= len(uploads) <= 30 and max(times) - min(times) < timedelta(hours=1)


def test_established_human_one_ai_declared_protest_and_eclectic_timelines(corpus):
    frame = corpus.frame
    styles = dict(zip(frame["corpus_index"], frame["style"]))
    is_ai = dict(zip(frame["corpus_index"], frame["is_ai"]))
    for uploads in _by_account(build_scenario("established", frame, 0, 0)).values():
        times = [u.uploaded_at for u in uploads]
        assert all(b - a >= timedelta(days=7) for a, b in zip(times[1:], times[2:]))
        assert [u.new for u in uploads] == sorted(u.new for u in uploads) and not uploads[0].new
    for uploads in _by_account(build_scenario("human_one_ai", frame, 0, 0)).values():
        ai = [u for u in uploads if is_ai[u.corpus_index]]
        assert len(ai) == 1 and ai[0].new and ai[0].label is Label.AI_SLOP
    for uploads in _by_account(build_scenario("ai_assisted_declared", frame, 0, 0)).values():
        new = [u for u in uploads if u.new]
        assert new and all(u.declared and u.label is Label.AI_ASSISTED and is_ai[u.corpus_index] for u in new)
        assert all(not is_ai[u.corpus_index] for u in uploads if not u.new)
    protest = _by_account(build_scenario("protest", frame, 0, 0))
    posted = {u.corpus_index for uploads in protest.values() for u in uploads if u.new}
    assert len(protest) >= 3 and len(posted) == 1
    for uploads in _by_account(build_scenario("eclectic", frame, 0, 0)).values():
        assert len({styles[u.corpus_index] for u in uploads}) >= 3
    for uploads in _by_account(build_scenario("ai_burst", frame, 0, 0)).values():
        assert all(is_ai[u.corpus_index] and u.label is Label.AI_SLOP and u.new for u in uploads)


# ----------------------------------------------------------------------------- processing


def test_processed_copy_has_no_metadata_is_jpeg_and_at_most_2048_px(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", SD_PARAMETERS)
    source = tmp_path / "big.png"
    rgba = Image.new("RGBA", (3000, 1200), (200, 30, 30, 255))
    rgba.putpixel((5, 5), (0, 0, 0, 0))
    rgba.save(source, pnginfo=info)
    sha = "ab" * 32
    copies, failures = processed_copies([(sha, source)], tmp_path / "cache")
    assert failures == {} and copies[sha] == tmp_path / "cache" / PROCESSING_ID / "ab" / f"{sha}.jpg"
    with Image.open(copies[sha]) as image:
        assert image.format == "JPEG" and max(image.size) <= MAX_SIDE and image.size == (2048, 819)
        assert "parameters" not in image.info and "exif" not in image.info and "icc_profile" not in image.info
        assert not image.getexif() and image.mode == "RGB"
    assert b"parameters" not in copies[sha].read_bytes() and b"Steps: 20" not in copies[sha].read_bytes()
    stamp = copies[sha].stat().st_mtime_ns
    again, _ = processed_copies([(sha, source)], tmp_path / "cache")
    assert again[sha].stat().st_mtime_ns == stamp  # written once, then reused
    small = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(small, "PNG")
    with Image.open(io.BytesIO(platform_process(small.getvalue()))) as image:
        assert image.size == (40, 30)  # never enlarged


def test_an_undecodable_file_is_reported_not_processed(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    copies, failures = processed_copies([("cd" * 32, bad)], tmp_path / "cache")
    assert copies == {} and list(failures) == ["cd" * 32]


# ----------------------------------------------------------------------------- bootstrap and metrics


def test_weighted_kernels_at_unit_weights_agree_with_evaluation_metrics():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    p = np.round(np.clip(0.35 * y + rng.random(300) * 0.65, 0, 1), 2)  # rounded: many ties
    ones = np.ones((1, len(y)))
    summary = summarise(y, p, fprs=(0.01, 0.05))
    assert weighted_auroc(y, p, ones)[0] == pytest.approx(summary["auroc"], abs=1e-12)
    assert weighted_average_precision(y, p, ones)[0] == pytest.approx(summary["average_precision"], abs=1e-12)
    assert weighted_ece(y, p, ones)[0] == pytest.approx(summary["ece"], abs=1e-12)
    for fpr in (0.0, 0.01, 0.05, 0.29, 1.0):
        expected = detection_rate_at_fpr(y, p, fpr).detection_rate
        assert weighted_tpr_at_fpr(y, p, ones, fpr)[0] == pytest.approx(expected, abs=1e-12)


def test_cluster_weights_resample_whole_accounts_within_strata():
    clusters = np.array(["a", "a", "b", "c", "c", "c", "d"])
    strata = np.array([1, 0, 0, 1, 1, 1, 0], dtype=bool)
    weights = cluster_weights(clusters, strata, 200, np.random.default_rng(0))
    assert weights.shape == (200, 7)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 5]).all()
    assert ((weights[:, 0] + weights[:, 3]) == 2).all()  # two accounts with positives, drawn twice
    assert ((weights[:, 2] + weights[:, 6]) == 2).all()


def _synthetic_items(n_accounts: int, per_account: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_accounts):
        ai = a % 2 == 0
        scenario = "ai_burst" if ai else "established"
        centre = rng.normal(0.65 if ai else 0.35, 0.1)
        for k in range(per_account):
            p = float(np.clip(centre + rng.normal(0, 0.15), 0, 1))
            rows.append({"fold": "seen-1", "fold_kind": "seen generators", "processing": "as-is",
                         "scenario": scenario, "account": f"acc-{a}", "style": "painting",
                         "family": "SD1.x" if ai else "", "is_ai": ai, "is_concern": ai, "p_ai": p,
                         "triage_score": float(np.clip(p + rng.normal(0, 0.05), 0, 1))})
    return pd.DataFrame(rows)


def _row(metrics: pd.DataFrame, scenario: str, model: str, metric: str) -> pd.Series:
    chosen = metrics[(metrics["scenario"] == scenario) & (metrics["segment"] == "all")
                     & (metrics["model"] == model) & (metrics["metric"] == metric)]
    assert len(chosen) == 1
    return chosen.iloc[0]


def test_bootstrap_intervals_contain_the_estimate_and_narrow_with_more_data():
    small = measure(_synthetic_items(20), threshold=0.5, n_bootstrap=300, seed=0)
    large = measure(_synthetic_items(200), threshold=0.5, n_bootstrap=300, seed=0)
    for metrics in (small, large):
        ok = metrics[metrics["status"] == "ok"]
        assert len(ok) > 20 and (ok["low"] <= ok["value"]).all() and (ok["value"] <= ok["high"]).all()
    for metric in ("auroc", "ece", "fpr_at_threshold"):
        narrow, wide = _row(large, "all", "detector", metric), _row(small, "all", "detector", metric)
        assert narrow["high"] - narrow["low"] < wide["high"] - wide["low"], metric
    difference = _row(large, "all", "triage - detector", "auroc_difference")
    assert difference["status"] == "ok" and difference["low"] <= difference["value"] <= difference["high"]
    assert interval([0.2, 0.3, 0.4], 0.9)[1] == 0.9  # a biased statistic's interval reaches its estimate


def test_too_few_below_20_positives_or_negatives():
    items = _synthetic_items(2 * MIN_COUNT, per_account=1)
    enough = measure(items, threshold=0.5, n_bootstrap=50)
    row = _row(enough, "all", "detector", "auroc")
    assert (row["status"], row["n_positive"], row["n_negative"]) == ("ok", MIN_COUNT, MIN_COUNT)
    fewer = measure(items.drop(index=[0]), threshold=0.5, n_bootstrap=50)
    short = _row(fewer, "all", "detector", "auroc")
    assert short["status"] == "too few" and np.isnan(short["value"]) and short["n_positive"] == MIN_COUNT - 1
    assert _row(fewer, "all", "detector", "fpr_at_threshold")["status"] == "ok"  # 20 negatives are enough
    # established has no positives of its own: it borrows ai_burst's, and says so
    borrowed = _row(enough, "established", "detector", "auroc")
    assert borrowed["positives"] == "ai_burst (same folds)" and borrowed["n_positive"] == MIN_COUNT
    base_rate = _row(enough, "all", "detector", "ece_at_base_rate")
    assert base_rate["status"] == "too few" and base_rate["n_positive"] == 1  # 5% of 20 negatives' uploads


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def cli_run(corpus_manifest, tmp_path_factory):
    import mlflow

    root = tmp_path_factory.mktemp("benchmark")
    config = root / "settings.yaml"
    config.write_text("embedding:\n  num_workers: 0\n  device: cpu\n  precision: fp32\n")
    args = ["benchmark", str(corpus_manifest), "--out", str(root / "out"), "--backbone", "test:tiny-clip",
            "--config", str(config), "--cache-dir", str(root / "cache"), "--mlflow-store", str(root / "mlruns"),
            "--folds", "2", "--bootstrap", "40", "--seed", "3"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "220"})
    yield result, root
    mlflow.set_tracking_uri(None)


def test_cli_runs_end_to_end_and_every_output_says_simulated_timelines(cli_run):
    result, root = cli_run
    assert result.exit_code == 0, result.output
    out = root / "out"
    assert "detector vs triage" in result.output and "simulated timelines" in result.output
    html = (out / "benchmark.html").read_text()
    assert "Real images, simulated timelines" in html and "data:image/png;base64," in html
    assert "simulated timelines" in (out / "README.txt").read_text()
    assert pq.read_schema(out / "items.parquet").metadata[b"slopscore.benchmark"] == b"real images, simulated timelines"
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"value", "low", "high", "n_positive", "n_negative", "status"} <= set(metrics.columns)
    assert set(metrics["scenario"]) >= set(SCENARIOS) | {"all"}
    assert set(metrics["processing"]) == {"as-is", "processed"}


def test_items_hold_out_of_fold_scores_and_every_feature_the_scorer_reads(cli_run, corpus):
    _, root = cli_run
    items = pd.read_parquet(root / "out" / "items.parquet")
    frame = corpus.frame
    folds = {f.fold_id: f for f in seen_generator_folds(frame, 2, 3) + unseen_generator_folds(frame, 2, 3)}
    for fold_id, rows in items.groupby("fold"):
        assert set(rows["source_sha256"]) <= set(frame.iloc[folds[fold_id].test]["sha256"])
        assert not set(rows["source_group"]) & _groups(frame, folds[fold_id].train)
    assert set(SIGNAL_COLUMNS) <= set(items.columns)
    assert items["p_ai"].between(0, 1).all() and items["triage_score"].between(0, 1).all()
    protest = items[items["scenario"] == "protest"]
    assert (protest["cross_account_posters"] > 0).all()
    processed = items[items["processing"] == "processed"]
    assert not processed["file_says_ai"].any() and items.loc[items["processing"] == "as-is", "file_says_ai"].any()


def test_the_default_weights_script_reproduces_its_fit_and_writes_only_a_better_one(cli_run, tmp_path):
    from slopscore.config import load_settings
    from tests.conftest import REPO

    _, root = cli_run
    script = [sys.executable, str(REPO / "scripts" / "fit_default_triage.py"), str(root / "out")]
    first, second = (subprocess.run(script, capture_output=True, text=True, cwd=REPO) for _ in range(2))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and "  weights:\n" in first.stdout  # the same fit, digit for digit
    config = tmp_path / "default.yaml"
    shutil.copy(REPO / "configs" / "default.yaml", config)
    before = config.read_text()
    written = subprocess.run([*script, "--write", str(config)], capture_output=True, text=True, cwd=REPO)
    assert written.returncode == 0, written.stderr
    block = written.stdout.split("not better")[0].split("wrote the weights")[0]
    if "nothing written" in written.stdout:
        assert config.read_text() == before
    else:
        assert block in config.read_text() and load_settings(config).triage.weights != load_settings().triage.weights


def test_cli_writes_an_mlflow_run_with_the_data_note(cli_run):
    import mlflow

    _, root = cli_run
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["slopscore-benchmark"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["data"] == "real images, simulated timelines" and len(run.data.tags["corpus_digest"]) == 64
    assert run.data.tags["backbone_id"].startswith("test:tiny-clip")
    assert any(name.endswith("/detector/auroc") for name in run.data.metrics)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"benchmark.html", "metrics.csv", "README.txt"} <= artifacts


def test_cli_reports_a_bad_manifest_in_one_line_with_exit_code_2(tmp_path):
    manifest = _bad(tmp_path, [{"file": "ai/x.png", "label": "unsure"}])
    result = CliRunner().invoke(app, ["benchmark", str(manifest), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "error:" in result.output and "label 'unsure'" in result.output


# ----------------------------------------------------------------------------- the real corpus


@pytest.mark.realdata
def test_the_real_corpus_reads_and_groups():
    manifest = REALCORPUS / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"real corpus not found at {REALCORPUS}")
    with open(manifest, newline="") as handle:
        labels = [r["label"] for r in csv.DictReader(handle)]
    corpus = read_corpus([manifest])
    frame = corpus.frame
    assert len(frame) == sum(label in ("ai", "human") for label in labels) - corpus.skipped.get("duplicate content", 0)
    assert not frame["group"].str.startswith("ai:").any()  # AI accounts are their repositories
    assert frame.loc[frame["is_ai"], "family"].nunique() >= 5 and frame["style"].nunique() >= 5
    for fold in seen_generator_folds(frame, 5, 0):
        assert not _groups(frame, fold.train) & _groups(frame, fold.test)
        assert frame.iloc[fold.test]["is_ai"].nunique() == 2
