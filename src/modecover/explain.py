"""Which real samples a model misses and which fakes lie off the data: :func:`explain`.

Precision and coverage average per-sample facts; this module keeps the facts (docs/evaluate.md,
"Explaining the metrics"). With real set R (radius ``r_i``: distance to the k-th nearest
other real, a zero radius replaced by the smallest positive float as in
:mod:`modecover.metrics.prdc`) and fake set F:

- per real sample: **covered** when some fake lies inside its ball, ``d(r, f) < r_i``
  (coverage, Naeem et al. 2020, Eq. 4), and ``distance_ratio`` = distance to its nearest
  fake / its own radius (``< 1`` exactly when covered);
- per fake sample: **inside** when it lies in some real ball (precision, Kynkäänniemi et
  al. 2019, Eq. 1, with the same k), and ``ball_gap = min_r (d(f, r) - r_r)``: the signed
  distance to the nearest real ball's surface (negative inside; the ratio form
  ``min_r d(f, r) / r_r`` is 1 / the untrimmed realism score);
- **realism score** (Kynkäänniemi et al. 2019, Eq. 3): ``max_r r_r / d(f, r)`` over the
  real balls whose radius is at most the ``realism_trim`` percentile of the radii (the
  official code's ``clamp_to_percentile=50`` removes the larger half; ``None`` keeps all;
  a zero radius, possible with ``strict=False``, is left out as in that code).
  That code compares squared distances, so its score is the square of this one (up to its
  ``eps``); ``k=3`` is its default neighbourhood;
- **rarity score** (Han et al. 2022, "Rarity Score", Eq. 2): the smallest radius among the
  real balls that contain the fake; NaN for a fake in no ball (the official code gives 0);
- **missed groups**: the uncovered real samples, linked through the real k-NN graph (each
  real with its k nearest other reals) into connected groups (:mod:`modecover.graph`), by
  decreasing size; **off-manifold groups**: the fakes inside no real ball, linked through
  the fake k-NN graph. Each group has its size, share of its set, a medoid (the member with
  the smallest sum of distances to the members; computed among at most ``MEDOID_SAMPLE``
  seeded members for larger groups) and, when mode means are given, its mode (the most
  common nearest mode of its members; ties to the lower index).

Every distance, membership and score is exact (float64 brute force on the same inputs):
the real and fake k-NN passes are :func:`modecover.neighbors.knn`, the real x fake pass is
:func:`modecover.neighbors.balls.ball_reductions`. ``coverage`` and ``precision`` of an
:class:`Explanation` equal ``modecover.metrics.prdc(real, fake, k=k)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modecover._checks import check_k, check_same_dim, real_in_range
from modecover.graph import linked_groups
from modecover.metrics.prdc import SMALLEST_RADIUS as _SMALLEST_RADIUS
from modecover.neighbors import as_points
from modecover.neighbors.unchecked import ball_reductions as _ball_reductions_unchecked
from modecover.neighbors.unchecked import knn as _knn_unchecked

__all__ = ["Explanation", "Group", "MEDOID_SAMPLE", "explain", "describe_missed"]

MEDOID_SAMPLE = 1000  # groups larger than this get their medoid among this many seeded members
MISSED_MODE_SHARE = 0.5  # a mode is missed when at least this share of its real samples is uncovered


@dataclass(frozen=True)
class Group:
    """One missed (real) or off-manifold (fake) group; ``members`` index its own set."""

    kind: str  # "missed" or "off_manifold"
    rank: int  # 0 = largest
    members: np.ndarray
    share: float  # size / size of its set
    medoid: int
    mode: int | None = None
    mode_share: float | None = None  # share of the members whose nearest mode is ``mode``

    @property
    def size(self) -> int:
        return int(len(self.members))

    def as_dict(self) -> dict:
        return {"rank": self.rank, "size": self.size, "share": self.share, "medoid": self.medoid,
                "mode": self.mode, "mode_share": self.mode_share}


@dataclass(frozen=True)
class Explanation:
    """Per-sample facts behind precision and coverage, and their groups (module doc)."""

    k: int
    strict: bool
    real_radius: np.ndarray
    real_covered: np.ndarray
    real_nearest_fake: np.ndarray  # distance
    real_nearest_fake_index: np.ndarray
    real_group: np.ndarray  # -1: covered
    fake_inside: np.ndarray
    fake_ball_gap: np.ndarray
    fake_nearest_ball: np.ndarray  # index of the real whose ball surface is nearest
    fake_realism: np.ndarray
    fake_rarity: np.ndarray
    fake_group: np.ndarray  # -1: inside some real ball
    missed_groups: list[Group]
    off_manifold_groups: list[Group]
    realism_trim: float | None = 50.0
    real_mode: np.ndarray | None = None
    fake_mode: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return float(np.mean(self.real_covered))

    @property
    def precision(self) -> float:
        return float(np.mean(self.fake_inside))

    @property
    def real_distance_ratio(self) -> np.ndarray:
        """Distance to the nearest fake in units of the sample's own radius."""
        return self.real_nearest_fake / self.real_radius

    def missed_modes(self) -> list[dict]:
        """Per mode (mode means given): its real samples, how many are uncovered, and whether
        it counts as missed (at least ``MISSED_MODE_SHARE`` of them uncovered)."""
        if self.real_mode is None:
            return []
        n_modes = int(self.settings.get("n_modes", self.real_mode.max() + 1))
        total = np.bincount(self.real_mode, minlength=n_modes)
        uncovered = np.bincount(self.real_mode[~self.real_covered], minlength=n_modes)
        return [{"mode": j, "n_real": int(total[j]), "n_uncovered": int(uncovered[j]),
                 "missed": bool(total[j] > 0 and uncovered[j] >= MISSED_MODE_SHARE * total[j])}
                for j in range(n_modes)]

    def summary(self, max_groups: int = 20) -> dict:
        """JSON-able: the headline numbers, the settings and the largest groups of each kind."""
        out = {
            "k": self.k, "boundary": "<" if self.strict else "<=", "realism_trim": self.realism_trim,
            "n_real": int(len(self.real_covered)), "n_fake": int(len(self.fake_inside)),
            "coverage": self.coverage, "precision": self.precision,
            "n_uncovered": int((~self.real_covered).sum()), "n_outside": int((~self.fake_inside).sum()),
            "n_missed_groups": len(self.missed_groups), "n_off_manifold_groups": len(self.off_manifold_groups),
            "missed_groups": [g.as_dict() for g in self.missed_groups[:max_groups]],
            "off_manifold_groups": [g.as_dict() for g in self.off_manifold_groups[:max_groups]],
            **self.settings,
        }
        if self.real_mode is not None:
            out["modes"] = self.missed_modes()
        return out


