"""modecover.neighbors equals a float64 brute force exactly (values, indices, tie order, counts)."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import brute_distances
from modecover import neighbors as nb
from modecover.neighbors import (
    _bounds,
    _counts,
    _inputs,
    _machine,
    _precision,
    _select,
    _symmetric,
    _tiles,
    ball_counts,
    balls,
    knn,
    kth_distances,
    pair_counts,
    radius_counts,
    unchecked,
)

pytestmark = pytest.mark.usefixtures("tile_products")  # every test with both product settings


def brute_knn(q, x, k, within=False):
    dist = brute_distances(q, x)
    if within:
        np.fill_diagonal(dist, np.inf)
    cols = np.arange(dist.shape[1])
    order = np.stack([np.lexsort((cols, row)) for row in dist])[:, :k]
    return np.take_along_axis(dist, order, 1), order


def assert_knn_equal(got, want):
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].dtype == np.float64 and got[1].dtype == np.int64


@pytest.mark.parametrize("d", [1, 2, 7, 300])
@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_knn_random_matches_brute_force(rng, d, backend):
    q = rng.normal(size=(150, d)).astype(np.float32)
    x = rng.normal(size=(230, d))
    for k in (1, 5):
        assert_knn_equal(knn(q, x, k, backend=backend, block_size=64), brute_knn(q, x, k))
        assert_knn_equal(knn(x, None, k, backend=backend, block_size=50), brute_knn(x, x, k, within=True))


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_knn_duplicates_and_ties_ordered_by_index(backend):
    # integer grid: many exactly equal distances, and exact duplicates of points
    g = np.array([[i, j] for i in range(5) for j in range(5)], dtype=np.float64)
    x = np.concatenate([g, g[:7], g[3:4], g[3:4]])
    for k in (1, 4, 12, len(x) - 1):
        got = knn(x, None, k, backend=backend, block_size=7)
        assert_knn_equal(got, brute_knn(x, x, k, within=True))
    # a duplicate of a point is its neighbour at distance 0; itself (by index) is not
    d, i = knn(x, None, 1, backend=backend)
    assert d[3, 0] == 0.0 and i[3, 0] == 25 + 3  # the copy of g[3] inside g[:7]
    assert (i[:, 0] != np.arange(len(x))).all()


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_knn_k_close_to_n_and_tiny_sets(backend):
    x = np.array([[0.0], [1.0], [1.0], [3.0]])
    assert_knn_equal(knn(x, None, 3, backend=backend), brute_knn(x, x, 3, within=True))
    assert_knn_equal(knn(x[:2], x, 4, backend=backend), brute_knn(x[:2], x, 4))
    assert_knn_equal(knn(x[:2], None, 1, backend=backend), brute_knn(x[:2], x[:2], 1, within=True))


def test_knn_far_from_origin_and_near_ties():
    # points 1e4 away from the origin differing by 1e-3: float32 alone cannot order them
    rng = np.random.default_rng(3)
    x = 1e4 + rng.normal(scale=1e-3, size=(120, 3))
    x[10] = x[11] + np.array([1e-9, 0, 0])  # nearly a duplicate
    assert_knn_equal(knn(x, None, 6), brute_knn(x, x, 6, within=True))
    q = x[:30] + 1e-7
    assert_knn_equal(knn(q, x, 3), brute_knn(q, x, 3))


def test_knn_accepts_torch_and_half_precision(rng):
    x = rng.normal(size=(60, 4)).astype(np.float32)
    t = torch.from_numpy(x).to(torch.bfloat16)
    want = brute_knn(t.float().numpy(), t.float().numpy(), 2, within=True)
    assert_knn_equal(knn(t, None, 2), want)
    assert_knn_equal(knn(torch.from_numpy(x).double(), None, 2), brute_knn(x, x, 2, within=True))


def test_kth_distances(rng):
    x = rng.normal(size=(90, 5))
    want = brute_knn(x, x, 4, within=True)[0][:, -1]
    np.testing.assert_array_equal(kth_distances(x, 4), want)
    np.testing.assert_array_equal(kth_distances(x, 4, backend="faiss", block_size=13), want)


def test_counts_random(rng):
    q = rng.normal(size=(140, 6)).astype(np.float32)
    x = rng.normal(size=(170, 6)).astype(np.float32)
    dist = brute_distances(q, x)
    r = rng.uniform(1, 4, size=len(q))
    c = rng.uniform(1, 4, size=len(x))
    np.testing.assert_array_equal(radius_counts(q, x, r, block_size=33), (dist < r[:, None]).sum(1))
    np.testing.assert_array_equal(ball_counts(q, x, c, block_size=33), (dist < c[None, :]).sum(1))
    np.testing.assert_array_equal(radius_counts(q, x, r, strict=False), (dist <= r[:, None]).sum(1))


def test_counts_exact_ties_at_radius():
    # grid points: distances 1, sqrt2, 2 ... occur exactly; radii set to those very values
    g = np.array([[i, j] for i in range(6) for j in range(6)], dtype=np.float32)
    dist = brute_distances(g, g)
    r = np.tile([0.0, 1.0, np.sqrt(2.0), 2.0], 9)
    for strict, op in ((True, np.less), (False, np.less_equal)):
        np.testing.assert_array_equal(radius_counts(g, g, r, strict=strict), op(dist, r[:, None]).sum(1))
        np.testing.assert_array_equal(ball_counts(g, g, r, strict=strict), op(dist, r[None, :]).sum(1))
    # radius equal to a kth distance computed by the engine itself
    kth = kth_distances(g, 4)
    np.testing.assert_array_equal(radius_counts(g, g, kth), (dist < kth[:, None]).sum(1))


def test_pair_counts_all_four_directions(rng):
    a = rng.normal(size=(50, 3))
    b = rng.normal(size=(70, 3))
    ra, rb = rng.uniform(0.3, 1.5, 50), rng.uniform(0.3, 1.5, 70)
    dist = brute_distances(a, b)
    res = pair_counts(a, b, a_radii=[ra, ra * 0.5], b_radii=[rb], block_size=16)
    np.testing.assert_array_equal(res.a_ball_members[0], (dist < ra[:, None]).sum(1))
    np.testing.assert_array_equal(res.b_in_a_balls[0], (dist < ra[:, None]).sum(0))
    np.testing.assert_array_equal(res.a_ball_members[1], (dist < 0.5 * ra[:, None]).sum(1))
    np.testing.assert_array_equal(res.b_ball_members[0], (dist < rb[None, :]).sum(0))
    np.testing.assert_array_equal(res.a_in_b_balls[0], (dist < rb[None, :]).sum(1))


def test_pair_counts_take_the_rows_of_a_2d_radius_array(rng):
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(20, 3))
    radii = rng.uniform(0.5, 2.0, size=(2, 30))
    rows, listed = pair_counts(a, b, a_radii=radii), pair_counts(a, b, a_radii=list(radii))
    assert len(rows.a_ball_members) == 2
    for got, want in zip(rows.a_ball_members + rows.b_in_a_balls, listed.a_ball_members + listed.b_in_a_balls):
        np.testing.assert_array_equal(got, want)


def test_pair_counts_any_member_of_b_balls(rng):
    # a_in_b_any (recall's question): zero vs non-zero exact, counts lower bounds; A-radius counts exact
    g = rng.integers(-2, 3, size=(80, 3)).astype(np.float64)  # exact ties at integer radii
    h = rng.integers(-2, 3, size=(60, 3)).astype(np.float64)
    ra, rb = rng.integers(0, 3, 80).astype(np.float64), rng.integers(0, 3, 60).astype(np.float64)
    dist = brute_distances(g, h)
    res = unchecked.pair_counts(g, h, [ra], [rb], True, 16, None, a_in_b_any=True)
    exact = (dist < rb[None, :]).sum(1)
    np.testing.assert_array_equal(res.a_in_b_balls[0] > 0, exact > 0)
    assert (res.a_in_b_balls[0] <= exact).all() and (res.b_ball_members[0] <= (dist < rb[None, :]).sum(0)).all()
    np.testing.assert_array_equal(res.a_ball_members[0], (dist < ra[:, None]).sum(1))
    np.testing.assert_array_equal(res.b_in_a_balls[0], (dist < ra[:, None]).sum(0))


def test_huge_radii_count_everything(rng):
    q = rng.normal(size=(20, 2))
    np.testing.assert_array_equal(radius_counts(q, q, np.full(20, 1e300)), np.full(20, 20))


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_points_near_the_float32_range_limit(rng, backend):
    """Up to a centred norm of 2^62 the float32 tiles cannot overflow and answers equal the
    brute force; beyond, squared distances would overflow and compare wrongly, so the engine
    refuses (a float64 value beyond float32's range too, without an overflow warning)."""
    q, x = rng.normal(size=(60, 16)), rng.normal(size=(80, 16))
    scale = 2.0**62 / max(np.linalg.norm(q, axis=1).max(), np.linalg.norm(x, axis=1).max()) / 1.5
    q, x = q * scale, x * scale
    assert_knn_equal(knn(q, x, 3, backend=backend), brute_knn(q, x, 3))
    r = brute_distances(q, x)[:, 7]
    np.testing.assert_array_equal(radius_counts(q, x, r), (brute_distances(q, x) < r[:, None]).sum(1))
    for big in (x * 4, np.vstack([x, np.full((1, 16), 1e300)])):
        for call in (lambda: knn(big, None, 3, backend=backend), lambda: radius_counts(q, big, r),
                     lambda: pair_counts(big, q, a_radii=[np.ones(len(big))])):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with pytest.raises(ValueError, match=r"features too large: row \d+.* beyond 4.61e\+18 \(2\^62\)"):
                    call()


def test_the_unit_of_the_features_changes_nothing(rng, monkeypatch):
    """Features scaled by 2^-30 (every value exactly scaled, as are the float64 distances)
    give the same answers and put the same pairs in doubt: no absolute term of the error
    bound outweighs small distances (which made every pair a float64 re-measure)."""
    from modecover.explain import explain
    from modecover.metrics import prdc

    remeasured = []
    exact = _inputs._exact_pair_distances

    def counting(a, b, rows, cols):
        remeasured.append(len(rows))
        return exact(a, b, rows, cols)

    for module in (_select, _counts, balls):  # every module that re-measures pairs in float64
        monkeypatch.setattr(module, "_exact_pair_distances", counting)
    real, fake = rng.normal(size=(400, 24)).astype(np.float32), rng.normal(size=(300, 24)).astype(np.float32)
    results, counts = [], []
    for scale in (1.0, 2.0**-30):
        remeasured.clear()
        dist, idx = knn(real * scale, fake * scale, 7, block_size=64)
        e = explain(real * scale, fake * scale, k=5)
        results.append((dist / scale, idx, prdc(real * scale, fake * scale, k=5),
                        (e.real_covered, e.real_nearest_fake_index, e.fake_nearest_ball, e.fake_ball_gap / scale,
                         e.fake_realism)))
        counts.append(sum(remeasured))
    assert counts[0] == counts[1] < len(real) * len(fake) / 4  # before: every pair, several times
    (d0, i0, p0, e0), (d1, i1, p1, e1) = results
    np.testing.assert_array_equal(i0, i1)
    np.testing.assert_array_equal(d0, d1)
    assert p0 == p1
    for x0, x1 in zip(e0, e1):
        np.testing.assert_array_equal(x0, x1)


@pytest.mark.parametrize("exponent", [-63, -70])
def test_points_near_float32_underflow_equal_brute_force(rng, exponent):
    """Squared distances near or below float32's smallest normal (2^-126): the underflow
    term of the bound keeps every answer exact, ties on an integer grid included."""
    q = rng.integers(-3, 4, size=(120, 5)) * 2.0**exponent
    x = (rng.normal(size=(150, 5)) * 2.0**exponent).astype(np.float32)
    assert_knn_equal(knn(q, x, 4), brute_knn(q, x, 4))
    dist = brute_distances(q, x)
    r = dist[np.arange(len(q)), rng.integers(0, len(x), len(q))]
    np.testing.assert_array_equal(radius_counts(q, x, r), (dist < r[:, None]).sum(1))
    np.testing.assert_array_equal(radius_counts(q, q, 2.0**exponent), (brute_distances(q, q) < 2.0**exponent).sum(1))


def test_threads_restored_and_overridable(rng):
    before = torch.get_num_threads()
    x = rng.normal(size=(40, 3))
    knn(x, None, 2, threads=2)
    radius_counts(x, x, np.ones(40), threads=2)
    assert torch.get_num_threads() == before


def test_block_size_default_bounded():
    assert 16 <= _machine._choose_block(None, 50_000) <= 8192
    assert _machine._choose_block(None, 10) == 8192
    with pytest.raises(ValueError, match="block_size"):
        _machine._choose_block(0, 10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: knn(x, None, 10), "need at least 11"),
        (lambda x: knn(x, x[:, :2], 1), "feature columns"),
        (lambda x: knn(x, None, 0), "positive integer"),
        (lambda x: knn(x, None, 1, backend="annoy"), "backend"),
        (lambda x: knn(np.where(x > 1, np.nan, x), None, 1), "query: .*non-finite"),
        (lambda x: knn(x[0], None, 1), "query: expected a 2-D"),
        (lambda x: radius_counts(x, x, np.ones(3)), r"radii: expected shape \(10,\)"),
        (lambda x: radius_counts(x, x, -np.ones(10)), "radii: negative"),
        (lambda x: ball_counts(x, x, np.full(10, np.inf)), "radii: non-finite"),
        (lambda x: ball_counts(x, x[:, :1], np.ones(10)), "centers has 1"),
        (lambda x: knn(x + 1j, None, 1), "query: expected real values, got dtype complex128"),
        (lambda x: knn(torch.empty(10, 3, device="meta"), None, 1), "query: a tensor on the 'meta' device"),
        (lambda x: knn(x, None, True), "k must be a positive integer, got True"),
        (lambda x: knn(x, None, 1, threads="2"), "threads must be a positive integer, got '2'"),
        (lambda x: knn(x, None, 1, block_size=2.5), "block_size must be a positive integer, got 2.5"),
        (lambda x: radius_counts(x, x, 1 + 1j), r"radii: expected real numbers, got \(1\+1j\) \(dtype complex128\)"),
        (lambda x: radius_counts(x, x, "1"), "radii: expected real numbers, got '1'"),
        (lambda x: pair_counts(x, x, a_radii=np.ones(10)), r"a_radii: expected a list of radius vectors .* \(10,\)"),
    ],
)
def test_bad_input_names_the_problem(call, match):
    x = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=match):
        call(x)


