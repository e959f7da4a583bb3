"""Learned fingerprints (autoencoder, classifier embedding), the combined
method, the search backends and catalog upgrades."""

import sqlite3

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from golden import ae_reconstruction, assert_golden
from pixrescue import cards, decode, encode, fingerprint, zoo
from pixrescue.cli import METHOD_NAMES
from pixrescue.collection import catalog, search, similarity
from pixrescue.collection.catalog import Record
from pixrescue.collection.fingerprints import EMBEDDINGS, thumbnail
from pixrescue.imaging.jpeg import compress
from pixrescue.training.augment import caption


def record(image, name):
    prints = fingerprint(image)
    hashes = {m: prints[m] for m in ("ahash", "dhash", "phash", "whash")}
    return Record(name, 0, image.width, image.height, None, None, hashes, {m: prints[m] for m in EMBEDDINGS})


@pytest.fixture(scope="module")
def pictures(photo):
    w, h = photo.size
    return {
        "original": photo,
        "small-q20": compress(photo.resize((w // 2, h // 2)), 20),
        "crop-caption": caption(photo.crop((w // 10, h // 10, w - w // 10, h - h // 10)), "WHEN THE TESTS PASS"),
        "mirror": ImageOps.mirror(photo),
        "astronaut": Image.fromarray(data.astronaut()),
        "coffee": Image.fromarray(data.coffee()),
    }


@pytest.mark.quality
def test_autoencoder_reconstructs_from_its_code(photo):
    """Floors: the held-out reconstruction PSNR measured in training less 3 dB (one photograph,
    not the set); and golden."""
    reconstruction = ae_reconstruction()
    target = thumbnail(photo)[0].numpy()
    assert reconstruction >= zoo.load_card(EMBEDDINGS["ae"])["validation"]["reconstruction_psnr"] - 3.0
    assert_golden("autoencoder.thumb64/reconstruction_psnr", reconstruction)
    rebuilt = np.asarray(decode(encode(photo)), dtype=float) / 255
    other = thumbnail(Image.fromarray(data.astronaut()))[0].numpy()
    assert np.mean((rebuilt - target) ** 2) < np.mean((rebuilt - other) ** 2) / 2


def pixel_distance(a: Image.Image, b: Image.Image) -> float:
    """Cosine distance of the mean-removed thumbnails: what the embeddings must do better than."""
    x, y = (thumbnail(image)[0].numpy().ravel().astype(np.float64) for image in (a, b))
    x, y = x - x.mean(), y - y.mean()
    return float(1 - x @ y / np.linalg.norm(x) / np.linalg.norm(y))


@pytest.mark.quality
@pytest.mark.parametrize("method", ["cnn", "ae"])
def test_embeddings_put_copies_nearer_than_other_pictures(pictures, method):
    """Floor: the thumbnails' own pixels, measured here, for the cropped and captioned copy."""
    prints = {name: fingerprint(image)[method][0] for name, image in pictures.items()}
    distance = {name: 1 - prints["original"] @ prints[name] for name in pictures}
    pixels = {name: pixel_distance(pictures["original"], pictures[name]) for name in pictures}
    stranger = min(distance["astronaut"], distance["coffee"])
    assert distance["small-q20"] < stranger and distance["crop-caption"] < stranger
    pixel_gap = min(pixels["astronaut"], pixels["coffee"]) - pixels["crop-caption"]
    assert stranger - distance["crop-caption"] > pixel_gap


@pytest.mark.quality
def test_cnn_threshold_separates_copies_from_other_pictures(pictures):
    threshold = similarity.default_threshold("cnn")
    prints = {name: fingerprint(image)["cnn"][0] for name, image in pictures.items()}
    assert 1 - prints["original"] @ prints["small-q20"] <= threshold
    assert 1 - prints["original"] @ prints["astronaut"] > threshold


@pytest.mark.quality
def test_combined_groups_the_copies_and_not_the_strangers(pictures):
    records = [record(image, name) for name, image in pictures.items()]
    found = similarity.groups(records, "combined")
    grouped = {r.path for g in found for r in g.members}
    assert {"original", "small-q20"} <= grouped
    assert not {"astronaut", "coffee"} & grouped
    best = [g for g in found if any(r.path == "original" for r in g.members)][0]
    assert best.members[0].path == "original"  # the larger, lossless copy is recommended
    top = similarity.nearest(records[2], records, "combined", k=3)  # crop-caption queries
    assert {r.path for r, _ in top} == {"crop-caption", "original", "small-q20"}


@pytest.mark.quality
def test_rotations_let_the_embeddings_match_a_quarter_turn(photo):
    turned = photo.rotate(90, expand=True)
    stored = fingerprint(photo, rotations=True)["cnn"]
    query = fingerprint(turned)["cnn"][0]
    assert stored.shape == (8, 128)
    assert (1 - stored @ query).min() < 1 - fingerprint(photo)["cnn"][0] @ query
    threshold = similarity.default_threshold("cnn")
    assert (1 - stored @ query).min() <= threshold
    stranger = fingerprint(Image.fromarray(data.astronaut()), rotations=True)["cnn"]
    assert (1 - stranger @ query).min() > threshold


def test_hash_search_is_the_same_with_and_without_faiss(monkeypatch):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    table = rng.integers(0, 2**63, size=(5000, 2), dtype=np.uint64)
    query = table[123] ^ np.uint64(0b1011)
    with_faiss = search.HashSearcher(table)
    monkeypatch.setattr(search, "_faiss", lambda: None)
    plain = search.HashSearcher(table)
    assert with_faiss.backend == "faiss" and plain.backend == "numpy"
    a, da = with_faiss.search(query, 5)
    b, db = plain.search(query, 5)
    assert a[0] == b[0] == 123 and np.array_equal(da, db)


def test_inverted_file_search_finds_what_exact_search_finds(monkeypatch):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((20000, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    monkeypatch.setattr(search, "IVF_FROM", 10000)
    approximate = search.EmbeddingSearcher(vectors[:, None, :])
    assert approximate.backend == "faiss"
    hits = 0
    for i in range(0, 2000, 100):
        query = vectors[i] + 0.02 * rng.standard_normal(128).astype(np.float32)
        found, distance = approximate.search(query / np.linalg.norm(query), 3)
        hits += found[0] == i
        assert np.all(np.diff(distance) >= 0)
    assert hits >= 18


def test_an_old_catalog_is_refused_by_dupes_and_rebuilt_by_index(tmp_path, photo):
    photo.save(tmp_path / "a.png")
    db = tmp_path / catalog.DB_NAME
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.execute("INSERT INTO meta VALUES ('schema', '1')")
    connection.close()
    with pytest.raises(catalog.CatalogVersionError, match="index"):
        list(catalog.records(db))
    assert catalog.update(tmp_path).added == 1
    assert [r.path.name for r in catalog.records(db)] == ["a.png"]


def test_the_cli_offers_every_method():
    assert set(METHOD_NAMES) == set(similarity.METHODS)


def test_embedding_cards_describe_their_training():
    for model in EMBEDDINGS.values():
        card = cards.read(cards.card_path(model))
        assert card["training"]["command"].startswith("pixrescue train " + model)
        assert 0 < card["validation"]["recall_at_1"] <= 1
