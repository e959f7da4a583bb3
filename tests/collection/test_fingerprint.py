import pytest
from PIL import Image, ImageOps

from helpers import decode, jpeg_bytes
from pixrescue.collection.fingerprints import METHODS, hamming, perceptual_hashes


def distances(a, b):
    ha, hb = perceptual_hashes(a), perceptual_hashes(b)
    return {name: hamming(ha[name][0], hb[name][0]) for name in METHODS}


def test_recompressed_and_resized_copies_stay_close(photo):
    copy = decode(jpeg_bytes(photo.resize((photo.width // 2, photo.height // 2)), 20))
    for name, bits in distances(photo, copy).items():
        assert bits <= 8, name


def test_a_different_image_is_far(photo, gray_photo):
    for name, bits in distances(photo, gray_photo.resize(photo.size)).items():
        assert bits >= 16, name


def test_rotation_by_one_degree_stays_within_a_few_bits(photo):
    rotated = photo.rotate(1, resample=Image.BICUBIC)
    assert distances(photo, rotated)["phash"] <= 6


def test_rotations_option_matches_mirrored_copies(photo):
    mirrored = ImageOps.mirror(photo)
    plain = perceptual_hashes(photo)["phash"][0]
    variants = perceptual_hashes(mirrored, rotations=True)["phash"]
    assert len(variants) == 8
    assert hamming(plain, perceptual_hashes(mirrored)["phash"][0]) > 10
    assert min(hamming(plain, v) for v in variants) <= 2


def test_transparency_is_composited_on_white(photo):
    transparent = photo.convert("RGBA")
    transparent.putalpha(0)
    white = Image.new("RGB", photo.size, "white")
    assert perceptual_hashes(transparent) == perceptual_hashes(white)


@pytest.mark.parametrize("with_faiss", [True, False])
def test_hash_search_returns_the_nearest_rows_in_order(with_faiss, monkeypatch):
    import numpy as np

    from pixrescue.collection import search

    if with_faiss:
        pytest.importorskip("faiss")
    else:
        monkeypatch.setattr(search, "_faiss", lambda: None)
    table = np.array([[0b1111], [0b0001], [0b0000], [0b0111], [0b0011]], dtype=np.uint64)
    assert search.HashSearcher(table).backend == ("faiss" if with_faiss else "numpy")
    order, distance = search.HashSearcher(table).search(np.array([0], dtype=np.uint64), 3)
    assert order.tolist() == [2, 1, 4] and distance.tolist() == [0, 1, 2]
    order, distance = search.HashSearcher(table).search(np.array([0], dtype=np.uint64), 10)
    assert order.tolist() == [2, 1, 4, 3, 0]
    # a variant list: the closest variant counts
    order, distance = search.HashSearcher(table).search(np.array([0b1111, 0b1000], dtype=np.uint64), 1)
    assert order.tolist() == [0] and distance.tolist() == [0]