points = hnp.arrays(
    np.float64,
    st.tuples(st.integers(2, 25), st.integers(1, 3)),
    elements=st.integers(-3, 3).map(float) | st.floats(-3, 3, width=32),
)


@settings(max_examples=200, deadline=None)
@given(x=points, k=st.integers(1, 6), data=st.data())
def test_property_knn_and_counts_equal_brute_force(x, k, data):
    k = min(k, len(x) - 1)
    backend = data.draw(st.sampled_from(["torch", "faiss"]))
    got = knn(x, None, k, backend=backend, block_size=data.draw(st.integers(1, 30)))
    assert_knn_equal(got, brute_knn(x, x, k, within=True))
    dist = brute_distances(x, x)
    # radii drawn from the actual distances: exact ties everywhere
    r = dist[np.arange(len(x)), data.draw(st.lists(st.integers(0, len(x) - 1), min_size=len(x), max_size=len(x)))]
    strict = data.draw(st.booleans())
    op = np.less if strict else np.less_equal
    np.testing.assert_array_equal(radius_counts(x, x, r, strict=strict), op(dist, r[:, None]).sum(1))
    np.testing.assert_array_equal(ball_counts(x, x, r, strict=strict), op(dist, r[None, :]).sum(1))


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_many_exact_duplicates_beyond_the_candidate_list(backend):
    # 30 copies of one point: every top-(k+8) list is all ties at 0, the lowest indices must win
    x = np.concatenate([np.ones((30, 3)), np.arange(12.0).reshape(4, 3)])
    x = x[np.random.default_rng(1).permutation(len(x))]
    for k in (1, 3, 20):
        assert_knn_equal(knn(x, None, k, backend=backend, block_size=5), brute_knn(x, x, k, within=True))
        assert_knn_equal(knn(x[:7], x, k, backend=backend), brute_knn(x[:7], x, k))


