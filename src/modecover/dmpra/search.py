"""DMPRA search: minority ("minor group") samples by extended neighbourhood sampling.

Paper Eq. 4-5 read as LOCI's test (Papadimitriou et al., 2003); docs/dmpra.md, "Search".
For a sample s and a radius r (Euclidean distances, ``<=`` everywhere):

- N(s, r)   = the points p with d(s, p) <= r, s itself included;
- n(p, rho) = #{q : d(p, q) <= rho}, p itself included (so every count is >= 1);
- n_hat(s, r)     = mean of n(p, alpha r) over p in N(s, r)                (Eq. 5)
- sigma_hat(s, r) = population standard deviation of the same counts      (Eq. 5)
- score(s, r) = (n_hat - n(s, alpha r)) / sigma_hat, and 0 where sigma_hat = 0.

s is a minor-group sample when max_r score(s, r) > k_sigma (one-sided, LOCI's test;
``two_sided=True`` uses |n_hat - n(s, alpha r)| / sigma_hat, the paper's literal reading
of Eq. 4 once its typo is fixed). CV(s) = sigma_hat / n_hat at the radius of the maximum
(Eq. 6; ties, up to a relative 1e-12, go to the smallest radius).

**Radius ladder.** Per sample s, the radii r_j(s) = distance from s to its m_j-th
nearest point (s included, so m = 1 is radius 0), for m_j = n_min * 2**j <= K, where
K = ``max_neighbors`` (default ``min(m, max(1024, 2 * n_min))``). With ties N(s, r_j)
may hold more than m_j points.

**Reference subsample (a ladder that scales).** A tight group can only be flagged at a
level whose neighbourhood is about ten times its size, so a fixed K bounds the group the
search can find, and K growing with n makes the graph grow as n^2. Above
``reference_size`` samples (default 5,000) the counts are therefore taken in a seeded
random subsample of m = ``reference_size`` samples: N(s, r) is s and the reference
samples within r, every n(p, alpha r) counts reference samples. The reference samples
are scored exactly as a set of m; every other sample is scored against them (its own
count includes itself). A group is then findable when its *share* of the data is small
enough, whatever n is. ``reference_size=None`` takes every sample as a reference.

**Algorithm.** One exact k-NN graph (:func:`modecover.neighbors.knn`) with the K nearest
other points of every sample; each row is sorted, so every count n(p, rho) is a binary
search in p's row (vectorised over all queries at once, no loop over samples). A count
is known exactly when it is <= K. When it would exceed K (rho reaches p's K-th
neighbour distance) it is *censored*: it is never guessed. A ladder level whose
neighbourhood N(s, r_j) or any of whose counts n(p, alpha r_j) is censored is skipped
for s (it is not scored) and reported: ``censored[s]`` is True and
``n_censored_levels[s]`` counts those levels. A sample with no uncensored level gets
score, radius, cv, n_hat and sigma_hat NaN, count and level -1, and is not flagged.
``max_neighbors = m`` (or any K >= m - 1) makes the search exact on every level of the
ladder: nothing is censored.

Means and variances are computed from integer sums, so sigma_hat = 0 is detected
exactly and the score is one float division of exact integers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from modecover._checks import as_features, int_in_range, is_integer, positive_int, real_in_range

DEFAULT_MAX_NEIGHBORS = 1024
"""Default cap K on the neighbourhood size (and the k-NN graph width): min(m, max(1024, 2 n_min))."""
DEFAULT_REFERENCE_SIZE = 5000
"""Default size of the reference subsample in which counts are taken for larger inputs."""
_QUERY_GRAPH_BYTES = 256 * 2**20  # k-NN rows of non-reference samples held at once

_QUERIES_PER_CHUNK = 1 << 22
_TIE_TOLERANCE = 1e-12


@dataclass
class SearchConfig:
    """Parameters of the search (docs/dmpra.md, "Search")."""

    alpha: float = 0.5
    """Counting radius alpha * r for the sub-spheres, 0 < alpha <= 1 (LOCI: 1/2)."""
    n_min: int = 20
    """Smallest neighbourhood scanned (first ladder level), >= 1."""
    k_sigma: float = 3.0
    """Flag threshold on the score, > 0 (LOCI and the paper: 3)."""
    two_sided: bool = False
    """Flag |n_hat - n(s, alpha r)| > k_sigma sigma_hat instead of the one-sided test."""
    max_neighbors: int | None = None
    """Cap K on the neighbourhood size and on exact counts; None: min(m, max(1024, 2 n_min)),
    m the number of reference samples."""
    reference_size: int | None = DEFAULT_REFERENCE_SIZE
    """Above this many samples, counts are taken in a seeded random subsample of this size
    (every sample is still scored); None: every sample is a reference."""
    seed: int = 0
    """Seed of the reference subsample."""

    def __post_init__(self):
        real_in_range(self.alpha, "SearchConfig.alpha", 0, 1, low_open=True)
        positive_int(self.n_min, "SearchConfig.n_min")
        real_in_range(self.k_sigma, "SearchConfig.k_sigma", 0, low_open=True)
        if not isinstance(self.two_sided, bool):  # "false" would run the two-sided search
            raise ValueError(f"SearchConfig.two_sided must be true or false, got {self.two_sided!r}")
        if self.max_neighbors is not None:
            if not is_integer(self.max_neighbors):
                raise ValueError(f"SearchConfig.max_neighbors must be an integer or None, got {self.max_neighbors!r}")
            if self.max_neighbors < self.n_min:
                raise ValueError(
                    f"SearchConfig.max_neighbors={self.max_neighbors} is smaller than n_min={self.n_min}: "
                    "no neighbourhood size on the radius ladder"
                )
        for key, smallest in (("reference_size", max(self.n_min, 2)), ("seed", 0)):
            value = getattr(self, key)
            if value is None and key == "reference_size":
                continue
            int_in_range(value, f"SearchConfig.{key}", smallest)


def resolve_max_neighbors(config: SearchConfig, n: int) -> int:
    """The cap K used for ``n`` samples: ``config.max_neighbors`` or the default, at most n."""
    k = config.max_neighbors if config.max_neighbors is not None else max(DEFAULT_MAX_NEIGHBORS, 2 * config.n_min)
    return int(min(n, k))


def ladder_sizes(n_min: int, max_neighbors: int) -> tuple[int, ...]:
    """Neighbourhood sizes scanned: n_min, 2 n_min, 4 n_min, ... up to ``max_neighbors``."""
    sizes = []
    m = int(n_min)
    while m <= max_neighbors:
        sizes.append(m)
        m *= 2
    return tuple(sizes)


@dataclass
class Ladder:
    """What the radius ladder did, per level (JSON-able lists)."""

    sizes: tuple[int, ...]
    """m_j: the neighbourhood size (s included) defining each level's radius."""
    max_neighbors: int
    """K: counts above it are censored; K >= m - 1 means nothing is."""
    reference_size: int
    """m: how many samples the counts are taken in (n unless subsampled)."""
    scored: list[int]
    """Per level: how many samples it was evaluated for (not censored)."""
    censored: list[int]
    """Per level: how many samples it was skipped for (a censored count)."""
    flagged: list[int]
    """Per level: how many samples pass the test at that level."""
    chosen: list[int]
    """Per level: how many samples have their maximum score there."""
    median_radius: list[float]
    """Per level: median of r_j(s) over the samples it was evaluated for (NaN if none)."""


