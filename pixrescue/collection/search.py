"""k-nearest-neighbour search over one method's fingerprints, at any size.

Backends, chosen by measurement (``benchmarks/dupes_scale.py``, 2 cores):

- hashes: exact Hamming search; FAISS's ``IndexBinaryFlat`` when the optional
  ``faiss-cpu`` is installed (1.3 ms per query at a million hashes), numpy's
  popcount otherwise (15 ms);
- embeddings: exact inner products with numpy below ``IVF_FROM`` rows (8 ms at
  100,000); from there a FAISS inverted-file index (``IndexIVFFlat``, sqrt(N)
  lists, ``NPROBE`` of them searched) because an exact scan of a million
  128-d vectors takes 60-80 ms whatever library does it;
- combined: the union of both methods' candidates, ranked by the exact
  combined distance.

Stored variants (flips and turns indexed with ``--rotations``) are separate
rows that point back to their record; a record's distance is its nearest row's.
"""

from __future__ import annotations

import numpy as np

IVF_FROM = 200_000
NPROBE = 32


def hamming_distances(table: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(N,) bits between each record of (N, V) uint64 hashes and ``query``'s
    hashes: the smallest over both sides' variants."""
    best = np.full(len(table), 64, dtype=np.uint8)
    for q in np.asarray(query, dtype=np.uint64):
        np.minimum(best, np.bitwise_count(table ^ q).min(axis=1), out=best)
    return best.astype(np.float32)


def cosine_distances(table: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(N,) cosine distance between each record of (N, V, D) unit vectors and
    ``query``'s (Q, D) vectors: the smallest over both sides' variants."""
    query = np.asarray(query, dtype=np.float32).reshape(-1, table.shape[-1])
    similarity = np.einsum("nvd,qd->nvq", table, query).reshape(len(table), -1).max(axis=1)
    return np.maximum(1.0 - similarity, 0.0)


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    # One query at a time gains nothing from threads, and OpenMP threads that
    # spin-wait slow everything else on a small machine down.
    faiss.omp_set_num_threads(1)
    return faiss


class _Searcher:
    index = None

    @property
    def backend(self) -> str:
        """"faiss" or "numpy": what answers this searcher's queries."""
        return "numpy" if self.index is None else "faiss"


class HashSearcher(_Searcher):
    """Exact Hamming search over (N, V) uint64 hashes."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.n, self.variants = table.shape
        self.rows = np.ascontiguousarray(table.reshape(-1))
        faiss = _faiss()
        self.index = None
        if faiss is not None and len(self.rows):
            self.index = faiss.IndexBinaryFlat(64)
            self.index.add(self.rows.view(np.uint8).reshape(-1, 8))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(record indices, distances) of the ``k`` records nearest to any of ``query``'s hashes."""
        fetch = min(len(self.rows), k * self.variants)
        if fetch == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.index is not None:
            codes = np.ascontiguousarray(np.asarray(query, dtype=np.uint64)).view(np.uint8).reshape(-1, 8)
            distance, rows = self.index.search(codes, fetch)
            return _best_per_record(rows.ravel() // self.variants, distance.ravel().astype(np.float32), k)
        per_record = hamming_distances(self.table, query)
        order = smallest(per_record, k)
        return order, per_record[order]


class EmbeddingSearcher(_Searcher):
    """Cosine-distance search over (N, V, D) unit vectors."""

    def __init__(self, table: np.ndarray, nprobe: int = NPROBE) -> None:
        self.table = table
        self.n, self.variants, dim = table.shape
        self.rows = np.ascontiguousarray(table.reshape(-1, dim), dtype=np.float32)
        faiss = _faiss()
        self.index = None
        if faiss is not None and len(self.rows) >= IVF_FROM:
            lists = int(np.sqrt(len(self.rows)))
            quantizer = faiss.IndexFlatIP(dim)
            self.index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
            sample = self.rows[np.random.default_rng(0).permutation(len(self.rows))[: 40 * lists]]
            self.index.train(sample)
            self.index.add(self.rows)
            self.index.nprobe = nprobe
            self._quantizer = quantizer  # the index does not own it

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        fetch = min(len(self.rows), k * self.variants)
        if fetch == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = np.asarray(query, dtype=np.float32).reshape(-1, self.rows.shape[1])
        if self.index is not None:
            similarity, rows = self.index.search(query, fetch)
            keep = rows.ravel() >= 0
            distance = np.maximum(1 - similarity.ravel()[keep], 0)
            return _best_per_record(rows.ravel()[keep] // self.variants, distance, k)
        per_record = cosine_distances(self.table, query)
        order = smallest(per_record, k)
        return order, per_record[order]


def smallest(distance: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest distances, nearest first (ties by index)."""
    k = min(k, len(distance))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(distance, k - 1)[:k] if k < len(distance) else np.arange(len(distance))
    return part[np.lexsort((part, distance[part]))]


def _best_per_record(records: np.ndarray, distance: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((records, distance))
    seen, out_i, out_d = set(), [], []
    for i in order:
        r = int(records[i])
        if r not in seen:
            seen.add(r)
            out_i.append(r)
            out_d.append(float(distance[i]))
            if len(out_i) == k:
                break
    return np.array(out_i, dtype=np.int64), np.array(out_d, dtype=np.float32)

