"""The 'within the threshold' graph of a collection, without comparing every pair.

``similarity.groups`` takes the connected components of the graph whose edges
join record ``a`` to every later record ``b`` whose stored variants hold one
within the threshold of ``a``'s plain fingerprint.  This module finds those
edges as range searches, each backend optional:

- hashes (needs ``numba``): exact multi-index hashing.  The 64 bits are cut
  into 4 chunks of 16; two hashes at most ``r`` bits apart agree within
  ``r // 4`` bits on at least one chunk (pigeonhole), so each query probes
  the buckets of its chunks with every flip of at most ``r // 4`` bits, and
  checks the candidates' whole distance.  Nothing within ``r`` is missed;
- embeddings (needs FAISS): a range search on inner products, exact
  (``IndexFlatIP``) below ``IVF_FROM`` stored rows; from there an inverted-file
  index of 4-bit product-quantized codes (``IndexIVFPQFastScan``,
  ``GRAPH_NPROBE`` of sqrt(rows) lists searched, the radius widened by
  ``PQ_MARGIN``), and a pair found from either side: approximate, its recall
  is measured by ``benchmarks/scale.py``.

A backend that is missing answers ``None``, and the caller compares every
pair instead (the same edges, quadratic time).  Candidates are returned, not
verdicts: the caller keeps those whose exact distance is within the threshold.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..training.machine import usable_cores
from .search import _faiss

CHUNKS = 4  # of 16 bits
MAX_FLIPS = 3  # per chunk (697 probes a chunk); wider radii compare every pair
# Lists searched: 64 found every planted copy at 10^6 (recall 1.0, 157 s on 2 busy cores); 32 missed
# 0.03 % of them, copies that only the embedding joins (benchmarks/scale.py dupes).
GRAPH_NPROBE = 64
PQ_MARGIN = 0.3  # of inner product: 1.0 recall of the planted copies at 10^5 (0.9967 with 0.25)
# An exact range search of N rows costs N^2 inner products (84 s at 100,000 on 2
# cores): the inverted-file index takes over from here.
IVF_FROM = 20_000
_QUERY_BLOCK = 16_384  # embedding queries per FAISS call (bounds its result buffers)
_kernel = None


def _numba_kernel():
    """The compiled probe loop, or None without numba."""
    global _kernel
    if _kernel is not None:
        return _kernel
    try:
        from numba import njit, types
        from numba.extending import intrinsic
    except ImportError:
        return None

    @intrinsic
    def popcount(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])
        return types.uint64(types.uint64), codegen

    @njit(nogil=True, cache=True)
    def probe(sorted_codes, order, starts, queries, variants, radius, flips, masks, first, last):
        capacity = 1024
        left = np.empty(capacity, np.int64)
        right = np.empty(capacity, np.int64)
        found = 0
        chunks = sorted_codes.shape[0]
        for q in range(first, last):
            code = queries[q]
            for c in range(chunks):
                key = (code >> np.uint64(16 * c)) & np.uint64(0xFFFF)
                for m in range(masks.shape[0]):
                    bucket = key ^ masks[m]
                    for p in range(starts[c, bucket], starts[c, bucket + 1]):
                        x = code ^ sorted_codes[c, p]
                        if popcount(x) > radius:
                            continue
                        row = order[c, p]
                        if row // variants <= q:
                            continue
                        earlier = False  # the same pair, found again through a later chunk
                        for c2 in range(c):
                            if popcount((x >> np.uint64(16 * c2)) & np.uint64(0xFFFF)) <= flips:
                                earlier = True
                                break
                        if earlier:
                            continue
                        if found == capacity:
                            capacity *= 2
                            grown_left = np.empty(capacity, np.int64)
                            grown_right = np.empty(capacity, np.int64)
                            grown_left[:found] = left[:found]
                            grown_right[:found] = right[:found]
                            left, right = grown_left, grown_right
                        left[found] = q
                        right[found] = row
                        found += 1
        return left[:found], right[:found]

    _kernel = probe
    return _kernel


def hamming_pairs(table: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Pairs (a, b), a < b, of (N, V) uint64 hashes where some variant of b is
    within ``radius`` bits of a's plain hash (variant 0): all of them, each
    once.  None without numba, or for a radius too wide to probe."""
    kernel = _numba_kernel()
    flips = max(radius, 0) // CHUNKS
    if kernel is None or flips > MAX_FLIPS or radius < 0:
        return None
    n, variants = table.shape
    rows = np.ascontiguousarray(table.reshape(-1))
    keys = np.stack([(rows >> np.uint64(16 * c)) & np.uint64(0xFFFF) for c in range(CHUNKS)]).astype(np.int64)
    order = np.argsort(keys, axis=1, kind="stable")
    sorted_codes = np.ascontiguousarray(rows[order])
    starts = np.stack([np.searchsorted(np.take_along_axis(keys[c], order[c], 0), np.arange(65_537))
                       for c in range(CHUNKS)])
    masks = np.array([m for m in range(65_536) if m.bit_count() <= flips], dtype=np.uint64)
    queries = np.ascontiguousarray(table[:, 0])
    # The kernel releases the GIL: one slice of the queries per core.
    cuts = np.linspace(0, n, min(usable_cores(), max(n, 1)) + 1).astype(int)
    with ThreadPoolExecutor(len(cuts) - 1) as pool:
        parts = list(pool.map(lambda span: kernel(sorted_codes, order, starts, queries, variants, radius, flips,
                                                  masks, span[0], span[1]), zip(cuts[:-1], cuts[1:])))
    left = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    right = np.concatenate([p[1] for p in parts]) // variants if parts else np.zeros(0, np.int64)
    return unique(left, right)


