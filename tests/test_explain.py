"""modecover.explain.explain, modecover.neighbors.balls and the Vendi score against references.

References: float64 numpy brute force on the same arrays (the neighbour engine's
convention: sqrt(sum((a - b) ** 2))), ``modecover.metrics.prdc`` for the averages, the
mixture's own labels and 2D mode metrics for the missed modes, scikit-learn's digit labels
for the missed class, and the ``vendi-score`` package for the Vendi score.
"""

import numpy as np
import pytest
import torch

from helpers import brute_distances
from modecover.data.mixtures import get_mixture
from modecover.explain import describe_missed, explain
from modecover.metrics.modes import mode_metrics
from modecover.metrics.prdc import prdc
from modecover.metrics.vendi import vendi_score
from modecover.neighbors.balls import ball_reductions

pytestmark = pytest.mark.usefixtures("tile_products")  # every test with both product settings


def brute_explain(real, fake, k, trim=50.0, strict=True):
    """Everything explain() reports per sample, from full float64 distance matrices."""
    inside = np.less if strict else np.less_equal
    rr = brute_distances(real, real)
    np.fill_diagonal(rr, np.inf)
    radius = np.sort(rr, axis=1)[:, k - 1]
    if strict:
        radius[radius == 0] = np.nextafter(0.0, 1.0)
    d = brute_distances(fake, real)  # (fake, real)
    kept = radius <= np.percentile(radius, trim) if trim is not None else np.ones(len(radius), bool)
    kept &= radius > 0  # a zero radius (only with strict=False) has no realism ratio: left out
    with np.errstate(divide="ignore", invalid="ignore"):
        realism = np.where(kept[None, :], radius[None, :] / d, 0.0).max(axis=1)
    in_ball = inside(d, radius[None, :])
    rarity = np.where(in_ball, radius[None, :], np.inf).min(axis=1)
    rarity[np.isinf(rarity)] = np.nan
    gap = d - radius[None, :]
    return {
        "radius": radius, "nearest": d.min(axis=0), "nearest_index": d.argmin(axis=0),
        "covered": inside(d, radius[None, :]).any(axis=0), "inside": in_ball.any(axis=1),
        "gap": gap.min(axis=1), "gap_index": gap.argmin(axis=1), "realism": realism, "rarity": rarity,
    }


def check_against_brute(real, fake, k, block_size=17, **kw):
    e = explain(real, fake, k=k, block_size=block_size, **kw)
    ref = brute_explain(real, fake, k, trim=kw.get("realism_trim", 50.0), strict=kw.get("strict", True))
    np.testing.assert_array_equal(e.real_radius, ref["radius"])
    np.testing.assert_array_equal(e.real_nearest_fake, ref["nearest"])
    np.testing.assert_array_equal(e.real_nearest_fake_index, ref["nearest_index"])
    np.testing.assert_array_equal(e.real_covered, ref["covered"])
    np.testing.assert_array_equal(e.fake_inside, ref["inside"])
    np.testing.assert_array_equal(e.fake_ball_gap, ref["gap"])
    np.testing.assert_array_equal(e.fake_nearest_ball, ref["gap_index"])
    np.testing.assert_array_equal(e.fake_realism, ref["realism"])
    np.testing.assert_array_equal(e.fake_rarity, ref["rarity"])
    return e


def test_scores_equal_brute_force_in_high_dimension(rng):
    real = rng.standard_normal((120, 48)).astype(np.float32)
    fake = (rng.standard_normal((90, 48)) * 1.2 + 0.1).astype(np.float32)
    e = check_against_brute(real, fake, 5)
    assert 0 < e.precision < 1 and 0 < e.coverage < 1  # both kinds of samples occur


def test_scores_equal_brute_force_with_ties_and_duplicates(rng):
    # integer grid points: many equal distances (ties) and exact duplicates within and across sets
    real = rng.integers(0, 6, size=(150, 2)).astype(np.float64)
    fake = np.concatenate([rng.integers(-2, 8, size=(100, 2)), real[:10]]).astype(np.float64)
    e = check_against_brute(real, fake, 3)
    assert np.isinf(e.fake_realism).any()  # a fake equal to a kept real centre: realism r / 0
    check_against_brute(real, fake, 3, strict=False, realism_trim=None)


