"""Near-duplicate groups and nearest neighbours over perceptual hashes.

The distance between two records is the Hamming distance between the first's
hash and the closest of the second's stored variants (one hash, or the 8 flips
and turns when it was indexed with rotations).  Search is exact brute force
with numpy's popcount, one block of rows at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Record

DEFAULT_METHOD = "phash"
DEFAULT_THRESHOLD = 10  # bits out of 64
_BLOCK = 2048


def _matrix(records: list[Record], method: str) -> np.ndarray:
    """(N, V) uint64 hashes; records with fewer variants repeat their first."""
    width = max(len(r.hashes[method]) for r in records)
    rows = [(r.hashes[method] * width)[:width] if len(r.hashes[method]) == 1 else r.hashes[method] for r in records]
    return np.array(rows, dtype=np.uint64)


def hamming_to(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Distance from the closest variant of ``query`` (Q,) to each row of ``table`` (N, V)."""
    best = np.full(len(table), 64, dtype=np.uint8)
    for q in query:  # one variant at a time keeps memory to one (N, V) block
        np.minimum(best, np.bitwise_count(table ^ q).min(axis=1), out=best)
    return best


def top_k(query: np.ndarray, table: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` rows nearest to ``query``, nearest first."""
    distance = hamming_to(query, table)
    k = min(k, len(distance))
    if k == 0:
        return np.zeros(0, dtype=np.int64), distance[:0]
    part = np.argpartition(distance, k - 1)[:k] if k < len(distance) else np.arange(len(distance))
    order = part[np.lexsort((part, distance[part]))]
    return order, distance[order]


def distances_to(query: list[int], records: list[Record], method: str) -> np.ndarray:
    """Distance from each variant of ``query`` (min over them) to every record."""
    if not records:
        return np.zeros(0, dtype=np.int64)
    return hamming_to(np.array(query, dtype=np.uint64), _matrix(records, method)).astype(np.int64)


def nearest(query: list[int], records: list[Record], method: str = DEFAULT_METHOD, k: int = 5) -> list[tuple[Record, int]]:
    if not records:
        return []
    order, distance = top_k(np.array(query, dtype=np.uint64), _matrix(records, method), k)
    return [(records[i], int(d)) for i, d in zip(order, distance)]


@dataclass
class Group:
    members: list[Record]  # the recommended copy first
    distances: list[int]  # of each member to the recommended copy


def groups(records: list[Record], method: str = DEFAULT_METHOD, threshold: int = DEFAULT_THRESHOLD) -> list[Group]:
    """Connected components of the 'within ``threshold`` bits' graph, largest first."""
    n = len(records)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n:
        table = _matrix(records, method)
        plain = table[:, 0]
        for start in range(0, n, _BLOCK):
            block = plain[start : start + _BLOCK]
            bits = np.bitwise_count(block[:, None, None] ^ table[None, :, :]).min(axis=2)
            for a, b in zip(*np.nonzero(bits <= threshold)):
                a = int(a) + start
                if a < b:
                    ra, rb = find(a), find(int(b))
                    if ra != rb:
                        parent[ra] = rb
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    result = []
    for indices in members.values():
        if len(indices) < 2:
            continue
        ranked = sorted((records[i] for i in indices), key=lambda r: (r.quality_key(), str(r.path)), reverse=True)
        result.append(Group(ranked, distances_to(ranked[0].hashes[method], ranked, method).tolist()))
    result.sort(key=lambda g: (-len(g.members), str(g.members[0].path)))
    return result