@dataclass
class SearchResult:
    """Per-sample arrays (length n) of one search, plus the ladder summary.

    Values are taken at the ladder level where the test statistic peaks; NaN (and -1 for
    the integer ``count`` and ``level``) for a sample none of whose levels could be
    evaluated without a censored count.
    """

    score: np.ndarray
    """float64: max over levels of (n_hat - n(s, alpha r)) / sigma_hat (absolute value if two-sided)."""
    radius: np.ndarray
    """float64: r at the maximum."""
    cv: np.ndarray
    """float64: sigma_hat / n_hat at the maximum (Eq. 6)."""
    n_hat: np.ndarray
    """float64: mean count n(p, alpha r) over N(s, r) at the maximum."""
    sigma_hat: np.ndarray
    """float64: population std of those counts at the maximum."""
    count: np.ndarray
    """int64: n(s, alpha r) at the maximum (-1 if unscored)."""
    minority: np.ndarray
    """bool: flagged as a minor-group sample (score > k_sigma)."""
    censored: np.ndarray
    """bool: at least one ladder level was skipped for this sample because of a censored count."""
    neighborhood_size: np.ndarray
    """int64: |N(s, r)| at the maximum (-1 if unscored)."""
    level: np.ndarray
    """int64: ladder level index of the maximum (-1 if unscored)."""
    n_censored_levels: np.ndarray
    """int64: number of ladder levels skipped for this sample."""
    neighbors: np.ndarray
    """int64 (n, min(n_min, K)): each sample's nearest reference samples (itself excluded),
    nearest first: the links of :func:`modecover.dmpra.groups.minor_groups`."""
    ladder: Ladder
    config: SearchConfig = field(default_factory=SearchConfig)

    @property
    def scored(self) -> np.ndarray:
        """bool: samples with at least one evaluated level (finite score)."""
        return self.level >= 0

    def summary(self) -> dict:
        """JSON-able summary: how many were flagged, censored, unscored, and per-level counts."""
        n = int(self.score.shape[0])
        n_minor = int(self.minority.sum())
        return {
            "n": n,
            "n_minority": n_minor,
            "minority_fraction": n_minor / n if n else 0.0,
            "n_censored": int(self.censored.sum()),
            "n_unscored": int((~self.scored).sum()),
            "alpha": float(self.config.alpha),
            "n_min": int(self.config.n_min),
            "k_sigma": float(self.config.k_sigma),
            "two_sided": bool(self.config.two_sided),
            "max_neighbors": int(self.ladder.max_neighbors),
            "reference_size": int(self.ladder.reference_size),
            "ladder_sizes": [int(m) for m in self.ladder.sizes],
            "scored_per_level": list(self.ladder.scored),
            "censored_per_level": list(self.ladder.censored),
            "flagged_per_level": list(self.ladder.flagged),
            "chosen_per_level": list(self.ladder.chosen),
            "median_radius_per_level": list(self.ladder.median_radius),
            "minority_radius_median": float(np.median(self.radius[self.minority])) if n_minor else None,
        }


