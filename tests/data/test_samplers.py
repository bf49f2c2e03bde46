import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from modecover.data.samplers import (
    DistributedWeightedSampler,
    UniformSampler,
    WeightedSampler,
    check_weights,
    make_sampler,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_draw_frequencies_match_weights_chi_square(seed):
    weights = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 9.5])
    sampler = WeightedSampler(weights, num_samples=30_000, seed=seed)
    counts = np.bincount(np.fromiter(iter(sampler), dtype=np.int64), minlength=len(weights))
    expected = weights / weights.sum() * counts.sum()
    assert chisquare(counts, expected).pvalue > 1e-4


def test_zero_weight_samples_are_never_drawn():
    weights = torch.tensor([0.0, 1.0, 0.0, 1e-3, 0.0])
    idx = WeightedSampler(weights, 5000, seed=3).take(20_000)
    assert set(idx.tolist()) <= {1, 3}
    assert (idx == 3).any()


def test_same_seed_same_stream_and_different_seed_differs():
    w = np.ones(50)
    a, b, c = (WeightedSampler(w, 64, seed=s).take(200) for s in (7, 7, 8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("make", [
    lambda: WeightedSampler(np.arange(1, 11.0), 7, seed=5),
    lambda: UniformSampler(10, seed=5),
    lambda: DistributedWeightedSampler(np.arange(1, 11.0), 9, rank=1, world_size=3, seed=5),
    lambda: UniformSampler(10, num_samples=25, seed=5, rank=1, world_size=2),
])
@pytest.mark.parametrize("cut", [0, 3, 7, 10, 21])
def test_resume_from_state_continues_the_same_stream(make, cut):
    full = make().take(40)
    first = make()
    if cut:
        first.take(cut)
    state = first.state_dict()
    resumed = make()
    resumed.take(13)  # whatever it did before, loading the state puts it back
    resumed.load_state_dict(state)
    assert torch.equal(resumed.take(40 - cut), full[cut:])


def test_uniform_sampler_is_shuffled_epochs():
    s = UniformSampler(12, seed=0)
    for _ in range(3):
        assert sorted(s.take(12).tolist()) == list(range(12))
    assert s.take(12).tolist() != list(range(12))


@pytest.mark.parametrize("world", [2, 3])
def test_distributed_shares_partition_one_global_draw(world):
    w = np.random.default_rng(0).random(40) + 0.1
    global_draw = torch.cat([torch.as_tensor(list(DistributedWeightedSampler(w, 30, 0, 1, seed=4)))])
    shares = [list(DistributedWeightedSampler(w, 30, r, world, seed=4)) for r in range(world)]
    size = -(-30 // world) * world
    assert all(len(s) == size // world for s in shares)
    # positions interleave back into the global draw: no overlap, nothing dropped
    rebuilt = [shares[p % world][p // world] for p in range(size)]
    reference = torch.multinomial(
        torch.as_tensor(w, dtype=torch.float64), size, replacement=True, generator=torch.Generator().manual_seed(4)
    )
    assert rebuilt == reference.tolist()
    if size == 30:
        assert rebuilt == global_draw.tolist()


def test_distributed_uniform_ranks_cover_each_epoch_exactly_once():
    shares = [UniformSampler(20, seed=1, rank=r, world_size=2).take(10) for r in range(2)]
    assert sorted(torch.cat(shares).tolist()) == list(range(20))


@pytest.mark.parametrize(
    "weights, message",
    [
        ([1.0, float("nan"), 1.0], "NaN or infinite weight.*index 1"),
        ([1.0, float("inf")], "NaN or infinite"),
        ([1.0, -0.5, 2.0], "negative weight.*-0.5 at index 1"),
        ([0.0, 0.0], "all 2 weights are zero"),
        ([], "non-empty 1-D"),
        ([[1.0, 2.0]], "1-D"),
    ],
)
def test_bad_weights_are_named(weights, message):
    with pytest.raises(ValueError, match=message):
        check_weights(weights)
    with pytest.raises(ValueError, match=message):
        WeightedSampler(np.asarray(weights, dtype=float), 10)


@pytest.mark.parametrize("make, message", [
    (lambda: WeightedSampler([1.0], 0), "^num_samples must be a positive integer, got 0$"),
    *[(lambda rank=rank: DistributedWeightedSampler([1.0], 4, rank=rank, world_size=2),
       rf"^rank \(of world_size=2\) must be an integer in \[0, 1\], got {rank!r}$") for rank in (2, -1, True, 1.0)],
    (lambda: UniformSampler(3).take(0), "batch_size"),
    (lambda: make_sampler(torch.ones(3), 4, 8, seed=0), "length 3, the data set has 4"),
])
def test_bad_sizes_and_ranks(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_make_sampler_picks_uniform_or_weighted():
    assert isinstance(make_sampler(None, 5, 5, 0), UniformSampler)
    s = make_sampler(torch.tensor([0.0, 1.0, 0.0]), 3, 6, 0)
    assert set(s.take(30).tolist()) == {1}


def test_small_weight_vectors_keep_torch_multinomial_draws():
    w = torch.arange(1, 40, dtype=torch.float64)
    expected = torch.multinomial(w, 100, replacement=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(WeightedSampler(w, 100, seed=5).take(100), expected)


def test_inverse_cdf_draw_matches_weights_and_skips_zeros(monkeypatch):
    from modecover.data import samplers

    monkeypatch.setattr(samplers, "MULTINOMIAL_MAX_CATEGORIES", 3)
    weights = np.array([0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0])
    sampler = WeightedSampler(weights, num_samples=30_000, seed=1)
    idx = sampler.take(30_000)
    counts = np.bincount(idx.numpy(), minlength=len(weights))
    assert counts[[0, 3, 6]].sum() == 0
    positive = weights > 0
    assert chisquare(counts[positive], weights[positive] / weights.sum() * counts.sum()).pvalue > 1e-4
    # resuming redoes the same draw
    sampler.take(7)
    state = sampler.state_dict()
    again = WeightedSampler(weights, num_samples=30_000, seed=1)
    again.load_state_dict(state)
    assert torch.equal(sampler.take(50), again.take(50))


def test_more_weights_than_torch_multinomial_allows():
    n = 2**24 + 3
    weights = torch.zeros(n, dtype=torch.float64)
    weights[[0, 2**24, n - 1]] = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    idx = WeightedSampler(weights, 4000, seed=0).take(4000)
    assert set(idx.tolist()) == {0, 2**24, n - 1}
    assert torch.equal(idx, WeightedSampler(weights, 4000, seed=0).take(4000))


@pytest.mark.parametrize("seed", [1.7, True, "3"])
def test_a_non_integer_seed_is_refused_not_truncated(seed):
    with pytest.raises(ValueError, match="sampler seed must be an integer"):
        make_sampler(np.ones(5), 5, 4, seed)
    with pytest.raises(ValueError, match="sampler seed must be an integer"):
        UniformSampler(5, seed=seed)
