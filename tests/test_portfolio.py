"""Portfolio-consistency features: no leakage from later uploads or other artists,
explicit cold start, agreement with a plain-loop reference, bursts and near-duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from slopscore.signals.portfolio import (
    FEATURE_NAMES,
    PortfolioConfig,
    PortfolioFeatures,
    portfolio_features,
)

HOUR = 3_600
DAY = 24 * HOUR
DISTANCES = ("centroid_distance", "knn_distance", "centroid_z", "knn_z")


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.atleast_2d(np.asarray(rows, np.float64))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def random_platform(seed: int = 0, dim: int = 16) -> dict:
    """Three artists (one with 300 works, so several 128-work blocks), ties, rejected
    works, and runs of near-duplicates uploaded minutes apart."""
    rng = np.random.default_rng(seed)
    counts = {"big": 300, "mid": 40, "small": 12}
    artists = np.concatenate([[name] * c for name, c in counts.items()])
    n = len(artists)
    styles = {name: rng.standard_normal(dim) for name in counts}
    vectors = np.stack([styles[a] + 1.2 * rng.standard_normal(dim) for a in artists])
    times = 1_700_000_000 + rng.integers(0, 60 * DAY, n)
    copies = np.flatnonzero(rng.random(n - 1) < 0.1)  # each becomes a copy of the next row
    vectors[copies] = vectors[copies + 1] + 0.05 * rng.standard_normal((len(copies), dim))
    times[copies] = times[copies + 1] + rng.integers(-600, 600, len(copies))
    times[rng.choice(n, 30, replace=False)] = times[rng.choice(n, 30, replace=False)]  # ties
    return {
        "embeddings": unit(vectors),
        "artist_ids": artists,
        "uploaded_at": times.astype(np.int64),
        "accepted": rng.random(n) > 0.15,
        "item_ids": np.array([f"item-{i:04d}" for i in range(n)]),
    }


def take(data: dict, rows: np.ndarray) -> dict:
    return {key: value[rows] for key, value in data.items()}


def concat(first: dict, second: dict) -> dict:
    return {key: np.concatenate([first[key], second[key]]) for key in first}


def by_item(features: PortfolioFeatures) -> dict[str, dict]:
    return {row["item_id"]: row for row in features.to_rows()}


def assert_same_rows(left: dict, right: dict, ids) -> None:
    """Exact equality (None stands for NaN)."""
    for item in ids:
        assert left[item] == right[item], item


def test_features_ignore_later_uploads_and_row_order():
    data = random_platform()
    base = by_item(portfolio_features(**data))

    order = np.random.default_rng(1).permutation(len(data["item_ids"]))
    assert_same_rows(base, by_item(portfolio_features(**take(data, order))), data["item_ids"])

    cutoff = int(np.quantile(data["uploaded_at"], 0.6))
    before = data["uploaded_at"] < cutoff
    changed = {key: value.copy() for key, value in data.items()}
    rng = np.random.default_rng(2)
    later = np.flatnonzero(~before)
    changed["embeddings"][later] = unit(rng.standard_normal((len(later), 16)))
    changed["accepted"][later] = ~changed["accepted"][later]
    other = random_platform(seed=3)  # the same artists' later works
    extra = take(other, np.arange(0, len(other["item_ids"]), 3))
    extra["uploaded_at"] = cutoff + rng.integers(0, 10 * DAY, len(extra["item_ids"]))
    extra["item_ids"] = np.char.add("extra-", extra["item_ids"])
    after = by_item(portfolio_features(**concat(changed, extra)))
    assert_same_rows(base, after, data["item_ids"][before])
    assert any(base[i] != after[i] for i in data["item_ids"][~before])
    removed = by_item(portfolio_features(**take(data, np.flatnonzero(before))))
    assert_same_rows(base, removed, data["item_ids"][before])


def test_changing_an_earlier_own_work_changes_the_features():
    data = random_platform()
    times, big = data["uploaded_at"], data["artist_ids"] == "big"
    last = np.flatnonzero(big)[np.argmax(times[big])]
    earlier = np.flatnonzero(big & data["accepted"] & (times < times[last]))[5]
    changed = {key: value.copy() for key, value in data.items()}
    changed["embeddings"][earlier] = data["embeddings"][last]  # now its nearest neighbour
    before = portfolio_features(**data)
    after = portfolio_features(**changed)
    for name in DISTANCES:
        assert getattr(before, name)[last] != getattr(after, name)[last], name


def test_other_artists_never_affect_an_artist():
    data = random_platform()
    mid = data["artist_ids"] == "mid"
    alone = portfolio_features(**take(data, np.flatnonzero(mid)))
    together = portfolio_features(**data)
    shifted = {key: value.copy() for key, value in data.items()}
    shifted["embeddings"][~mid] = shifted["embeddings"][mid][0]  # others copy one of its works
    shifted["uploaded_at"][~mid] = shifted["uploaded_at"][mid][0]
    crowded = portfolio_features(**shifted)
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(getattr(together, name)[mid], getattr(alone, name), name)
        np.testing.assert_array_equal(getattr(crowded, name)[mid], getattr(alone, name), name)


def cluster(rng: np.random.Generator, count: int, centre: np.ndarray, spread: float) -> np.ndarray:
    return unit(centre + spread * rng.standard_normal((count, len(centre))))


@pytest.mark.parametrize("min_portfolio", [2, 5])
def test_cold_start_below_the_minimum_is_a_state_not_a_number(min_portfolio):
    rng = np.random.default_rng(4)
    count = min_portfolio + 2
    vectors = cluster(rng, count, rng.standard_normal(8), 0.5)
    features = portfolio_features(
        vectors,
        ["a"] * count,
        np.arange(count, dtype=np.int64) * DAY,
        np.ones(count, bool),
        config=PortfolioConfig(min_portfolio=min_portfolio),
    )
    np.testing.assert_array_equal(features.portfolio_size, np.arange(count))
    np.testing.assert_array_equal(features.cold_start, np.arange(count) < min_portfolio)
    for name in DISTANCES:
        values = getattr(features, name)
        assert np.isnan(values[:min_portfolio]).all(), name
        assert np.isfinite(values[min_portfolio:]).all(), name


def test_rejected_works_are_not_part_of_the_portfolio():
    rng = np.random.default_rng(5)
    vectors = cluster(rng, 7, rng.standard_normal(8), 0.5)
    accepted = np.array([True, True, False, True, True, True, True])
    features = portfolio_features(vectors, ["a"] * 7, np.arange(7, dtype=np.int64) * DAY, accepted)
    np.testing.assert_array_equal(features.portfolio_size, [0, 1, 2, 2, 3, 4, 5])
    assert features.cold_start[:6].all() and not features.cold_start[6]


def test_an_orthogonal_upload_stands_out_and_a_typical_one_does_not():
    rng = np.random.default_rng(6)
    centre = np.zeros(64)
    centre[0] = 1.0
    works = cluster(rng, 30, centre, 0.04)
    orthogonal = np.zeros(64)
    orthogonal[1] = 1.0
    typical = cluster(rng, 1, centre, 0.04)[0]
    for upload, expect_high in ((unit(orthogonal)[0], True), (typical, False)):
        vectors = np.vstack([works, upload])
        features = portfolio_features(
            vectors, ["a"] * 31, np.arange(31, dtype=np.int64) * DAY, np.ones(31, bool)
        )
        z = features.centroid_z[-1], features.knn_z[-1]
        if expect_high:
            assert min(z) > 3, z
            assert features.centroid_distance[-1] > 0.9
        else:
            assert max(abs(v) for v in z) < 2, z


def naive_features(data: dict, config: PortfolioConfig) -> dict[str, np.ndarray]:
    """Plain loops over uploads, straight from the definitions (float64)."""
    x = data["embeddings"].astype(np.float64)
    artists, times, accepted = data["artist_ids"], data["uploaded_at"], data["accepted"]
    n, k = len(x), config.k
    out = {name: np.full(n, np.nan) for name in FEATURE_NAMES}

    def distances(query, others):
        """Cosine distances from ``query`` to each row of ``others`` (not assumed unit)."""
        return 1.0 - others @ query / (np.linalg.norm(others, axis=1) * np.linalg.norm(query))

    def mean_knn_distance(query, others):
        return np.sort(distances(query, others))[: min(k, len(others))].mean()

    def same_artist_between(i, low, high):
        return [j for j in range(n) if artists[j] == artists[i] and low < times[j] <= high]

    def trailing(i, seconds):
        return same_artist_between(i, times[i] - seconds, times[i])

    window_counts = [len(trailing(i, config.burst_window_s)) for i in range(n)]
    for i in range(n):
        portfolio = [
            j for j in range(n)
            if artists[j] == artists[i] and accepted[j] and times[j] <= times[i] - config.burst_window_s
        ]
        m = len(portfolio)
        out["portfolio_size"][i] = m
        out["cold_start"][i] = m < config.min_portfolio
        if m >= config.min_portfolio:
            works = x[portfolio]
            centroid_d = distances(x[i], works.mean(axis=0, keepdims=True))[0]
            knn_d = mean_knn_distance(x[i], works)
            loo_centroid, loo_knn = [], []
            for a in range(m):
                rest = np.delete(works, a, axis=0)
                loo_centroid.append(distances(works[a], rest.mean(axis=0, keepdims=True))[0])
                loo_knn.append(mean_knn_distance(works[a], rest))
            out["centroid_distance"][i] = centroid_d
            out["knn_distance"][i] = knn_d
            floor = config.spread_floor
            out["centroid_z"][i] = (centroid_d - np.mean(loo_centroid)) / max(np.std(loo_centroid), floor)
            out["knn_z"][i] = (knn_d - np.mean(loo_knn)) / max(np.std(loo_knn), floor)
        threshold = config.near_duplicate_threshold
        recent = trailing(i, config.near_duplicate_window_s)
        out["recent_near_duplicates"][i] = sum(j != i and x[i] @ x[j] >= threshold for j in recent)
        out["uploads_in_window"][i] = window_counts[i]
        history = same_artist_between(i, -np.inf, times[i] - config.burst_window_s)
        prior = config.burst_prior_windows
        usual = (sum(window_counts[j] for j in history) + prior) / (len(history) + prior)
        out["burst_ratio"][i] = window_counts[i] / usual if history else np.nan
    return out


@pytest.mark.parametrize(
    "config",
    [
        PortfolioConfig(),
        PortfolioConfig(min_portfolio=3, k=8, spread_floor=0.5, burst_window_s=DAY),  # floor binds
    ],
)
def test_agrees_with_a_plain_loop_reference(config):
    data = random_platform(seed=7)
    got = portfolio_features(**data, config=config).as_dict()
    want = naive_features(data, config)
    assert np.isfinite(want["centroid_z"]).sum() > 250
    assert want["recent_near_duplicates"].sum() > 5
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(
            got[name].astype(np.float64), want[name], rtol=0, atol=1e-5, err_msg=name
        )


def test_a_burst_of_near_duplicates_stands_out_and_a_weekly_pace_does_not():
    rng = np.random.default_rng(8)
    weekly = 20
    history = unit(rng.standard_normal((weekly, 32)))
    copies = cluster(rng, 9, rng.standard_normal(32), 0.01)
    start = 1_700_000_000
    burst_start = start + weekly * 7 * DAY
    times = np.concatenate([start + np.arange(weekly) * 7 * DAY, burst_start + np.arange(9) * 300])
    features = portfolio_features(
        np.vstack([history, copies]),
        ["bulk"] * (weekly + 9),
        times.astype(np.int64),
        np.ones(weekly + 9, bool),
    )
    assert features.recent_near_duplicates[-1] == 8
    assert features.uploads_in_window[-1] == 9
    assert features.burst_ratio[-1] > 5
    np.testing.assert_array_equal(features.recent_near_duplicates[:weekly], 0)
    assert np.isnan(features.burst_ratio[0]) and (features.burst_ratio[1:weekly] <= 1.0 + 1e-12).all()


def test_a_new_account_has_no_usual_rate():
    vectors = unit(np.eye(4))
    features = portfolio_features(vectors, ["new"] * 4, np.zeros(4, np.int64), np.ones(4, bool))
    np.testing.assert_array_equal(features.uploads_in_window, 4)
    assert np.isnan(features.burst_ratio).all()  # no "4x this artist's usual rate" for a newcomer
    later = portfolio_features(vectors, ["new"] * 4, np.array([0, 0, 2, 2]) * HOUR, np.ones(4, bool))
    assert np.isnan(later.burst_ratio[:2]).all() and np.isfinite(later.burst_ratio[2:]).all()


def test_works_posted_in_the_same_sitting_are_not_each_others_portfolio():
    rng = np.random.default_rng(10)
    history = unit(rng.standard_normal((6, 16)))
    backlog = unit(rng.standard_normal((12, 16)))
    start = 1_700_000_000
    times = np.concatenate([start + np.arange(6) * 7 * DAY, start + 60 * DAY + np.arange(12) * 240])
    features = portfolio_features(np.vstack([history, backlog]), ["a"] * 18, times.astype(np.int64),
                                  np.ones(18, bool))
    np.testing.assert_array_equal(features.portfolio_size[6:], 6)  # the earlier works, not the backlog
    new_account = portfolio_features(backlog, ["b"] * 12, times[6:].astype(np.int64), np.ones(12, bool))
    np.testing.assert_array_equal(new_account.portfolio_size, 0)
    assert new_account.cold_start.all() and np.isnan(new_account.centroid_z).all()
    assert new_account.uploads_in_window[-1] == 12  # the backlog is judged by its count instead


def test_identical_timestamps_are_not_earlier_than_each_other():
    rng = np.random.default_rng(9)
    vectors = cluster(rng, 5, rng.standard_normal(8), 0.01)
    times = np.array([0, 1, 2, 10, 10], np.int64) * HOUR
    features = portfolio_features(
        vectors, ["a"] * 5, times.astype("datetime64[s]"), np.ones(5, bool),
        config=PortfolioConfig(min_portfolio=2),
    )
    np.testing.assert_array_equal(features.portfolio_size, [0, 1, 2, 3, 3])
    # for near-duplicates and bursts, "at the same time" is inside the trailing window
    np.testing.assert_array_equal(features.recent_near_duplicates[3:], [4, 4])
    np.testing.assert_array_equal(features.uploads_in_window[3:], [2, 2])


def test_datetime64_and_epoch_seconds_agree():
    data = random_platform()
    as_seconds = portfolio_features(**data).as_dict()
    data["uploaded_at"] = data["uploaded_at"].astype("datetime64[s]").astype("datetime64[ms]")
    as_dates = portfolio_features(**data).as_dict()
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(as_seconds[name], as_dates[name], name)


def test_result_shape_and_rows():
    data = take(random_platform(), np.arange(340, 352))  # the 12-work artist
    features = portfolio_features(**data)
    assert tuple(features.as_dict()) == FEATURE_NAMES
    assert len(features) == 12
    rows = features.to_rows()
    assert list(rows[0]) == ["item_id", *FEATURE_NAMES]
    assert rows[0]["centroid_distance"] is None and rows[0]["cold_start"] is True
    with pytest.raises(ValueError):
        features.burst_ratio[0] = 0.0


def test_empty_input_gives_empty_features():
    features = portfolio_features(
        np.zeros((0, 4), np.float32), [], np.zeros(0, np.int64), np.zeros(0, bool)
    )
    assert len(features) == 0 and features.to_rows() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"embeddings": np.full((3, 2), 0.5, np.float32)}, "row 0 has norm 0.707107"),
        ({"artist_ids": ["a", "a"]}, "shape (3,) to match embeddings, got (2,)"),
        ({"uploaded_at": np.array([0.0, 1.0, 2.0])}, "got dtype float64"),
        ({"accepted": np.array([1, 1, 0])}, "must be booleans, got dtype int64"),
        ({"item_ids": ["x", "y", "x"]}, "1 repeats, e.g. 'x' appears 2 times"),
        ({"uploaded_at": np.array(["2024-01-01", "NaT", "2024-01-02"], "datetime64[s]")}, "entry 1"),
    ],
)
def test_bad_inputs_are_refused_with_the_numbers(change, message):
    inputs = {
        "embeddings": unit(np.eye(3)),
        "artist_ids": ["a", "a", "b"],
        "uploaded_at": np.array([0, 1, 2], np.int64),
        "accepted": np.ones(3, bool),
        **change,
    }
    with pytest.raises((ValueError, TypeError)) as error:
        portfolio_features(**inputs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"min_portfolio": 1}, "min_portfolio must be an integer >= 2, got 1"),
        ({"k": 0}, "k must be an integer >= 1, got 0"),
        ({"spread_floor": 0.0}, "spread_floor must be a finite number > 0.0, got 0.0"),
        ({"near_duplicate_threshold": 1.5}, "<= 1.0, got 1.5"),
    ],
)
def test_bad_settings_are_refused(setting, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        PortfolioConfig(**setting)