@pytest.mark.parametrize("symmetric", [True, False])
def test_within_set_symmetric_tiles_equal_brute_force(monkeypatch, symmetric):
    # wide points (the within-set k-NN then reuses each tile product for both blocks):
    # duplicates, integer coordinates with exact ties, one point far out, blocks of uneven size
    if not symmetric:
        monkeypatch.setattr(_symmetric, "_SYMMETRIC_MAX_CANDIDATES", 0)
    rng = np.random.default_rng(11)
    x = rng.integers(-2, 3, size=(130, 80)).astype(np.float32)
    x[40:60] = x[0]  # 21 copies of one point: lists full of ties, rescans past the list
    x[100] *= 50.0
    assert _symmetric._symmetric_pays(80, 5 + _select._EXTRA_CANDIDATES, len(x)) == symmetric
    for k in (1, 5, 24):
        want = brute_knn(x, x, k, within=True)
        assert_knn_equal(knn(x, None, k, block_size=17), want)
        assert_knn_equal(knn(x, None, k), want)


def test_long_candidate_lists_equal_brute_force():
    # large k (the search's K-NN graph): whole candidate lists are re-measured as padded arrays
    rng = np.random.default_rng(12)
    x = np.round(rng.normal(size=(400, 6)), 1)  # coarse grid: many exact ties
    x[:30] = x[0]
    for k in (100, 250, 399):
        assert_knn_equal(knn(x, None, k, block_size=64), brute_knn(x, x, k, within=True))
    q = x[::7] + 0.05
    assert_knn_equal(knn(q, x, 120, block_size=9), brute_knn(q, x, 120))


