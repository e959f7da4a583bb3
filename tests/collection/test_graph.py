"""Duplicate groups by range search (collection/graph.py) against the
comparison of every pair: the same edges, the same groups."""

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

import pixrescue
from helpers import jpeg_bytes
from pixrescue.collection import graph, similarity
from pixrescue.training.augment import caption

pytest.importorskip("numba")
pytest.importorskip("faiss")


def every_pair(monkeypatch):
    monkeypatch.setattr(similarity.Table, "candidates", lambda self, threshold: None)


def as_set(pairs):
    return set(zip(pairs[0].tolist(), pairs[1].tolist()))


@pytest.mark.parametrize("variants", [1, 8])
def test_hamming_range_search_finds_every_pair_within_the_radius_once(variants):
    rng = np.random.default_rng(variants)
    n = 3000
    table = rng.integers(0, 2**63, size=(n, variants), dtype=np.uint64)
    near = rng.integers(0, n, (n // 2, 2))
    for bits, (a, b) in zip(rng.integers(0, 14, len(near)), near):  # 0-13 bits: on both sides of 10
        flips = np.bitwise_xor.reduce(np.uint64(1) << rng.choice(64, bits, replace=False).astype(np.uint64)) \
            if bits else np.uint64(0)
        table[a, 0] = table[b, rng.integers(variants)] ^ flips
    for radius in (3, 10):
        found = graph.hamming_pairs(table, radius)
        distance = np.bitwise_count(table[:, None, 0, None] ^ table[None, :, :]).min(axis=2)
        a, b = np.nonzero(distance <= radius)
        expected = {(i, j) for i, j in zip(a.tolist(), b.tolist()) if i < j}
        assert len(found[0]) == len(expected) and as_set(found) == expected
        assert len(expected) > n * radius // 80  # the planted pairs are there


@pytest.fixture(scope="module")
def folder(tmp_path_factory, photo):
    """Real photographs and their copies: smaller and recompressed, cropped and
    captioned, mirrored, turned; strangers alone."""
    root = tmp_path_factory.mktemp("photos")
    pictures = {"cat": photo, "astronaut": Image.fromarray(data.astronaut()),
                "coffee": Image.fromarray(data.coffee()), "rocket": Image.fromarray(data.rocket()),
                "camera": Image.fromarray(data.camera()).convert("RGB")}
    for name, image in pictures.items():
        w, h = image.size
        image.save(root / f"{name}.png")
        (root / f"{name}-small-q20.jpg").write_bytes(jpeg_bytes(image.resize((w // 2, h // 2)), 20))
        caption(image.crop((w // 10, h // 10, w - w // 10, h - h // 10)), "COPY").save(root / f"{name}-crop.png")
        ImageOps.mirror(image).save(root / f"{name}-mirror.png")
        image.rotate(90, expand=True).save(root / f"{name}-turned.png")
    Image.fromarray(data.immunohistochemistry()).save(root / "stranger.png")
    return root


def names(groups):
    return [[copy.path.name for copy in group] for group in groups]


@pytest.mark.parametrize("rotations", [False, True])
def test_range_search_groups_equal_all_pairs_groups_on_photographs(folder, tmp_path, monkeypatch, rotations):
    db = tmp_path / "catalog.db"
    pixrescue.index(folder, db, rotations=rotations)
    for method in similarity.METHODS:
        fast = pixrescue.dupes(folder, db, method)
        with monkeypatch.context() as patch:
            every_pair(patch)
            slow = pixrescue.dupes(folder, db, method)
        assert fast == slow, method
    combined = names(pixrescue.dupes(folder, db))
    assert any({"cat.png", "cat-small-q20.jpg"} <= set(group) for group in combined)
    assert not any("stranger.png" in group for group in combined)
    if rotations:
        assert any({"cat.png", "cat-turned.png"} <= set(group) for group in combined)


def test_components_join_chains_and_leave_singletons_out():
    groups = graph.components(7, np.array([0, 1, 4]), np.array([1, 3, 6]))
    assert [g.tolist() for g in groups] == [[0, 1, 3], [4, 6]]
    assert graph.components(3, np.zeros(0, int), np.zeros(0, int)) == []


def test_the_inverted_file_search_finds_the_planted_copies_among_many():
    """Above graph.IVF_FROM the embedding search is approximate: every planted copy is still found."""
    rng = np.random.default_rng(0)
    n = graph.IVF_FROM + 5000
    vectors = rng.standard_normal((n, 128)).astype(np.float32)
    copies = rng.choice(n, (400, 2), replace=False)
    noise = rng.standard_normal((400, 128)).astype(np.float32)
    noise *= (rng.uniform(0.2, 0.6, 400) / np.linalg.norm(noise, axis=1))[:, None]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[copies[:, 1]] = vectors[copies[:, 0]] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = similarity.Table(None, "cnn", vectors[:, None, :])
    found = as_set(table.edges(similarity.default_threshold("cnn")))
    planted = {(min(a, b), max(a, b)) for a, b in copies.tolist()}
    close = {pair for pair in planted if 1 - vectors[pair[0]] @ vectors[pair[1]] <= 0.3}
    assert len(close) > 350 and close <= found
    assert all(1 - vectors[a] @ vectors[b] <= 0.3 + 1e-6 for a, b in found)