def cosine_pairs(table: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Candidate pairs (a, b), a < b, of (N, V, D) unit vectors where some
    variant of b is within cosine distance ``radius`` of a's plain vector (a
    little beyond it too: the caller filters).  Exact below ``IVF_FROM`` rows;
    None without FAISS."""
    faiss = _faiss()
    if faiss is None:
        return None
    n, variants, dim = table.shape
    rows = np.ascontiguousarray(table.reshape(-1, dim), dtype=np.float32)
    # FAISS's OpenMP threads slowed k-means 80-fold on a busy 2-core machine: one
    # OpenMP thread, and the query blocks searched in parallel (FAISS releases the GIL).
    if len(rows) < IVF_FROM:
        index = faiss.IndexFlatIP(dim)
        margin = 1e-4  # FAISS keeps inner products strictly above the radius
    else:
        # 4-bit product-quantized codes scanned with SIMD tables: its inner products are
        # approximate, so the radius is widened by PQ_MARGIN and the caller checks each pair.
        lists = int(np.sqrt(len(rows)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQFastScan(quantizer, dim, lists, dim // 4, 4, faiss.METRIC_INNER_PRODUCT)
        index.train(rows[np.random.default_rng(0).permutation(len(rows))[: 40 * lists]])
        index.nprobe = GRAPH_NPROBE
        margin = PQ_MARGIN
    index.add(rows)
    queries = np.ascontiguousarray(table[:, 0], dtype=np.float32)

    def block(start: int) -> tuple[np.ndarray, np.ndarray]:
        lims, _, found = index.range_search(queries[start:start + _QUERY_BLOCK], 1.0 - radius - margin)
        return np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64)), found // variants

    with ThreadPoolExecutor(usable_cores()) as pool:
        left, right = zip(*pool.map(block, range(0, n, _QUERY_BLOCK))) if n else ([np.zeros(0, np.int64)],) * 2
    left, right = np.concatenate(left), np.concatenate(right)
    # A pair found from either side is a candidate: an inverted-file search
    # that misses b from a's lists may still find a from b's.
    keep = right != left
    return unique(np.minimum(left, right)[keep], np.maximum(left, right)[keep])


def unique(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(left) == 0:
        return left.astype(np.int64), right.astype(np.int64)
    pairs = np.unique(np.stack([left, right], axis=1).astype(np.int64), axis=0)
    return pairs[:, 0], pairs[:, 1]


def components(n: int, left: np.ndarray, right: np.ndarray) -> list[np.ndarray]:
    """The connected components of more than one of n nodes joined by the
    edges (left[i], right[i]): arrays of node indices, ascending."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    if n == 0 or len(left) == 0:
        return []
    graph = coo_array((np.ones(len(left), np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    in_group = np.flatnonzero(sizes[labels] > 1)
    order = in_group[np.argsort(labels[in_group], kind="stable")]
    return np.split(order, np.cumsum(np.bincount(labels[order])[np.unique(labels[order])])[:-1])