def test_counts_tiles_with_uneven_norms(rng):
    # column thresholds share one error bound per row block: points with very different
    # norms (a wide bound) still give exact counts, including radii equal to distances
    a = rng.integers(-3, 4, size=(90, 70)).astype(np.float64)
    b = rng.integers(-3, 4, size=(110, 70)).astype(np.float64)
    a[5] *= 40.0
    b[7] = a[3]
    dist = brute_distances(a, b)
    ra, rb = dist[np.arange(90), rng.integers(0, 110, 90)], dist[rng.integers(0, 90, 110), np.arange(110)]
    for strict, op in ((True, np.less), (False, np.less_equal)):
        res = pair_counts(a, b, a_radii=[ra], b_radii=[rb], strict=strict, block_size=32)
        np.testing.assert_array_equal(res.a_ball_members[0], op(dist, ra[:, None]).sum(1))
        np.testing.assert_array_equal(res.b_in_a_balls[0], op(dist, ra[:, None]).sum(0))
        np.testing.assert_array_equal(res.b_ball_members[0], op(dist, rb[None, :]).sum(0))
        np.testing.assert_array_equal(res.a_in_b_balls[0], op(dist, rb[None, :]).sum(1))


def test_worker_threads_give_the_same_answers(rng):
    # blocks handed to two worker threads (one torch thread each): same lists and counts
    x = rng.integers(-2, 3, size=(150, 70)).astype(np.float32)
    y = rng.normal(size=(120, 70)).astype(np.float32)
    x[10:20] = x[3]
    for k in (3, 30, 140):  # symmetric tiles, and long lists
        assert_knn_equal(knn(x, None, k, block_size=16, threads=2), brute_knn(x, x, k, within=True))
    assert_knn_equal(knn(y, x, 4, block_size=16, threads=2), brute_knn(y, x, 4))
    dist = brute_distances(x, y)
    ra, rb = kth_distances(x, 3), kth_distances(y, 3)
    res = pair_counts(x, y, a_radii=[ra], b_radii=[rb], block_size=16, threads=2)
    np.testing.assert_array_equal(res.a_ball_members[0], (dist < ra[:, None]).sum(1))
    np.testing.assert_array_equal(res.b_in_a_balls[0], (dist < ra[:, None]).sum(0))
    np.testing.assert_array_equal(res.b_ball_members[0], (dist < rb[None, :]).sum(0))
    np.testing.assert_array_equal(res.a_in_b_balls[0], (dist < rb[None, :]).sum(1))