def _medoid(x: np.ndarray, members: np.ndarray, seed: int) -> int:
    """The member with the smallest sum of distances to the (sampled) members; distances from
    the float64 Gram matrix (``|a|^2 + |b|^2 - 2 a.b``, one BLAS product)."""
    if len(members) <= 2:
        return int(members[0])
    pool = members
    if len(members) > MEDOID_SAMPLE:
        pool = np.sort(np.random.default_rng(seed).choice(members, MEDOID_SAMPLE, replace=False))
    pts = x[pool].astype(np.float64)
    pts -= pts.mean(axis=0)
    sq = np.einsum("ij,ij->i", pts, pts)
    sums = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (pts @ pts.T), 0.0)).sum(axis=1)
    return int(pool[int(np.argmin(sums))])


def _groups(kind: str, labels: np.ndarray, x: np.ndarray, modes: np.ndarray | None, seed: int) -> list[Group]:
    n_groups = int(labels.max(initial=-1)) + 1
    if n_groups == 0:
        return []
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n_groups + 1))
    out = []
    for g in range(n_groups):
        members = order[starts[g]:starts[g + 1]]
        mode = mode_share = None
        if modes is not None:
            counts = np.bincount(modes[members])
            mode, mode_share = int(counts.argmax()), float(counts.max() / len(members))
        out.append(Group(kind, g, members, float(len(members) / len(labels)), _medoid(x, members, seed + g),
                         mode, mode_share))
    return out


def explain(real, fake, *, k: int = 5, modes=None, realism_trim: float | None = 50.0, strict: bool = True,
            seed: int = 0, block_size: int | None = None, threads: int | None = None) -> Explanation:
    """Per-sample coverage and precision facts, realism and rarity scores, missed and
    off-manifold groups of ``fake`` (m, d) against ``real`` (n, d); see the module doc.

    ``modes``: optional (K, d) mode means (e.g. ``Mixture.means``) naming each group's mode.
    ``realism_trim``: percentile of the real radii above which a ball is left out of the
    realism score (official code: 50). ``strict=False`` counts a point on a ball's boundary
    as inside. Both sets need at least ``k + 1`` points.
    """
    real = as_points(real, "real")
    fake = as_points(fake, "fake")
    check_same_dim(real, fake, "real", "fake")
    check_k(k, len(real), "real")
    check_k(k, len(fake), "fake")
    if realism_trim is not None:
        real_in_range(realism_trim, "realism_trim (a percentile, or None)", 0, 100, low_open=True)
    mode_means = None
    if modes is not None:
        mode_means = as_points(modes, "modes")
        check_same_dim(real, mode_means, "real", "modes")
        _, first, count = np.unique(mode_means, axis=0, return_index=True, return_counts=True)
        if (count > 1).any():  # a point's nearest mode would always be the first copy
            i = int(np.argmax(count > 1))
            raise ValueError(f"modes: row {int(first[i])} appears {int(count[i])} times; "
                             "each mode mean must be distinct")
    return explain_unchecked(real, fake, k, mode_means, realism_trim, strict, seed, block_size, threads)


