"""Groups of flagged points linked through a k-nearest-neighbour graph.

Used by DMPRA's minor groups (flagged rare samples, :mod:`modecover.dmpra.groups`) and by
:func:`modecover.explain.explain` (real samples no fake covers; fakes outside every real
ball): two flagged points are linked when one is among the other's k nearest neighbours
(``neighbors[i]`` lists the neighbours of point i); the groups are the connected components
of the flagged points under those links (weak connectivity, so a link in either direction
counts), found by :func:`scipy.sparse.csgraph.connected_components`.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["linked_groups"]


def linked_groups(flagged, neighbors) -> np.ndarray:
    """Group label of every point (int64 (n,)): -1 for unflagged points, else 0, 1, ... by
    decreasing group size (ties by smallest member index).

    ``flagged``: (n,) booleans; ``neighbors``: (n, k) integer indices into the same points.
    Only links between two flagged points count.
    """
    flagged = np.asarray(flagged, dtype=bool)
    links = np.asarray(neighbors)
    n = flagged.shape[0]
    if flagged.ndim != 1 or links.ndim != 2 or links.shape[0] != n:
        raise ValueError(f"linked_groups: flags of shape {flagged.shape} need neighbours of shape ({n}, k), "
                         f"got {links.shape}")
    labels = np.full(n, -1, dtype=np.int64)
    members = np.flatnonzero(flagged)
    if members.size == 0:
        return labels
    links = links[members]
    rows = np.repeat(members, links.shape[1])
    cols = links.reshape(-1)
    keep = flagged[cols]
    graph = coo_matrix((np.ones(int(keep.sum()), dtype=np.int8), (rows[keep], cols[keep])), shape=(n, n))
    _, component = connected_components(graph, directed=True, connection="weak")
    component = component[members]
    ids, first, sizes = np.unique(component, return_index=True, return_counts=True)
    order = np.lexsort((members[first], -sizes))  # largest first, then by smallest member
    rank = np.empty(ids.shape[0], dtype=np.int64)
    rank[order] = np.arange(ids.shape[0])
    labels[members] = rank[np.searchsorted(ids, component)]
    return labels
