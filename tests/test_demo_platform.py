"""Tests of the synthetic demo platform generator."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from slopscore.demo.platform import DemoPlatform, generate_platform

SCALE = 0.25
COLUMNS = ("item_id", "artist_id", "path", "uploaded_at", "label", "declared_ai",
           "has_process_notes", "title", "tags")
LABELS = ("human", "ai_assisted", "ai_slop")
MEDIA = {"painting", "ink", "pixel", "collage", "print", "photo-bash", "3d", "graphic", "digital",
         "vector"}


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def _high_frequency_energy(path: Path) -> float:
    """Mean absolute 4-neighbour Laplacian of the grey image."""
    g = _pixels(path).astype(np.float64).mean(axis=2)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return float(np.abs(lap).mean())


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> DemoPlatform:
    return generate_platform(tmp_path_factory.mktemp("platform") / "demo", seed=0, scale=SCALE)


@pytest.fixture(scope="module")
def manifest(platform: DemoPlatform) -> list[dict[str, str]]:
    return _rows(platform.manifest)


def test_same_seed_gives_identical_bytes(platform, tmp_path):
    again = generate_platform(tmp_path / "again", seed=0, scale=SCALE)
    assert _file_hashes(again.root) == _file_hashes(platform.root)


def test_other_seed_gives_other_images(platform, tmp_path):
    other = generate_platform(tmp_path / "other", seed=1, scale=SCALE)
    ours = set(_file_hashes(platform.root / "images").values())
    theirs = set(_file_hashes(other.root / "images").values())
    assert len(ours & theirs) <= 3  # only the seed-independent protest image may repeat


def test_manifest_schema(platform, manifest):
    with platform.manifest.open(encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    assert len({r["item_id"] for r in manifest}) == len(manifest)
    for row in manifest:
        assert row["label"] in LABELS
        assert {row["declared_ai"], row["has_process_notes"]} <= {"true", "false"}
        assert datetime.fromisoformat(row["uploaded_at"]).utcoffset() == timedelta(0)
        assert MEDIA & set(row["tags"].split(";")) and row["title"]
        with Image.open(platform.root / row["path"]) as img:
            img.load()
            assert 224 <= max(img.size) <= 288 and min(img.size) >= 144
    assert sum('<b>Dawn & "dusk"</b>' == r["title"] for r in manifest) == 1
    assert "synthetic" in (platform.root / "README.txt").read_text(encoding="utf-8").lower()


def test_history_and_new_uploads_partition_the_manifest(platform, manifest):
    history, new = _rows(platform.history), _rows(platform.new_uploads)
    history_ids, new_ids = {r["item_id"] for r in history}, {r["item_id"] for r in new}
    assert not history_ids & new_ids
    assert history_ids | new_ids == {r["item_id"] for r in manifest}
    assert len(history) + len(new) == len(manifest)
    last_history = max(datetime.fromisoformat(r["uploaded_at"]) for r in history)
    assert all(datetime.fromisoformat(r["uploaded_at"]) > last_history for r in new)
    assert len({datetime.fromisoformat(r["uploaded_at"]).date() for r in new}) == 1


def test_every_label_in_history_and_new_uploads(platform):
    for split in (platform.history, platform.new_uploads):
        assert {r["label"] for r in _rows(split)} == set(LABELS)
    assert all(platform.counts[label] > 0 for label in LABELS)


def test_slop_burst_within_an_hour(manifest):
    times = defaultdict(list)
    for row in manifest:
        if row["label"] == "ai_slop":
            times[row["artist_id"]].append(datetime.fromisoformat(row["uploaded_at"]))
    best = 0
    for stamps in times.values():
        stamps.sort()
        best = max(best, *(sum(t <= s < t + timedelta(minutes=60) for s in stamps) for t in stamps))
    assert best >= 8


def test_protest_image_reposted_by_many_artists(platform, manifest):
    artists_by_pixels = defaultdict(set)
    for row in manifest:
        digest = hashlib.sha256(_pixels(platform.root / row["path"]).tobytes()).hexdigest()
        artists_by_pixels[digest].add((row["artist_id"], row["label"]))
    widest = max(artists_by_pixels.values(), key=len)
    assert len({artist for artist, _ in widest}) >= 5
    assert {label for _, label in widest} == {"human"}


def test_generator_metadata_only_on_slop_pngs(platform, manifest):
    tagged = defaultdict(int)
    for row in manifest:
        with Image.open(platform.root / row["path"]) as img:
            if {"parameters", "prompt"} & set(img.info):
                tagged[(row["label"], img.format)] += 1
    assert tagged[("ai_slop", "PNG")] >= 2
    assert set(tagged) == {("ai_slop", "PNG")}


def test_both_formats_for_every_label(manifest):
    formats = defaultdict(set)
    for row in manifest:
        formats[row["label"]].add(Path(row["path"]).suffix)
    assert all(formats[label] == {".jpg", ".png"} for label in LABELS)


@pytest.fixture(scope="module")
def energy(platform, manifest) -> dict[tuple[str, str], list[float]]:
    """High-frequency energy of every non-protest image by (artist, label)."""
    by_artist = defaultdict(list)
    for row in manifest:
        if "protest" not in row["tags"]:
            energy = _high_frequency_energy(platform.root / row["path"])
            by_artist[(row["artist_id"], row["label"])].append(energy)
    return by_artist


def test_human_images_have_more_high_frequency_energy_than_slop_on_average(energy):
    def pooled(label):
        return np.mean([e for (_, lab), values in energy.items() if lab == label for e in values])

    assert pooled("human") > pooled("ai_slop")


def test_some_human_artist_is_smoother_than_some_slop_account(energy):
    labels = defaultdict(set)
    for artist, label in energy:
        labels[artist].add(label)
    slop_accounts = [a for a, labs in labels.items() if labs == {"ai_slop"}]
    smoothest_human = min(np.mean(v) for (_, label), v in energy.items() if label == "human")
    grainiest_slop = max(np.mean(energy[(a, "ai_slop")]) for a in slop_accounts)
    assert smoothest_human < grainiest_slop


def test_sizes_vary_within_each_class(platform, manifest):
    shapes = defaultdict(set)
    for row in manifest:
        with Image.open(platform.root / row["path"]) as img:
            shapes[row["label"]].add(tuple(sorted(img.size)))
    assert len(shapes["human"]) >= 3 and len(shapes["ai_slop"]) >= 3


def test_refuses_non_empty_unrelated_folder(tmp_path):
    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(FileExistsError, match="refusing"):
        generate_platform(unrelated, scale=SCALE)
    assert [p.name for p in unrelated.iterdir()] == ["holiday.jpg"]
    assert (unrelated / "holiday.jpg").read_bytes() == b"not ours"


def test_regenerating_replaces_a_previous_platform(platform):
    before = _file_hashes(platform.root)
    (platform.root / "images" / "stale.png").write_bytes(b"left over")
    generate_platform(platform.root, seed=0, scale=SCALE)  # same seed: the fixture stays valid
    assert _file_hashes(platform.root) == before