def explain_unchecked(real: np.ndarray, fake: np.ndarray, k: int, mode_means: np.ndarray | None,
                      realism_trim: float | None, strict: bool, seed: int = 0, block_size: int | None = None,
                      threads: int | None = None) -> Explanation:
    """:func:`explain` of inputs already checked as it does: points from
    :func:`modecover.neighbors.as_points` of equal widths (``mode_means`` too), both sets with
    ``k + 1`` points or more, ``realism_trim`` in (0, 100] or None.

    No input checks, and not in ``__all__``: for modecover's own callers that have checked
    their inputs already (the evaluate pipeline)."""
    kw = {"block_size": block_size, "threads": threads}
    real_dist, real_links = _knn_unchecked(real, None, k, **kw)
    _, fake_links = _knn_unchecked(fake, None, k, **kw)
    radius = real_dist[:, k - 1].copy()
    if strict:
        radius[radius == 0.0] = _SMALLEST_RADIUS  # a ball contains its centre (metrics.prdc)
    trimmed = radius if realism_trim is None else np.where(radius <= np.percentile(radius, realism_trim), radius, 0.0)
    balls = _ball_reductions_unchecked(fake, real, radius, trimmed, strict, **kw)
    covered = balls.nearest < radius if strict else balls.nearest <= radius
    inside = balls.gap < 0 if strict else balls.gap <= 0
    real_group = linked_groups(~covered, real_links)
    fake_group = linked_groups(~inside, fake_links)
    real_mode = fake_mode = None
    settings = {}
    if mode_means is not None:
        from modecover.metrics.modes import nearest_modes_unchecked as _nearest_modes_unchecked

        real_mode = _nearest_modes_unchecked(real, mode_means)[0]
        fake_mode = _nearest_modes_unchecked(fake, mode_means)[0]
        settings["n_modes"] = int(len(mode_means))
    return Explanation(
        k=int(k), strict=strict, real_radius=radius, real_covered=covered, real_nearest_fake=balls.nearest,
        real_nearest_fake_index=balls.nearest_index, real_group=real_group, fake_inside=inside,
        fake_ball_gap=balls.gap, fake_nearest_ball=balls.gap_index, fake_realism=balls.realism,
        fake_rarity=balls.rarity, fake_group=fake_group,
        missed_groups=_groups("missed", real_group, real, real_mode, seed),
        off_manifold_groups=_groups("off_manifold", fake_group, fake, fake_mode, seed),
        realism_trim=realism_trim, real_mode=real_mode, fake_mode=fake_mode, settings=settings,
    )


def describe_missed(summary: dict, label: str, data_name: str = "training samples") -> str:
    """One sentence from an :meth:`Explanation.summary` (or its groups.json): which modes
    the model missed and how many real samples that is, or how many it left uncovered."""
    n_uncovered, n_real = summary["n_uncovered"], summary["n_real"]
    modes = summary.get("modes")
    if modes is not None:
        missed = [m for m in modes if m["missed"]]
        in_missed = sum(m["n_uncovered"] for m in missed)
        rest = n_uncovered - in_missed
        if missed:
            names = [str(m["mode"]) for m in missed]
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            said = f"{label} missed mode{'s' if len(names) > 1 else ''} {listed} ({in_missed} {data_name})"
        else:
            said = f"{label} missed no mode"
        return said + (f"; {rest} other {data_name} of {n_real} are uncovered" if rest else "") + "."
    groups = summary["missed_groups"]
    if not groups:
        return f"{label} covers every one of the {n_real} {data_name}."
    top = groups[0]
    medoid = top.get("medoid_file") or f"#{top['medoid']}"  # an image folder's file, else the row index
    return (f"{label} leaves {n_uncovered} of {n_real} {data_name} uncovered, in "
            f"{summary['n_missed_groups']} group(s); the largest holds {top['size']} (medoid {medoid}).")
