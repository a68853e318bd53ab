"""PDQ near-duplicate detection: hashing robustness, exact index search, and the
within-artist vs cross-account duplicate counts."""

from __future__ import annotations

import io
import itertools
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image, ImageDraw

from slopscore.media.decode import load_image
from slopscore.signals.duplicates import (
    DuplicateKind,
    cross_account_duplicates,
    find_near_duplicates,
    within_artist_duplicates,
)
from slopscore.signals.pdq import MATCH_DISTANCE, MIN_QUALITY, PdqHash, pdq_hash
from slopscore.signals.pdq_index import PdqIndex

SIZE = (768, 640)
HOUR = 3600


# ------------------------------------------------------------------ test images


def smooth_field(seed: int) -> Image.Image:
    """Low-frequency colour noise, like a soft painted background."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize(SIZE, Image.Resampling.BICUBIC)


def interference(seed: int) -> Image.Image:
    """Sums of random sinusoids per channel, with fine grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : SIZE[1], 0 : SIZE[0]] / max(SIZE)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6, 3)
        wave = np.sin(2 * np.pi * (fx * x + fy * y) + phase) + np.cos(2 * np.pi * fy * x * y * 3)
        channels.append(wave)
    pixels = 128 + 50 * np.stack(channels, -1) + rng.normal(0, 8, (SIZE[1], SIZE[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def shapes(seed: int) -> Image.Image:
    """Random filled rectangles and ellipses on a coloured ground."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", SIZE, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, x1 = sorted(rng.integers(0, SIZE[0], 2))
        y0, y1 = sorted(rng.integers(0, SIZE[1], 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=fill)
    return image


ARTWORKS = [maker(seed) for maker in (smooth_field, interference, shapes) for seed in range(4)]


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return load_image(buffer.getvalue()).image


def random_hashes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)


def flip_bits(words: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """A copy of one (4,) hash with the given bit positions (0..255) inverted."""
    unpacked = np.unpackbits(words.astype(">u8").view(np.uint8))
    unpacked[bits] ^= 1
    return np.packbits(unpacked).view(">u8").astype(np.uint64)


def near(words: np.ndarray, distance: int, rng: np.random.Generator) -> np.ndarray:
    return flip_bits(words, rng.choice(256, distance, replace=False))


def make_index(hashes, qualities, item_ids=None, artist_ids=None, seconds=None) -> PdqIndex:
    """An index with defaults: ids 0..N-1, one artist, all uploaded at t=0."""
    count = len(hashes)
    return PdqIndex.from_arrays(
        np.asarray(hashes, dtype=np.uint64),
        qualities,
        [str(i) for i in range(count)] if item_ids is None else item_ids,
        ["a"] * count if artist_ids is None else artist_ids,
        np.zeros(count, dtype=np.int64) if seconds is None else seconds,
    )


def reference_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Hamming distance by unpacking every bit (slow, obviously right)."""
    bits_a = np.unpackbits(a.astype(">u8").view(np.uint8))
    bits_b = np.unpackbits(b.astype(">u8").view(np.uint8))
    return int((bits_a != bits_b).sum())


# ---------------------------------------------------------------------- hashing


@pytest.mark.parametrize("index", range(len(ARTWORKS)))
def test_resized_and_recompressed_copies_match_their_original(index):
    original = ARTWORKS[index]
    reference = pdq_hash(original)
    assert reference.quality >= MIN_QUALITY
    half = original.resize((SIZE[0] // 2, SIZE[1] // 2), Image.Resampling.LANCZOS)
    for copy in (half, jpeg(original, 50)):
        other = pdq_hash(copy)
        assert other.quality >= MIN_QUALITY
        assert reference.distance(other) <= MATCH_DISTANCE


def test_distinct_generated_artworks_do_not_match():
    hashes = [pdq_hash(image) for image in ARTWORKS]
    for a, b in itertools.combinations(range(len(hashes)), 2):
        assert hashes[a].distance(hashes[b]) > MATCH_DISTANCE, (a, b)


@pytest.mark.realdata
def test_distinct_real_artworks_do_not_match(realdata):
    paths = sorted(p for folder in ("human", "ai") for p in (realdata / folder).iterdir())
    hashes = [pdq_hash(load_image(path).image) for path in paths]
    names = [path.name for path in paths]  # each file its own artist
    index = make_index([h.words for h in hashes], [h.quality for h in hashes], names, names)
    found = find_near_duplicates(index)
    matched = [(paths[found.rows[q]].name, paths[m].name) for q, m in zip(found.query, found.match)]
    assert matched == []


def test_flat_image_is_low_quality_and_never_matches():
    blank = pdq_hash(Image.new("RGB", (400, 300), (240, 240, 235)))
    assert blank.quality < MIN_QUALITY
    index = PdqIndex()
    index.add(blank, "blank-1", "a", 0)
    index.add(blank, "blank-2", "b", 0)  # identical bits, still no match
    result = index.query(blank)
    assert result.low_quality and result.rows.size == 0
    # A reliable query identical to a low-quality row does not match it either.
    assert index.query(PdqHash(blank.digest, 100)).rows.size == 0
    found = find_near_duplicates(index)
    assert found.low_quality.tolist() == [True, True] and found.match.size == 0


def test_tiny_and_empty_images_get_quality_zero():
    for size in ((0, 0), (4, 100), (1, 1)):
        assert pdq_hash(Image.new("RGB", size)).quality == 0


def test_hash_forms_round_trip():
    pdq = pdq_hash(ARTWORKS[0])
    assert len(pdq.digest) == 32 and len(pdq.hex) == 64
    assert PdqHash.from_hex(pdq.hex, pdq.quality) == pdq
    assert pdq.words.dtype == np.uint64 and pdq.words.shape == (4,)
    assert pdq.words.astype(">u8").tobytes() == pdq.digest


def test_non_rgb_image_is_refused_with_its_mode():
    with pytest.raises(ValueError, match="mode 'RGBA'"):
        pdq_hash(Image.new("RGBA", (64, 64)))


# ------------------------------------------------------------------------ index


def test_index_distance_equals_unpackbits_reference_on_random_pairs():
    rng = np.random.default_rng(7)
    stored = random_hashes(rng, 300)
    # Also plant hashes at every distance 0..256 from the first query.
    stored = np.vstack([stored, [near(stored[0], d, rng) for d in range(257)]])
    index = make_index(stored, np.full(len(stored), 100))
    for query in stored[:25]:
        found = index.query(PdqHash(query.astype(">u8").tobytes(), 100), max_distance=256)
        assert found.rows.size == len(stored)
        expected = [reference_distance(query, stored[row]) for row in found.rows]
        assert found.distances.tolist() == expected
        assert np.all(np.diff(found.distances) >= 0)


def test_query_returns_exactly_the_rows_within_the_threshold():
    rng = np.random.default_rng(3)
    base = random_hashes(rng, 1)[0]
    planted = np.array([near(base, d, rng) for d in range(0, 64)])
    stored = np.vstack([random_hashes(rng, 5000), planted])
    qualities = np.full(len(stored), 90)
    qualities[5000 + 10] = MIN_QUALITY - 1  # within range but unreliable
    index = make_index(stored, qualities)
    query = PdqHash(base.astype(">u8").tobytes(), 90)
    for threshold in (0, 5, MATCH_DISTANCE, 40):
        found = index.query(query, max_distance=threshold)
        expected = [5000 + d for d in range(threshold + 1) if d != 10]
        assert sorted(found.rows.tolist()) == expected
        assert found.distances.tolist() == sorted(row - 5000 for row in expected)
    # Lowering the quality floor admits the unreliable row.
    assert 5010 in index.query(query, max_distance=MATCH_DISTANCE, min_quality=0).rows


def test_query_many_agrees_with_single_queries():
    rng = np.random.default_rng(11)
    stored = random_hashes(rng, 2000)
    stored[1000:1010] = [near(stored[5], d, rng) for d in range(0, 40, 4)]
    qualities = rng.integers(40, 101, len(stored))
    index = make_index(stored, qualities)
    queries = stored[[5, 1000, 1, 7]]
    query_qualities = np.array([100, 100, 30, 100])
    batch = index.query_many(queries, query_qualities, max_distance=35)
    assert batch.low_quality.tolist() == [False, False, True, False]
    for position, (words, quality) in enumerate(zip(queries, query_qualities)):
        single = index.query(PdqHash(words.astype(">u8").tobytes(), int(quality)), max_distance=35)
        mine = batch.query == position
        assert batch.rows[mine].tolist() == single.rows.tolist()
        assert batch.distances[mine].tolist() == single.distances.tolist()


def test_add_one_by_one_equals_from_arrays():
    rng = np.random.default_rng(5)
    stored = random_hashes(rng, 50)
    times = np.arange(50, dtype=np.int64) * 60
    bulk = make_index(stored, np.full(50, 80), [f"i{i}" for i in range(50)], seconds=times)
    grown = PdqIndex()
    for i, words in enumerate(stored):
        moment = datetime.fromtimestamp(int(times[i]), tz=timezone.utc)
        assert grown.add(PdqHash(words.astype(">u8").tobytes(), 80), f"i{i}", "a", moment) == i
    assert len(grown) == len(bulk) == 50
    assert np.array_equal(grown.hashes, bulk.hashes)
    assert np.array_equal(grown.uploaded_at, bulk.uploaded_at)
    assert grown.item_ids.tolist() == bulk.item_ids.tolist()
    with pytest.raises(ValueError):
        grown.hashes[0, 0] = 1  # views are read-only


def test_index_accepts_datetime64_and_rejects_naive_datetimes():
    words = random_hashes(np.random.default_rng(0), 2)
    moments = np.array(["2026-01-05T10:00:00.900", "2026-01-05T11:00"], dtype="datetime64[ms]")
    index = make_index(words, [90, 90], seconds=moments)
    assert np.diff(index.uploaded_at).tolist() == [3600]  # 10:00:00.900 counts as 10:00:00
    with pytest.raises(ValueError, match=r"uploaded_at\[0\].*timezone-aware"):
        make_index(words, [90, 90], seconds=[datetime(2026, 1, 5), datetime(2026, 1, 6)])


@pytest.mark.parametrize(
    ("hashes", "qualities", "message"),
    [
        (
            np.zeros((3, 5), np.uint64),
            [50] * 3,
            r"hashes has shape \(3, 5\) and dtype uint64; expected \(N, 4\) uint64",
        ),
        (np.zeros((3, 4), np.int64), [50] * 3, r"dtype int64; expected \(N, 4\) uint64"),
        (np.zeros((3, 4), np.uint64), [50] * 2, r"qualities has shape \(2,\).*expected \(3,\)"),
        (np.zeros((3, 4), np.uint64), [50, 101, 0], r"qualities span 0..101; expected .*0..100"),
    ],
)
def test_bad_index_inputs_say_which_numbers_are_wrong(hashes, qualities, message):
    with pytest.raises(ValueError, match=message):
        PdqIndex.from_arrays(hashes, qualities, ["x"] * 3, ["a"] * 3, [0] * 3)


def test_bad_thresholds_are_refused():
    index = PdqIndex()
    query = PdqHash(bytes(32), 100)
    with pytest.raises(ValueError, match="max_distance is 257; expected an integer in 0..256"):
        index.query(query, max_distance=257)
    with pytest.raises(ValueError, match="min_quality is -1"):
        index.query(query, min_quality=-1)


# ----------------------------------------------------------- duplicate evidence


@pytest.fixture
def platform():
    """A burst by one artist, a protest image reposted by five artists, and noise.

    * ``burst``: 10 near-duplicates of image A, one every 6 minutes (t = 0..54 min),
      plus two unrelated uploads.
    * ``p1``..``p5``: each posts a slightly different copy of image B on day 2; ``p1``
      posts it a second time an hour later.
    * ``blank``: two identical flat images (low quality).
    * ``loner``: unrelated uploads.
    """
    rng = np.random.default_rng(2026)
    image_a, image_b, *noise = random_hashes(rng, 8)
    rows = []  # (words, quality, item, artist, seconds)
    for i in range(10):
        rows.append((near(image_a, 3, rng), 100, f"burst-{i}", "burst", i * 360))
    rows.append((noise[0], 100, "burst-other-0", "burst", 2 * HOUR))
    rows.append((noise[1], 100, "burst-other-1", "burst", 3 * HOUR))
    day2 = 24 * HOUR
    for k in range(1, 6):
        rows.append((near(image_b, 4, rng), 95, f"protest-p{k}", f"p{k}", day2 + k * HOUR))
    rows.append((near(image_b, 4, rng), 95, "protest-p1-again", "p1", day2 + 1 * HOUR + HOUR // 2))
    rows.append((noise[2], 10, "blank-1", "blank", 0))
    rows.append((noise[2], 10, "blank-2", "blank", 60))
    rows.append((noise[3], 100, "loner-0", "loner", 0))
    rows.append((noise[4], 100, "loner-1", "loner", 7 * HOUR))
    words, qualities, items, artists, seconds = zip(*rows)
    return PdqIndex.from_arrays(np.array(words), qualities, items, artists, seconds)


def counts_by_item(evidence):
    return dict(zip(evidence.item_ids.tolist(), evidence.counts.tolist()))


def test_burst_counts_within_artist_and_protest_counts_across_accounts(platform):
    near_pairs = find_near_duplicates(platform)
    within = counts_by_item(within_artist_duplicates(platform, near_pairs))
    cross = counts_by_item(cross_account_duplicates(platform, near_pairs))
    for i in range(10):
        assert within[f"burst-{i}"] == 9
        assert cross[f"burst-{i}"] == 0
    for k in range(1, 6):
        # Four other artists posted image B; p1's second post is not another artist.
        assert cross[f"protest-p{k}"] == 4
    assert cross["protest-p1-again"] == 4
    # Reposts by others are not mass production; p1's own repeat is one within-artist pair.
    assert within["protest-p1"] == within["protest-p1-again"] == 1
    assert [within[f"protest-p{k}"] for k in range(2, 6)] == [0, 0, 0, 0]
    for item in ("burst-other-0", "burst-other-1", "loner-0", "loner-1", "blank-1", "blank-2"):
        assert within[item] == cross[item] == 0


def test_low_quality_rows_are_flagged_not_matched(platform):
    evidence = within_artist_duplicates(platform, find_near_duplicates(platform))
    flagged = dict(zip(evidence.item_ids.tolist(), evidence.low_quality.tolist()))
    assert flagged["blank-1"] and flagged["blank-2"]
    assert sum(flagged.values()) == 2
    # With a floor below their quality, the two identical blanks do match.
    relaxed = within_artist_duplicates(platform, find_near_duplicates(platform, min_quality=0))
    assert counts_by_item(relaxed)["blank-1"] == 1


def test_matched_ids_are_capped_nearest_first_and_name_one_upload_per_other_artist(platform):
    near_pairs = find_near_duplicates(platform)
    within = within_artist_duplicates(platform, near_pairs, max_ids=3)
    first = within.item_ids.tolist().index("burst-0")
    assert within.counts[first] == 9 and len(within.matched_item_ids[first]) == 3
    assert all(item.startswith("burst-") for item in within.matched_item_ids[first])
    burst_rows = np.arange(10)
    distances = [
        reference_distance(platform.hashes[0], platform.hashes[row]) for row in burst_rows[1:]
    ]
    nearest = sorted(zip(distances, burst_rows[1:].tolist()))[:3]
    assert within.matched_item_ids[first] == tuple(f"burst-{row}" for _, row in nearest)

    cross = cross_account_duplicates(platform, near_pairs)
    p2 = cross.item_ids.tolist().index("protest-p2")
    named = cross.matched_item_ids[p2]
    assert len(named) == 4
    artists = dict(zip(platform.item_ids.tolist(), platform.artist_ids.tolist()))
    assert sorted(artists[item] for item in named) == ["p1", "p3", "p4", "p5"]
    assert cross.kind is DuplicateKind.CROSS_ACCOUNT and within.kind is DuplicateKind.WITHIN_ARTIST


def test_time_window_and_earlier_only_change_the_counts(platform):
    near_pairs = find_near_duplicates(platform)

    def burst_counts(**options):
        counts = counts_by_item(within_artist_duplicates(platform, near_pairs, **options))
        return [counts[f"burst-{i}"] for i in range(10)]

    # Uploads are 6 minutes apart: a 15-minute window reaches two neighbours each side.
    assert burst_counts(window=timedelta(minutes=15)) == [2, 3, 4, 4, 4, 4, 4, 4, 3, 2]
    assert burst_counts(earlier_only=True) == list(range(10))
    assert burst_counts(window=15 * 60, earlier_only=True) == [0, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    assert burst_counts(window=np.timedelta64(54, "m")) == [9] * 10

    cross = counts_by_item(cross_account_duplicates(platform, near_pairs, earlier_only=True))
    # p_k posted at day2 + k hours: k-1 other artists posted before.
    assert [cross[f"protest-p{k}"] for k in range(1, 6)] == [0, 1, 2, 3, 4]
    assert cross["protest-p1-again"] == 0  # only p1 itself had posted earlier


def test_uploads_at_the_same_time_count_as_earlier():
    rng = np.random.default_rng(1)
    base = random_hashes(rng, 1)[0]
    index = make_index([near(base, 2, rng), near(base, 2, rng)], [100, 100], seconds=[500, 500])
    evidence = within_artist_duplicates(index, find_near_duplicates(index), earlier_only=True)
    assert evidence.counts.tolist() == [1, 1]


def test_rows_restrict_the_report_but_not_the_candidates(platform):
    todays = [0, 12]  # burst-0 and protest-p1
    near_pairs = find_near_duplicates(platform, rows=todays)
    within = within_artist_duplicates(platform, near_pairs)
    cross = cross_account_duplicates(platform, near_pairs)
    assert within.item_ids.tolist() == ["burst-0", "protest-p1"]
    assert within.counts.tolist() == [9, 1]
    assert cross.counts.tolist() == [0, 4]


def test_same_item_id_never_counts_as_its_own_duplicate():
    words = random_hashes(np.random.default_rng(4), 1)
    index = make_index(np.vstack([words, words]), [100, 100], ["same", "same"], seconds=[0, 1])
    assert within_artist_duplicates(index, find_near_duplicates(index)).counts.tolist() == [0, 0]


def test_helpers_refuse_pairs_from_another_index(platform):
    near_pairs = find_near_duplicates(platform)
    with pytest.raises(ValueError, match=r"refers to row \d+ but the index has 2 rows"):
        within_artist_duplicates(make_index(platform.hashes[:2], [90, 90]), near_pairs)
    with pytest.raises(ValueError, match="window is -5 seconds"):
        within_artist_duplicates(platform, near_pairs, window=-5)
