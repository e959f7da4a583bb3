"""Near-duplicate groups and nearest neighbours over fingerprints.

Methods and their distances:

- ``ahash``, ``dhash``, ``phash``, ``whash``: Hamming distance, bits of 64;
- ``ae``, ``cnn``: cosine distance of the learned embeddings (0 to 2);
- ``combined`` (the default): min(phash bits / phash threshold, cnn distance /
  cnn threshold).  Each part is scaled so that 1.0 is its own duplicate
  threshold, so a pair is a duplicate (distance <= 1) when either part says
  so: pHash is certain about recompressed and resized copies, the classifier
  embedding also catches crops, captions and mirror images.

A record stores one fingerprint per method, or 8 (its flips and quarter
turns) when indexed with ``--rotations``; the distance from a query is the
smallest over the stored variants.

Grouping joins the pairs within the threshold into connected components;
``graph.py`` finds the pairs by range searches (near-linear time), or, without
numba or FAISS, every pair is compared one block of rows at a time (numpy's
popcount for hashes, one matrix product for embeddings); nearest-neighbour queries go
through ``search.py``, which switches to FAISS indexes at sizes where they
pay (``benchmarks/dupes_scale.py`` measures both up to a million).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from . import graph
from .catalog import Record
from .fingerprints import EMBEDDINGS
from .search import EmbeddingSearcher, HashSearcher, cosine_distances, hamming_distances, smallest

HASH_METHODS = ("ahash", "dhash", "phash", "whash")
EMBEDDING_METHODS = tuple(EMBEDDINGS)
METHODS = (*HASH_METHODS, *EMBEDDING_METHODS, "combined")
COMBINED = ("phash", "cnn")
DEFAULT_METHOD = "combined"
HASH_THRESHOLD = 10  # bits out of 64
_BLOCK = 2048
OVERFETCH = 4  # combined search: each part proposes this many times k candidates


# Cosine-distance thresholds of the embeddings, chosen with
# `python benchmarks/dupes_accuracy.py --sweep` on the dev pictures.  Under
# the classifier embedding the nearest two different dev pictures are 0.355
# apart: 0.30 leaves a margin below that and still catches 10 % crops,
# captions and most mirror images.  Under the autoencoder's code they are
# 0.073 apart (0.047 among held-out training pictures): 0.05.
EMBEDDING_THRESHOLDS = {"cnn": 0.30, "ae": 0.05}


def default_threshold(method: str) -> float:
    """The largest distance between copies: 10 bits for hashes, 1.0 for the
    combined method, ``EMBEDDING_THRESHOLDS`` for an embedding."""
    if method in HASH_METHODS:
        return float(HASH_THRESHOLD)
    if method == "combined":
        return 1.0
    return EMBEDDING_THRESHOLDS[method]


def distance_unit(method: str) -> str:
    """What a distance of ``method`` counts, for table headings."""
    if method in HASH_METHODS:
        return f"{method}, differing bits of 64"
    if method == "combined":
        return "combined, 1.0 = duplicate threshold"
    return f"{method}, cosine distance (0 to 2)"


class Table:
    """One method's fingerprints of many records, for distance queries."""

    def __init__(self, records: list[Record] | None, method: str, data: np.ndarray | None = None) -> None:
        """From ``records``, or (``records`` None) from ``data``: (N, V) uint64
        hashes or (N, V, D) unit vectors, or for ``combined`` a list of both."""
        self.method = method
        if method == "combined":
            self.parts = [Table(records, m, None if data is None else d) for m, d in zip(COMBINED, data or COMBINED)]
            return
        if data is not None:
            self.data = data
        elif method in HASH_METHODS:
            lists = [r.hashes[method] for r in records]
            width = max((len(v) for v in lists), default=1)
            self.data = np.array([(v * width)[:width] for v in lists], dtype=np.uint64).reshape(len(records), width)
        else:
            arrays = [r.embeddings[method] for r in records]
            width = max((len(a) for a in arrays), default=1)
            self.data = np.stack([np.resize(a, (width, a.shape[1])) for a in arrays]) if arrays else \
                np.zeros((0, 1, 128), np.float32)

    def __len__(self) -> int:
        return len(self.parts[0]) if self.method == "combined" else len(self.data)

    def distances(self, query, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Distance from ``query`` (its variants: the minimum over them) to each
        record (or to the records ``rows`` selects)."""
        if self.method == "combined":
            return np.minimum.reduce([p.distances(q, rows) / default_threshold(p.method)
                                      for p, q in zip(self.parts, query)])
        if self.method in HASH_METHODS:
            return hamming_distances(self.data[rows], query)
        return cosine_distances(self.data[rows], query)

    def block(self, start: int, stop: int) -> np.ndarray:
        """(B, N) distances from the plain fingerprint of records start..stop to every record."""
        if self.method == "combined":
            return np.minimum.reduce([p.block(start, stop) / default_threshold(p.method) for p in self.parts])
        plain = self.data[start:stop, 0]
        if self.method in HASH_METHODS:
            return np.bitwise_count(plain[:, None, None] ^ self.data[None, :, :]).min(axis=2).astype(np.float32)
        flat = self.data.reshape(-1, self.data.shape[2])
        similarity = (plain @ flat.T).reshape(len(plain), len(self.data), -1).max(axis=2)
        return np.maximum(1.0 - similarity, 0.0)


    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distances from the plain fingerprint of each record ``a[i]`` to record ``b[i]`` (as ``block``)."""
        if self.method == "combined":
            return np.minimum.reduce([p.pair_distances(a, b) / default_threshold(p.method) for p in self.parts])
        plain = self.data[a, 0]
        if self.method in HASH_METHODS:
            return np.bitwise_count(plain[:, None] ^ self.data[b]).min(axis=1).astype(np.float32)
        similarity = np.einsum("pd,pvd->pv", plain, self.data[b]).max(axis=1)
        return np.maximum(1.0 - similarity, 0.0)

    def candidates(self, threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Pairs a < b that may lie within ``threshold`` (all that do), from the
        range searches of ``graph.py``; None where a backend is missing."""
        if self.method == "combined":
            found = [p.candidates(threshold * default_threshold(p.method)) for p in self.parts]
            if any(f is None for f in found):
                return None
            return graph.unique(np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]))
        if self.method in HASH_METHODS:
            return graph.hamming_pairs(self.data, int(np.floor(threshold + 1e-6)))
        return graph.cosine_pairs(self.data, threshold)

    def edges(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Every pair a < b whose distance (a's plain fingerprint to b's
        variants) is within ``threshold``: by range search, or by comparing
        every pair where a backend is missing."""
        found = self.candidates(threshold)
        if found is not None:
            close = self.pair_distances(*found) <= threshold
            return found[0][close], found[1][close]
        left, right = [], []
        for start in range(0, len(self), _BLOCK):
            a, b = np.nonzero(self.block(start, min(start + _BLOCK, len(self))) <= threshold)
            keep = a + start < b
            left.append(a[keep] + start)
            right.append(b[keep])
        return (np.concatenate(left), np.concatenate(right)) if left else (np.zeros(0, int), np.zeros(0, int))


def query_of(record: Record, method: str):
    if method == "combined":
        return [query_of(record, m) for m in COMBINED]
    if method in HASH_METHODS:
        return np.array(record.hashes[method], dtype=np.uint64)
    return record.embeddings[method]


def searcher(table: Table) -> HashSearcher | EmbeddingSearcher:
    if table.method in HASH_METHODS:
        return HashSearcher(table.data)
    return EmbeddingSearcher(table.data)


def nearest(query: Record, records: list[Record], method: str = DEFAULT_METHOD, k: int = 5) -> list[tuple[Record, float]]:
    """The ``k`` records nearest to ``query`` (a record of fingerprints), with distances."""
    if not records:
        return []
    table = Table(records, method)
    wanted = query_of(query, method)
    if method != "combined":
        order, distance = searcher(table).search(wanted, k)
        return [(records[i], float(d)) for i, d in zip(order, distance)]
    # Candidates from each part (a few more than k), ranked by the combined distance.
    candidates = np.unique(np.concatenate([searcher(part).search(q, OVERFETCH * k)[0]
                                           for part, q in zip(table.parts, wanted)]))
    distance = table.distances(wanted, candidates)
    return [(records[candidates[i]], float(distance[i])) for i in smallest(distance, k)]


@dataclass
class Group:
    members: list[Record]  # the recommended copy first
    distances: list[float]  # of each member to the recommended copy


def groups(records: list[Record], method: str = DEFAULT_METHOD, threshold: float | None = None,
           tie_break: Callable[[Record], float] | None = None) -> list[Group]:
    """Connected components of the 'within ``threshold``' graph, largest first."""
    return list(each_group(records, method, threshold, tie_break))


def rank(members: list[Record], tie_break: Callable[[Record], float] | None = None) -> list[Record]:
    """``members`` best first: resolution, then file quality (lossless beats any JPEG), then
    file size; with ``tie_break`` (a score, higher is better) the copies that tie with the
    best on resolution and file quality are ordered by it before their size."""
    ranked = sorted(members, key=lambda r: (r.quality_key(), str(r.path)), reverse=True)
    tied = [r for r in ranked if r.quality_key()[:2] == ranked[0].quality_key()[:2]]
    if tie_break is None or len(tied) < 2:
        return ranked
    scores = {r.path: tie_break(r) for r in tied}
    tied.sort(key=lambda r: (scores[r.path], r.quality_key(), str(r.path)), reverse=True)
    return tied + ranked[len(tied):]


def each_group(records: list[Record], method: str = DEFAULT_METHOD, threshold: float | None = None,
               tie_break: Callable[[Record], float] | None = None) -> Iterator[Group]:
    """``groups``, one at a time: the components are found and ordered first,
    each group's members ranked (``rank``) and measured when it is asked for."""
    threshold = default_threshold(method) if threshold is None else threshold
    table = Table(records, method)
    found = graph.components(len(records), *table.edges(threshold))
    best = [max(indices, key=lambda i: (records[i].quality_key(), str(records[i].path))) for indices in found]
    for k in sorted(range(len(found)), key=lambda k: (-len(found[k]), str(records[best[k]].path))):
        ranked = rank([records[i] for i in found[k]], tie_break)
        distance = Table(ranked, method).distances(query_of(ranked[0], method))
        yield Group(ranked, [round(float(d), 4) for d in distance])
