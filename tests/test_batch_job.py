"""The batch job: chunked artist groups and the Ray engine give the same scores as one pass."""

from __future__ import annotations

import json
import resource
import signal

import numpy as np
import pandas as pd
import pytest

from slopscore.batch.score_job import run_batch_job
from slopscore.batch.score_output import ScoreWriter, StorageUnavailableError, read_scores


def _settings(settings, tmp_path, name, **batch):
    return settings.model_copy(update={
        "cache": settings.cache.model_copy(update={"dir": str(tmp_path / name)}),
        "batch": settings.batch.model_copy(update=batch),
    })


def _assert_same_scores(first: pd.DataFrame, second: pd.DataFrame) -> None:
    first, second = (f.sort_values("item_id").reset_index(drop=True) for f in (first, second))
    assert list(first["item_id"]) == list(second["item_id"])
    assert list(first["status"]) == list(second["status"])
    np.testing.assert_allclose(first["triage_score"].to_numpy(float),
                               second["triage_score"].to_numpy(float), atol=1e-5)
    np.testing.assert_allclose(first["p_ai"].to_numpy(float), second["p_ai"].to_numpy(float),
                               atol=1e-5)
    for column in ("cross_account_posters", "portfolio_size", "cold_start"):
        assert list(first[column]) == list(second[column]), column
    assert [json.loads(n) != [] for n in first["nearest_works"]] == \
        [json.loads(n) != [] for n in second["nearest_works"]]


def test_small_chunks_score_exactly_like_one_chunk(trained, tmp_path):
    platform, settings, outcome, _ = trained
    whole = run_batch_job(outcome.scorer, platform.new_uploads, tmp_path / "whole.parquet",
                          _settings(settings, tmp_path, "a", chunk_rows=100_000),
                          history=platform.history)
    chunked = run_batch_job(outcome.scorer, platform.new_uploads, tmp_path / "chunked.csv",
                            _settings(settings, tmp_path, "b", chunk_rows=16),
                            history=platform.history)
    n_new = len(pd.read_csv(platform.new_uploads))
    assert whole.n_input == chunked.n_input == n_new == whole.n_scored + whole.n_skipped
    assert chunked.n_history == whole.n_history > 0
    _assert_same_scores(read_scores(tmp_path / "whole.parquet"), read_scores(tmp_path / "chunked.csv"))
    top = read_scores(tmp_path / "whole.parquet").head(len(whole.top))
    assert list(whole.top["item_id"]) == list(top["item_id"])  # the summary's top rows are the best


@pytest.mark.slow
def test_ray_engine_matches_the_local_engine(trained, tmp_path):
    import ray

    from slopscore.batch.ray_engine import RayFileAnalyser

    platform, settings, outcome, _ = trained
    local = run_batch_job(outcome.scorer, platform.new_uploads, tmp_path / "local.parquet",
                          _settings(settings, tmp_path, "local"), history=platform.history)
    ray_settings = _settings(settings, tmp_path, "ray", engine="ray", chunk_rows=64)
    analyser = RayFileAnalyser.start(ray_settings, outcome.scorer)
    try:
        distributed = run_batch_job(outcome.scorer, platform.new_uploads, tmp_path / "ray.parquet",
                                    ray_settings, history=platform.history, analyser=analyser)
    finally:
        ray.shutdown()
    assert distributed.engine == "ray" and local.engine == "local"
    assert (distributed.n_input, distributed.n_scored, distributed.n_encoded) == \
        (local.n_input, local.n_scored, local.n_encoded)
    _assert_same_scores(read_scores(tmp_path / "local.parquet"), read_scores(tmp_path / "ray.parquet"))


def test_reposts_across_accounts_are_counted_for_new_uploads(trained, tmp_path):
    platform, settings, outcome, _ = trained
    run_batch_job(outcome.scorer, platform.new_uploads, tmp_path / "s.parquet",
                  _settings(settings, tmp_path, "c"), history=platform.history)
    scores = read_scores(tmp_path / "s.parquet")
    reposted = scores[scores["cross_account_posters"] > 0]
    assert len(reposted) >= 2  # the synthetic protest image, posted by several accounts
    assert all("other account" in " ".join(json.loads(r)) for r in reposted["reasons"])


def test_progress_reaches_each_pass_total(trained, tmp_path):
    platform, settings, outcome, _ = trained
    bars = {}

    def progress(description, total):
        bars[description] = [total, 0]

        def advance(n):
            bars[description][1] += n
        return advance

    summary = run_batch_job(outcome.scorer, platform.new_uploads, tmp_path / "s.parquet",
                            _settings(settings, tmp_path, "p", chunk_rows=16),
                            history=platform.history, progress=progress)
    read_total, read_done = bars["reading and embedding"]
    assert read_total == read_done == len(pd.read_csv(platform.new_uploads)) + \
        len(pd.read_csv(platform.history))
    assert bars["scoring"] == [summary.n_input, summary.n_input]


@pytest.mark.parametrize("name", ["scores.parquet", "scores.csv"])
def test_a_write_that_fails_leaves_the_earlier_output_as_it_was_and_no_partial_file(tmp_path, name):
    """Files may grow to 256 KiB only (RLIMIT_FSIZE, as a full disk) while 1.5 MB are written."""
    out = tmp_path / name
    out.write_bytes(b"a complete earlier output")
    rng = np.random.default_rng(0)  # incompressible titles
    chunk = pd.DataFrame({"item_id": [f"i{i}" for i in range(5000)],
                          "title": [rng.bytes(150).hex() for _ in range(5000)]})
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
    try:
        with pytest.raises(StorageUnavailableError, match=f"cannot write output file .*{name}: "):
            with ScoreWriter(out) as writer:
                writer.write(chunk)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert out.read_bytes() == b"a complete earlier output" and not writer.partial.exists()