def _neighbor_graph(query: np.ndarray, reference: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distances (float64) and indices of the k nearest reference points of every query
    row (``reference=None``: the k nearest *other* rows of ``query``). The rows come from the
    checked features of :func:`search`, and its config keeps ``1 <= k`` within the reference."""
    from modecover.neighbors import unchecked

    dist, idx = unchecked.knn(unchecked.widened(query), None if reference is None else unchecked.widened(reference), k)
    return np.ascontiguousarray(dist, dtype=np.float64), np.ascontiguousarray(idx, dtype=np.int64)


def _count_within(dist: np.ndarray, rows: np.ndarray, rho: np.ndarray, exact_everywhere: bool):
    """n(p, rho) for p = rows: 1 (p itself) + #{t : dist[p, t] <= rho}, and whether it is censored.

    ``dist`` holds each row's k nearest other distances, ascending. The count is a
    right-bisection in row p, vectorised over all queries. It is censored (only known to
    exceed k) when rho reaches the row's last known distance and the graph is not complete.
    """
    k = dist.shape[1]
    flat = dist.reshape(-1)
    base = rows.astype(np.int64) * k
    lo = np.zeros(rows.shape[0], dtype=np.int64)
    hi = np.full(rows.shape[0], k, dtype=np.int64)
    for _ in range(max(1, k.bit_length())):
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) >> 1
        right = flat[base + np.minimum(mid, k - 1)] <= rho
        go_right = active & right
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)
    counts = lo + 1
    if exact_everywhere:
        censored = np.zeros(rows.shape[0], dtype=bool)
    else:
        censored = lo == k
    return counts, censored


def _radius_at(dist: np.ndarray, m: int) -> np.ndarray:
    """Distance from each sample to its m-th nearest point, itself included (m = 1: 0)."""
    if m == 1:
        return np.zeros(dist.shape[0], dtype=np.float64)
    return dist[:, m - 2].copy()


def _segment_sums(values: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Exact int64 sums of consecutive segments of ``values`` (empty segments sum to 0)."""
    out = np.zeros(lengths.shape[0], dtype=np.int64)
    filled = lengths > 0
    if filled.any():
        out[filled] = np.add.reduceat(values, offsets[filled])
    return out


@dataclass
class _Graph:
    """Sorted k-NN rows of the samples being scored, into the reference set."""

    dist: np.ndarray  # (rows, k) float64, ascending
    idx: np.ndarray  # (rows, k) int64 reference indices
    exact: bool  # the rows hold every reference point (no count is censored)


@dataclass
class _LevelSums:
    size: np.ndarray  # |N(s, r)|
    s1: np.ndarray  # sum of counts over N(s, r)
    s2: np.ndarray  # sum of squared counts
    own: np.ndarray  # n(s, alpha r)
    ok: np.ndarray  # level evaluated (nothing censored)
    radius: np.ndarray


def _level_sums(rows: _Graph, reference: _Graph, m: int, alpha: float) -> _LevelSums:
    """Integer sums of n(p, alpha r_m(s)) over p in N(s, r_m(s)) for every row s of ``rows``.

    N(s, r) is s and the reference points within r of it; every count n(p, .) of a member
    p is taken in the reference set (``reference``: the reference points' own graph).
    """
    n = rows.dist.shape[0]
    radius = _radius_at(rows.dist, m)
    all_rows = np.arange(n, dtype=np.int64)
    size, size_censored = _count_within(rows.dist, all_rows, radius, rows.exact)
    rho = alpha * radius
    own, _ = _count_within(rows.dist, all_rows, rho, rows.exact)  # rho <= radius: exact when size is
    s1 = np.zeros(n, dtype=np.int64)
    s2 = np.zeros(n, dtype=np.int64)
    ok = ~size_censored
    cand = np.flatnonzero(ok)
    others = size - 1  # members besides s: the prefix of row s
    per_chunk = max(1, _QUERIES_PER_CHUNK // max(1, int(others[cand].max(initial=1))))
    for start in range(0, cand.shape[0], per_chunk):
        s = cand[start : start + per_chunk]
        lengths = others[s]
        total = int(lengths.sum())
        owner = np.repeat(np.arange(s.shape[0], dtype=np.int64), lengths)
        offsets = np.cumsum(lengths) - lengths
        col = np.arange(total, dtype=np.int64) - np.repeat(offsets, lengths)
        members = rows.idx[s[owner], col]
        counts, cens = _count_within(reference.dist, members, rho[s][owner], reference.exact)
        s1[s] = own[s] + _segment_sums(counts, offsets, lengths)
        s2[s] = own[s] ** 2 + _segment_sums(counts * counts, offsets, lengths)
        ok[s] = _segment_sums(cens.astype(np.int64), offsets, lengths) == 0
    return _LevelSums(size=size, s1=s1, s2=s2, own=own, ok=ok, radius=radius)


def _level_statistics(sums: _LevelSums, two_sided: bool, k_sigma: float) -> dict[str, np.ndarray]:
    """n_hat, sigma_hat, the test statistic and the flag test of one level from its integer sums.

    N * (n_hat - n(s)) and N^2 * variance are formed as exact integers (Python integers
    if int64 could overflow), so sigma_hat = 0 is exact and the score is one division.
    The flag test compares the integers, not the rounded score: score > k_sigma iff
    num > 0 (one-sided) and num^2 > k_sigma^2 * var_num, so a score of exactly k_sigma
    (e.g. sqrt(9)) is never flagged by rounding.
    """
    size, s1, s2, own = sums.size, sums.s1, sums.s2, sums.own
    if float(size.max(initial=1)) * float(s2.max(initial=1)) >= 2.0**62:
        size, s1, s2, own = (a.astype(object) for a in (size, s1, s2, own))
    numerator = s1 - size * own
    var_numerator = size * s2 - s1 * s1  # N^2 var >= 0 exactly
    num = np.asarray(numerator, dtype=np.float64)
    spread = np.sqrt(np.asarray(var_numerator, dtype=np.float64))
    n_points = sums.size.astype(np.float64)
    score = np.divide(num, spread, out=np.zeros_like(num), where=spread > 0)
    k2 = float(k_sigma) ** 2
    beyond = np.asarray(numerator * numerator > k2 * var_numerator, dtype=bool) & (spread > 0)
    return {
        "score": np.abs(score) if two_sided else score,
        "exceeds": beyond if two_sided else beyond & (num > 0),
        "n_hat": sums.s1 / n_points,
        "sigma_hat": spread / n_points,
    }


def _level_table(rows: _Graph, reference: _Graph, config: SearchConfig, sizes) -> dict[str, np.ndarray]:
    """Per-row, per-level columns (rows, levels) of the statistics of every ladder level."""
    columns = {key: [] for key in ("score", "exceeds", "n_hat", "sigma_hat", "radius", "own", "size", "ok")}
    for m in sizes:
        sums = _level_sums(rows, reference, m, float(config.alpha))
        stats = _level_statistics(sums, config.two_sided, config.k_sigma)
        for key, value in (*stats.items(), ("radius", sums.radius), ("own", sums.own),
                           ("size", sums.size), ("ok", sums.ok)):
            columns[key].append(value)
    return {key: np.stack(values, axis=1) for key, values in columns.items()}


def _reference_rows(n: int, config: SearchConfig) -> np.ndarray:
    """Sorted indices of the reference samples: all n, or a seeded subsample of ``reference_size``."""
    if config.reference_size is None or n <= config.reference_size:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(n, size=config.reference_size, replace=False)).astype(np.int64)


def _search_table(x: np.ndarray, config: SearchConfig, ref_rows: np.ndarray, big_k: int, sizes):
    """The level table of all n samples and each sample's ``n_min`` nearest reference points.

    The reference samples are scored on their own graph (K nearest other references); the
    other samples, in chunks, on their K nearest references, their members' counts taken
    in the reference graph.
    """
    n, m = x.shape[0], ref_rows.shape[0]
    graph_k = min(m - 1, big_k)  # K other points per row: counts n(p, rho) <= K are exact
    dist, idx = _neighbor_graph(x[ref_rows], None, graph_k)
    reference = _Graph(dist, idx, exact=graph_k >= m - 1)
    link_k = min(config.n_min, graph_k)
    neighbors = np.empty((n, link_k), dtype=np.int64)
    table = {}
    parts = [(ref_rows, reference)]
    others = np.setdiff1d(np.arange(n, dtype=np.int64), ref_rows, assume_unique=True)
    query_k = min(m, big_k)
    chunk = max(1, _QUERY_GRAPH_BYTES // (16 * query_k))
    for start in range(0, others.shape[0], chunk):
        rows = others[start : start + chunk]
        q_dist, q_idx = _neighbor_graph(x[rows], x[ref_rows], query_k)
        parts.append((rows, _Graph(q_dist, q_idx, exact=query_k >= m)))
    for rows, graph in parts:
        part = _level_table(graph, reference, config, sizes)
        for key, value in part.items():
            if key not in table:
                table[key] = np.empty((n, value.shape[1]), dtype=value.dtype)
            table[key][rows] = value
        neighbors[rows] = ref_rows[graph.idx[:, :link_k]]
    return table, neighbors


def _ladder(sizes, big_k: int, reference_size: int, table, exceeds: np.ndarray, level: np.ndarray) -> Ladder:
    """The per-level summary of a search."""
    ok = table["ok"]
    return Ladder(
        sizes=sizes,
        max_neighbors=big_k,
        reference_size=reference_size,
        scored=[int(v) for v in ok.sum(axis=0)],
        censored=[int(v) for v in (~ok).sum(axis=0)],
        flagged=[int(v) for v in exceeds.sum(axis=0)],
        chosen=[int((level == j).sum()) for j in range(len(sizes))],
        median_radius=[
            float(np.median(table["radius"][ok[:, j], j])) if ok[:, j].any() else float("nan")
            for j in range(len(sizes))
        ],
    )


def _best_levels(table) -> tuple[np.ndarray, np.ndarray]:
    """(scored, level) per sample: whether any ladder level is uncensored, and the level of
    the first maximum score (smallest radius; -1 where none). Scores equal up to float
    rounding of the final division (e.g. 2/sqrt(2) and 6/sqrt(18)) count as equal, so exact
    ties go to the smallest radius."""
    stat = np.where(table["ok"], table["score"], -np.inf)
    scored = table["ok"].any(axis=1)
    best = stat.max(axis=1, initial=-np.inf)
    near_best = stat >= (best - _TIE_TOLERANCE * np.maximum(1.0, np.abs(best)))[:, None]
    return scored, np.where(scored, np.argmax(near_best, axis=1), -1)


def search(features, config: SearchConfig | None = None) -> SearchResult:
    """Search ``features`` (n, d) for minor-group samples (paper Eq. 4-6, read as LOCI's test).

    Raises ``ValueError`` for fewer than ``max(n_min, 2)`` samples or non-finite features.
    All-identical features give sigma_hat = 0 everywhere: every score 0, nobody flagged.
    Above ``config.reference_size`` samples, every count is taken in a seeded reference
    subsample of that size (module docstring).
    """
    config = SearchConfig() if config is None else config
    if not isinstance(config, SearchConfig):
        raise TypeError(f"search: config must be a SearchConfig, got {type(config).__name__} "
                        f"(SearchConfig(**options) builds one and checks its keys)")
    x = as_features(features, "DMPRA search features", min_rows=max(config.n_min, 2))
    n = x.shape[0]
    ref_rows = _reference_rows(n, config)
    big_k = resolve_max_neighbors(config, ref_rows.shape[0])
    sizes = ladder_sizes(config.n_min, big_k)
    table, neighbors = _search_table(x, config, ref_rows, big_k, sizes)

    ok = table["ok"]
    scored, level = _best_levels(table)

    def at_max(key, missing):
        picked = np.take_along_axis(table[key], np.maximum(level, 0)[:, None], axis=1)[:, 0]
        return np.where(scored, picked, missing)

    score = at_max("score", np.nan)
    n_hat = at_max("n_hat", np.nan)
    sigma_hat = at_max("sigma_hat", np.nan)
    exceeds = table["exceeds"] & ok
    minority = exceeds.any(axis=1)  # max score > k_sigma, decided on exact integers
    if not scored.all():
        warnings.warn(
            f"DMPRA search: {int((~scored).sum())} of {n} samples could not be scored (every radius of "
            f"their ladder needs a count above max_neighbors={big_k}); they are not flagged. "
            "Raise SearchConfig.max_neighbors (the reference size makes the search exact) to score them.",
            RuntimeWarning,
            stacklevel=2,
        )
    ladder = _ladder(sizes, big_k, int(ref_rows.shape[0]), table, exceeds, level)
    return SearchResult(
        score=score,
        radius=at_max("radius", np.nan),
        cv=sigma_hat / n_hat,  # n_hat >= 1 wherever scored: every count includes the point itself
        n_hat=n_hat,
        sigma_hat=sigma_hat,
        count=at_max("own", -1).astype(np.int64),
        minority=minority,
        censored=(~ok).any(axis=1),
        neighborhood_size=at_max("size", -1).astype(np.int64),
        level=level.astype(np.int64),
        n_censored_levels=(~ok).sum(axis=1).astype(np.int64),
        neighbors=neighbors,
        ladder=ladder,
        config=config,
    )
