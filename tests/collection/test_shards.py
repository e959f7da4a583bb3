"""Catalogue shards: many writers at once, one merge, no row lost or doubled."""

import multiprocessing
import sqlite3

import numpy as np

from pixrescue.collection import catalog, shards
from pixrescue.collection.fingerprints import EMBEDDINGS, METHODS


def row(key: str, value: int) -> tuple:
    vector = np.zeros((1, 128), np.float32)
    vector[0, value % 128] = 1
    return (key, value, value, 8, 8, "PNG", None, 1, 0, *(catalog._pack([value]) for _ in METHODS),
            *(catalog._pack_vectors(vector) for _ in EMBEDDINGS))


def writer(folder, worker: int, shard_count: int) -> None:
    for s in range(shard_count):
        # Keys 0-59 of every shard are shared by all the writers: the same file fingerprinted twice.
        shards.write(folder, [row(f"shared/{i}.png", i) for i in range(60)]
                     + [row(f"w{worker}/s{s}/{i}.png", worker * 1000 + i) for i in range(40)])


def test_concurrent_shard_writers_lose_no_rows(tmp_path):
    db = tmp_path / "catalog.db"
    folder = shards.folder_of(db)
    (folder).mkdir()
    (folder / ".pxr-unfinished.part").write_bytes(b"half a shard")  # a writer killed mid-write
    processes = [multiprocessing.get_context("spawn").Process(target=writer, args=(folder, w, 5)) for w in range(4)]
    for p in processes:
        p.start()
    merged = shards.merge(db)  # while they write: only complete shards are taken
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    merged += shards.merge(db)
    assert merged == 4 * 5 * 100
    with sqlite3.connect(db) as connection:
        keys = [r[0] for r in connection.execute("SELECT path FROM images")]
    expected = {f"shared/{i}.png" for i in range(60)} | {
        f"w{w}/s{s}/{i}.png" for w in range(4) for s in range(5) for i in range(40)}
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected
    assert not list(folder.glob("*" + shards.SUFFIX))  # merged shards are gone
    records = {r.key: r for r in catalog.records(db, tmp_path)}
    assert records["w3/s4/7.png"].hashes["phash"] == [3007] and records["w3/s4/7.png"].size == 3007
    assert shards.merge(db) == 0  # nothing left: a second merge changes nothing


def test_a_shard_merged_twice_changes_nothing(tmp_path):
    db = tmp_path / "catalog.db"
    shard = shards.write(tmp_path / "s", [row("a.png", 1), row("b.png", 2)])
    copy = shard.with_name("again" + shards.SUFFIX)
    copy.write_bytes(shard.read_bytes())  # as if a merge had stopped between its commit and the delete
    assert shards.merge(db, tmp_path / "s") == 4
    assert sorted(r.key for r in catalog.records(db, tmp_path)) == ["a.png", "b.png"]
    assert shards.write(tmp_path / "s", []) is None
