"""The FAISS backend of :func:`modecover.neighbors.knn` (``faiss-cpu``): an exact
``IndexFlatL2`` lists the float32 candidates, which go through the same float64 re-check
as the torch backend's, so the answers are the same."""

from __future__ import annotations

import numpy as np
import torch

from modecover.neighbors._bounds import _error_bounds
from modecover.neighbors._select import _EXTRA_CANDIDATES, _select_exact
from modecover.neighbors._tiles import _blocks


def _knn_faiss(a, b, pa, pb, k, exclude_self, block, threads):
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("backend='faiss' needs the faiss-cpu package: pip install faiss-cpu") from err
    old_threads = faiss.omp_get_max_threads()
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    try:
        return _faiss_search(faiss, a, b, pa, pb, k, exclude_self, block)
    finally:
        faiss.omp_set_num_threads(old_threads)


def _faiss_search(faiss, a, b, pa, pb, k, exclude_self, block):
    index = faiss.IndexFlatL2(pb.x.shape[1])
    index.add(pb.x.numpy())
    n, m = len(a), len(b)
    kk = min(k + _EXTRA_CANDIDATES + int(exclude_self), m)
    out_d = np.empty((n, k), dtype=np.float64)
    out_i = np.empty((n, k), dtype=np.int64)
    for rows in _blocks(n, block):
        sq, idx = index.search(pa.x[rows].numpy(), kk)
        nb = sq.shape[0]
        sq = sq.astype(np.float64)
        if exclude_self:
            self_idx = np.arange(rows.start, rows.stop)[:, None]
            sq[idx == self_idx] = np.inf
            order = np.argsort(sq, axis=1, kind="stable")
            sq, idx = np.take_along_axis(sq, order, 1), np.take_along_axis(idx, order, 1)
        # faiss computes the norms in float32 too: twice the torch keys' error bound
        torch_bound = _error_bounds(pa, pb, rows)
        bound = 2.0 * torch_bound
        thr = sq[:, k - 1] + 2.0 * bound
        inside = sq <= thr[:, None]
        # every listed point (self aside) under the threshold: more may lie beyond the list
        listed_all = inside.sum(axis=1) == np.isfinite(sq).sum(axis=1)
        full = np.flatnonzero(listed_all) if kk < m else np.empty(0, dtype=np.int64)
        inside[full] = False
        cr, pos = np.nonzero(inside)
        cc = idx[cr, pos].astype(np.int64)
        if len(full):  # rescan those rows with torch keys (threshold shifted by |a_i|^2)
            sub_rows = np.arange(rows.start, rows.stop)[full]
            keys = torch.addmm(pb.sq, pa.x[torch.from_numpy(sub_rows)], pb.x.T, alpha=-2.0).double().numpy()
            if exclude_self:
                keys[np.arange(len(full)), sub_rows] = np.inf
            limit = sq[full, k - 1] + bound[full] + torch_bound[full] - pa.sq64[sub_rows]
            fr, fc = np.nonzero(keys <= limit[:, None])
            cr, cc = np.concatenate([cr, full[fr]]), np.concatenate([cc, fc.astype(np.int64)])
        d_blk, i_blk = _select_exact(a[rows], b, cr, cc, nb, k)
        out_d[rows], out_i[rows] = d_blk, i_blk
    return out_d, out_i