def aligned_rounding_points(rng, n: int, d: int) -> np.ndarray:
    """Points ``t_i (1, ..., 1)`` plus a little noise: each one's bfloat16 rounding error is
    (nearly) parallel to the point, where the Cauchy-Schwarz bound on ``a.e_b`` is tight."""
    t = rng.uniform(0.5, 1.5, size=(n, 1)) * (1.0 + 1.0 / 3.0)
    return (t * np.ones((1, d)) + rng.normal(scale=1e-3, size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("spread", [False, True])
def test_bfloat16_tiles_within_their_error_bound(rng, spread):
    # worst-case bound: every pair; with a spread (thresholds T_i): the decisions it gives are right
    a = np.concatenate([aligned_rounding_points(rng, 60, 300), rng.normal(3.0, 2.0, size=(60, 300))])
    b = np.concatenate([aligned_rounding_points(rng, 50, 300), rng.normal(3.0, 2.0, size=(50, 300))])
    with nb.products("bfloat16"):
        pa, pb = _tiles._prepare(a, b)
    assert pa.low is not None and pb.low is not None
    rows, cols = slice(0, len(a)), slice(0, len(b))
    tile = _tiles._cross_tile(pa, pb, rows, cols, torch.empty(len(a), len(b))).double().numpy()
    exact = brute_distances(a, b) ** 2
    if not spread:
        ratio = np.abs(tile - exact) / _bounds._full_error_bounds(pa, pb, rows)[:, None]
        assert ratio.max() <= 1.0
        assert ratio.max() > 0.25  # and tight on the aligned points: a bound 4x smaller would fail
        return
    threshold = np.quantile(exact, 0.1, axis=1)
    bound = _bounds._full_error_bounds(pa, pb, rows, _bounds._row_spread(pa, pb, rows, threshold))
    assert not (exact >= threshold[:, None])[tile < (threshold - bound)[:, None]].any()
    assert not (exact <= threshold[:, None])[tile > (threshold + bound)[:, None]].any()
    # and the rounding to bfloat16 does matter: the float32 bound alone would not hold
    assert (np.abs(tile - exact) > _bounds._float32_bounds(pa, pb, rows)[:, None]).any()


def test_bfloat16_answers_on_rounding_aligned_points(rng):
    x = aligned_rounding_points(rng, 150, 260)
    x[70:75] = x[3]  # duplicates
    q = x[:40] + np.float32(1e-3)
    with nb.products("bfloat16"):
        for k in (1, 5, 30):
            assert_knn_equal(knn(x, None, k, block_size=32), brute_knn(x, x, k, within=True))
            assert_knn_equal(knn(q, x, k), brute_knn(q, x, k))
        r = kth_distances(x, 5)
        dist = brute_distances(x, x)
        np.testing.assert_array_equal(radius_counts(x, x, r, block_size=40), (dist < r[:, None]).sum(1))
        np.testing.assert_array_equal(ball_counts(x, x, r, strict=False), (dist <= r[None, :]).sum(1))


def test_products_setting():
    with pytest.raises(ValueError, match="products must be one of"):
        with nb.products("float16"):
            pass
    with nb.products("auto"):
        native = _precision._native_bfloat16() and _precision._bfloat16_sums_in_float32()
        assert _precision._use_bfloat16(2048, 1e12) == native
        assert not _precision._use_bfloat16(64, 1e12) and not _precision._use_bfloat16(2048, 1e8)
        big = np.ones((10, 2048))
        assert _tiles._prepare(big, None, auto_bfloat16=False)[0].low is None  # k-NN with k > 32
    with nb.products("bfloat16"):
        assert _tiles._prepare(big, None, auto_bfloat16=False)[0].low is not None  # asked for: used
    with nb.products("float32"):
        assert not _precision._use_bfloat16(2048, 1e12)
        assert _tiles._prepare(np.ones((3, 300)), None)[0].low is None


def test_bfloat16_refused_where_products_are_not_summed_in_float32(monkeypatch):
    monkeypatch.setattr(_precision, "_bfloat16_sums_in_float32", lambda: False)
    monkeypatch.setattr(_precision, "_native_bfloat16", lambda: True)
    with nb.products("auto"):
        assert not _precision._use_bfloat16(2048, 1e12)
    with nb.products("bfloat16"), pytest.raises(RuntimeError, match="does not sum bfloat16 products in float32"):
        knn(np.ones((3, 4)), None, 1)