def test_multi_worker_tiles_equal_brute_force(rng):
    # two worker threads over 7 x 7 tiles: each worker keeps its own running bounds, so the
    # candidates differ from the one-thread pass; the answers may not
    real = rng.integers(0, 6, size=(150, 2)).astype(np.float64)
    fake = np.concatenate([rng.integers(-2, 8, size=(100, 2)), real[:10]]).astype(np.float64)
    for strict in (True, False):
        check_against_brute(real, fake, 3, block_size=7, threads=2, strict=strict)
    wide_real = rng.standard_normal((130, 40)).astype(np.float32)
    wide_fake = (rng.standard_normal((110, 40)) * 1.1).astype(np.float32)
    e = check_against_brute(wide_real, wide_fake, 5, block_size=16, threads=2)
    one = explain(wide_real, wide_fake, k=5, threads=1)
    for name in ("real_nearest_fake_index", "fake_ball_gap", "fake_realism", "fake_rarity", "fake_nearest_ball"):
        np.testing.assert_array_equal(getattr(e, name), getattr(one, name))


def test_ball_reductions_multi_worker_equal_brute_force(rng):
    q = rng.integers(-3, 4, size=(90, 3)).astype(np.float32)  # integer points: exact ties and zero distances
    c = rng.integers(-3, 4, size=(60, 3)).astype(np.float32)
    radii = rng.integers(0, 4, size=60).astype(np.float64)  # radii equal to distances, and zero radii
    realism_radii = np.where(rng.random(60) < 0.3, 0.0, radii)
    d = brute_distances(q, c)
    for strict in (True, False):
        res = ball_reductions(q, c, radii, realism_radii=realism_radii, strict=strict, block_size=8, threads=2)
        np.testing.assert_array_equal(res.gap, (d - radii).min(axis=1))
        np.testing.assert_array_equal(res.gap_index, (d - radii).argmin(axis=1))
        np.testing.assert_array_equal(res.nearest, d.min(axis=0))
        np.testing.assert_array_equal(res.nearest_index, d.argmin(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            realism = np.where(realism_radii > 0, realism_radii / d, 0).max(axis=1)
        np.testing.assert_array_equal(res.realism, realism)
        in_ball = d < radii if strict else d <= radii
        rarity = np.where(in_ball, radii, np.inf).min(axis=1)
        np.testing.assert_array_equal(res.rarity, np.where(np.isinf(rarity), np.nan, rarity))


def test_ball_reductions_where_float32_products_cannot_order_the_pairs(rng):
    # two clusters 2,000 apart, 1e-2 wide, 300-d: after centring every point is ~1,000 from the
    # centre, so a float32 product's error (~d u |a||b| ~ 0.02 in squared distance) is as
    # large as the squared distances within a cluster; both product settings must stay exact
    axis = np.zeros(300)
    axis[0] = 1000.0
    q = np.concatenate([axis + rng.normal(scale=1e-2, size=(40, 300)), -axis + rng.normal(scale=1e-2, size=(40, 300))])
    c = np.concatenate([axis + rng.normal(scale=1e-2, size=(30, 300)), -axis + rng.normal(scale=1e-2, size=(30, 300))])
    d = brute_distances(q, c)
    radii = np.sort(d, axis=0)[3] * rng.uniform(0.9, 1.1, size=60)
    res = ball_reductions(q, c, radii, block_size=16)
    np.testing.assert_array_equal(res.gap, (d - radii).min(axis=1))
    np.testing.assert_array_equal(res.gap_index, (d - radii).argmin(axis=1))
    np.testing.assert_array_equal(res.nearest, d.min(axis=0))
    np.testing.assert_array_equal(res.nearest_index, d.argmin(axis=0))
    np.testing.assert_array_equal(res.realism, (radii / d).max(axis=1))
    rarity = np.where(d < radii, radii, np.inf).min(axis=1)
    np.testing.assert_array_equal(res.rarity, np.where(np.isinf(rarity), np.nan, rarity))


def test_largest_products_bound_a_bfloat16_tile(rng):
    # the per-row bound on |c| that explain's bfloat16 tiles take their rounding from: above
    # every product of the tile, and within a few float32 roundings of the largest
    from modecover.neighbors import products
    from modecover.neighbors._tiles import _cross_tile, _prepare
    from modecover.neighbors.balls import _largest_products

    q = np.concatenate([rng.normal(size=(30, 300)), np.full((10, 300), 2.0) + rng.normal(scale=1e-3, size=(10, 300))])
    c = np.concatenate([rng.normal(size=(20, 300)), np.full((5, 300), -1.5)])
    with products("bfloat16"):
        pq, pc = _prepare(q, c)
    rows, cols = slice(0, 40), slice(0, 25)
    tile = _cross_tile(pq, pc, rows, cols, torch.empty(40, 25))
    largest = _largest_products(pq, pc, rows, cols, tile, torch.empty(40, 25))
    products_in_tile = torch.mm(pq.low, pc.low.T).double().abs().amax(dim=1).numpy()
    assert (largest >= products_in_tile).all()
    assert (largest <= products_in_tile + 32 * 2.0**-24 * (pq.sq64 + pc.max_sq)).all()


def test_averages_equal_prdc(rng):
    real = rng.standard_normal((200, 6))
    fake = rng.standard_normal((150, 6)) * 1.4 + 0.3
    for k, strict in ((3, True), (5, True), (4, False)):
        e = explain(real, fake, k=k, strict=strict)
        ref = prdc(real, fake, k=k, strict=strict)
        assert e.coverage == ref["coverage"] and e.precision == ref["precision"]
        covered_by_ratio = e.real_distance_ratio < 1 if strict else e.real_distance_ratio <= 1
        np.testing.assert_array_equal(covered_by_ratio, e.real_covered)


def test_ball_reductions_match_brute_force_on_ragged_blocks(rng):
    q = rng.standard_normal((70, 9)).astype(np.float32)
    c = rng.standard_normal((55, 9)).astype(np.float32)
    radii = rng.uniform(0.5, 4.0, size=55)
    realism_radii = np.where(rng.random(55) < 0.3, 0.0, radii)
    res = ball_reductions(q, c, radii, realism_radii=realism_radii, block_size=8)
    d = brute_distances(q, c)
    np.testing.assert_array_equal(res.gap, (d - radii).min(axis=1))
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(res.realism, np.where(realism_radii > 0, realism_radii / d, 0).max(axis=1))
    np.testing.assert_array_equal(res.nearest_index, d.argmin(axis=0))


def ring_with_dropped_modes(n=5000, planted=30):
    """Real: the imbalanced ring; fake: the same mixture with its minority modes deleted and a
    tight cluster of ``planted`` fakes at the centre of the ring, where no real sample lies."""
    mix = get_mixture("ring-imbalanced")
    real, real_labels = mix.sample(n, seed=0)
    fake, fake_labels = mix.sample(n, seed=1)
    fake = fake[~np.isin(fake_labels, mix.minority)]
    cluster = np.random.default_rng(2).normal(0.0, 0.01, size=(planted, 2)).astype(np.float32)
    return mix, real, real_labels, np.concatenate([fake, cluster]), len(fake)


def test_missed_groups_are_exactly_the_dropped_modes():
    mix, real, labels, fake, n_kept = ring_with_dropped_modes()
    e = explain(real, fake, modes=mix.means)
    hq = mode_metrics(fake, mix.means, mix.sigmas)["generated_shares"]
    no_hq_sample = {j for j, share in enumerate(hq) if share == 0}
    assert no_hq_sample == set(mix.minority)  # the fakes really drop modes 1 and 5
    top = e.missed_groups[: len(no_hq_sample)]
    assert {g.mode for g in top} == no_hq_sample
    for g in top:  # each group is its mode's real samples, all of them and nothing else
        np.testing.assert_array_equal(g.members, np.flatnonzero(labels == g.mode))
        assert g.mode_share == 1.0 and labels[g.medoid] == g.mode
    assert all(g.size < min(t.size for t in top) / 2 for g in e.missed_groups[len(top):])
    summary = e.summary()
    assert [m["mode"] for m in summary["modes"] if m["missed"]] == sorted(no_hq_sample)
    n_missed = int(np.isin(labels, list(no_hq_sample)).sum())
    sentence = describe_missed(summary, "the plain GAN")
    assert sentence.startswith(f"the plain GAN missed modes 1 and 5 ({n_missed} training samples)")


def test_planted_cluster_is_the_top_off_manifold_group():
    mix, real, _, fake, n_kept = ring_with_dropped_modes()
    e = explain(real, fake, modes=mix.means)
    top = e.off_manifold_groups[0]
    np.testing.assert_array_equal(top.members, np.arange(n_kept, len(fake)))
    assert all(g.size < top.size for g in e.off_manifold_groups[1:])
    assert np.isnan(e.fake_rarity[top.members]).all() and (e.fake_realism[top.members] < 1).all()


def test_model_without_one_digit_misses_that_digit():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    real_idx, fake_pool = order[: len(x) // 2], order[len(x) // 2:]  # held-out split: no fake equals a real
    for held_out in range(10):
        fake_idx = fake_pool[y[fake_pool] != held_out]
        e = explain(x[real_idx], x[fake_idx], k=5)
        top = e.missed_groups[0]
        assert np.mean(y[real_idx][top.members] == held_out) >= 0.9, held_out
        assert top.size >= 0.7 * np.sum(y[real_idx] == held_out), held_out


def test_medoids_equal_brute_force(rng):
    real = rng.standard_normal((150, 4))
    fake = rng.standard_normal((150, 4)) * 2.5  # many fakes outside, in groups of several sizes
    e = explain(real, fake, k=4)
    groups = e.missed_groups + e.off_manifold_groups
    assert len(groups) > 2 and max(g.size for g in groups) > 5
    for g in groups:
        pts = (real if g.kind == "missed" else fake)[g.members]
        assert g.medoid == g.members[np.argmin(brute_distances(pts, pts).sum(axis=1))]
        assert g.size == len(g.members) and g.share == g.size / 150


def test_no_group_when_fake_equals_real(rng):
    x = rng.standard_normal((80, 3))
    e = explain(x, x.copy(), k=4)
    assert e.coverage == 1.0 and e.precision == 1.0
    assert e.missed_groups == [] and e.off_manifold_groups == []
    assert (e.real_group == -1).all() and (e.fake_group == -1).all()
    assert describe_missed(e.summary(), "copy").startswith("copy covers every one of the 80")


@pytest.mark.parametrize("n, d", [(50, 7), (12, 30)])  # d < n (dual) and n < d (n x n)
def test_vendi_equals_the_package(rng, n, d):
    from vendi_score import vendi

    x = rng.standard_normal((n, d))
    assert vendi_score(x) == pytest.approx(vendi.score_dual(x), rel=1e-10)
    assert vendi_score(x) == pytest.approx(vendi.score_X(x), rel=1e-10)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert vendi_score(unit, kernel="linear") == pytest.approx(vendi.score_dual(unit, normalize=False), rel=1e-10)


def test_vendi_counts_distinct_samples(rng):
    basis = np.eye(6)
    assert vendi_score(np.repeat(basis[:1], 9, axis=0)) == pytest.approx(1.0)
    assert vendi_score(np.repeat(basis, 3, axis=0)) == pytest.approx(6.0)


@pytest.mark.parametrize("call, message", [
    (lambda r, f: explain(r, f[:, :2]), "real has 3 feature columns but fake has 2"),
    (lambda r, f: explain(r, f[:4], k=5), "fake: has 4 points"),
    (lambda r, f: explain(r[:5], f, k=5), "real: has 5 points"),
    (lambda r, f: explain(np.where(np.arange(3) == 1, np.nan, r), f), "real: 40 non-finite"),
    (lambda r, f: explain(r, f, modes=np.zeros((8, 2))), "real has 3 feature columns but modes has 2"),
    (lambda r, f: explain(r, f, realism_trim=0),
     r"^realism_trim \(a percentile, or None\) must be a finite number in \(0, 100\], got 0$"),
    (lambda r, f: explain(r, f, realism_trim=True), r"^realism_trim .* got True$"),
    (lambda r, f: explain(r, f, modes=np.zeros((3, 3))),
     "modes: row 0 appears 3 times; each mode mean must be distinct"),
    (lambda r, f: explain(r, f, realism_trim="50"),
     r"^realism_trim \(a percentile, or None\) must be a finite number in \(0, 100\], got '50'$"),
    (lambda r, f: vendi_score(r, kernel="rbf"), "kernel must be one of"),
])
def test_bad_input_names_the_array(rng, call, message):
    real, fake = rng.standard_normal((40, 3)), rng.standard_normal((30, 3))
    with pytest.raises(ValueError, match=message):
        call(real, fake)


def test_the_old_module_name_is_an_alias_of_explain():
    # modecover.evaluate is kept for old imports: every public name of modecover.explain, the same objects
    import modecover.evaluate as old
    import modecover.explain as new

    public = {name for name, value in vars(new).items()
              if not name.startswith("_") and getattr(value, "__module__", new.__name__) == new.__name__
              and not isinstance(value, type(new))}
    assert {"explain", "explain_unchecked", "describe_missed", "MISSED_MODE_SHARE"} <= public
    assert old.__all__ == new.__all__
    for name in sorted(public):
        assert getattr(old, name) is getattr(new, name), name
    real, fake = np.eye(6), np.eye(6)[::-1] + 0.01
    assert old.explain(real, fake, k=2).summary() == new.explain(real, fake, k=2).summary()
