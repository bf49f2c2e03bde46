"""DMPRA plug-in (round loop) and the perception space: classifier, GAN features, files, resume."""

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from helpers import ring_data
from modecover.data.mixtures import imbalanced_ring
from modecover.distributed import same_on_every_rank
from modecover.dmpra import SearchConfig, WeightingConfig, delta_bar, search, weigh
from modecover.dmpra.perception import (
    PerceptionClassifier,
    PerceptionClassifierConfig,
    generate,
    perception_space,
)
from modecover.dmpra.plugin import DMPRA, DMPRAConfig
from modecover.plugins import GeneratorContext, Hooks

FAST = SearchConfig(max_neighbors=320)  # ladder 20..320: the minority modes are found, tests stay fast
FAST_SEARCH = {"search": {"max_neighbors": 320}}  # the same as DMPRA options


class StandInGAN(nn.Module):
    """The pieces of the GAN interface DMPRA uses: a 2D non-saturating GAN whose
    discriminator body gives the perception features."""

    family = "gan"

    def __init__(self, latent_dim=4, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = {"latent_dim": latent_dim}
        self.generator = nn.Sequential(nn.Linear(latent_dim, 32), nn.ReLU(), nn.Linear(32, 2))
        self.body = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 16), nn.LeakyReLU(0.2))
        self.head = nn.Linear(16, 1)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), 1e-3)
        self.opt_d = torch.optim.Adam([*self.body.parameters(), *self.head.parameters()], 1e-3)

    def discriminate(self, x):
        return self.head(self.body(x)).reshape(-1)

    def perception_features(self, x):
        return self.body(x)

    @torch.no_grad()
    def sample(self, n, hooks=None):
        return self.generator(torch.randn(n, self.config["latent_dim"]))

    def train_step(self, real, hooks, step):
        sp = nn.functional.softplus
        fake = self.sample(real.shape[0])
        loss_d = sp(-self.discriminate(real)).mean() + sp(self.discriminate(fake)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        z = torch.randn(real.shape[0], self.config["latent_dim"])
        fake = self.generator(z)
        d_fake = self.discriminate(fake)
        ctx = GeneratorContext(step, real, z, z, fake, d_fake, sp(-d_fake), self)
        loss_g = ctx.per_sample_loss.mean() + hooks.generator_loss(ctx)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


class NoDiscriminatorModel(nn.Module):
    """A non-GAN family: no perception features; samples the balanced ring (no minority)."""

    family = "vae"

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.draws = 0

    def perception_features(self, x):
        return None

    @torch.no_grad()
    def sample(self, n, hooks=None):
        angle = torch.randint(0, 8, (n,)) * (2 * np.pi / 8)
        self.draws += n
        return self.scale * torch.stack([angle.cos(), angle.sin()], 1) + 0.01 * torch.randn(n, 2)


def run_rounds(model, hooks, data, rounds, steps, out_dir, batch=128):
    """The trainer's round loop in miniature: weights -> sampler -> steps -> on_round_end."""
    gen = torch.Generator().manual_seed(0)
    for r in range(rounds):
        weights = hooks.data_weights(len(data))
        for step in range(steps):
            if weights is None:
                idx = torch.randint(len(data), (batch,), generator=gen)
            else:
                idx = torch.multinomial(weights, batch, replacement=True, generator=gen)
            model.train_step(data[idx], hooks, step)
        hooks.on_round_end(model, data, r, out_dir / f"round{r}")


@pytest.fixture(scope="module")
def imbalanced_data():
    """1,200 points of the imbalanced ring, their mode labels and the minority mask."""
    points, labels = ring_data(1200, imbalanced=True, labels=True)
    return points, labels, np.isin(labels, imbalanced_ring().minority)


@pytest.fixture(scope="module")
def one_round(imbalanced_data, tmp_path_factory):
    """A stand-in GAN trained one round with DMPRA on the imbalanced ring."""
    data, _, _ = imbalanced_data
    out = tmp_path_factory.mktemp("dmpra")
    model = StandInGAN()
    plugin = DMPRA(**FAST_SEARCH)
    hooks = Hooks([plugin])
    assert hooks.data_weights(len(data)) is None  # round 0 trains unweighted
    run_rounds(model, hooks, data, rounds=1, steps=300, out_dir=out)
    return model, plugin, out


# --- perception classifier ------------------------------------------------------------


def test_classifier_separates_real_from_generated_and_is_seeded(rng):
    real = torch.as_tensor(rng.normal(size=(300, 3)), dtype=torch.float32)
    fake = real + 3.0
    config = PerceptionClassifierConfig(steps=150, seed=3)
    a = PerceptionClassifier((3,), config)
    stats = a.fit(real, fake)
    assert stats["accuracy"] > 0.95
    b = PerceptionClassifier((3,), config)
    b.fit(real, fake)
    np.testing.assert_array_equal(a.features(real), b.features(real))  # same seed -> same network
    c = PerceptionClassifier((3,), PerceptionClassifierConfig(steps=150, seed=4))
    c.fit(real, fake)
    assert not np.array_equal(a.features(real), c.features(real))
    assert a.features(real).shape == (300, config.feature_dim) and a.features(real).dtype == np.float64
    # the penultimate layer is what the head reads: head(features) = logits
    logits = a.head(torch.as_tensor(a.features(real[:5]), dtype=torch.float32))
    torch.testing.assert_close(logits, a(real[:5]))


def test_classifier_is_a_cnn_for_images_and_fine_tunes():
    real = torch.rand(40, 1, 8, 8)
    fake = torch.rand(40, 1, 8, 8) * 0.5
    clf = PerceptionClassifier((1, 8, 8), steps=5, finetune_steps=0, channels=4, feature_dim=6)
    assert any(isinstance(m, nn.Conv2d) for m in clf.modules())
    clf.fit(real, fake)
    before = [p.detach().clone() for p in clf.parameters()]
    clf.fit(real, fake)  # a later fit runs finetune_steps = 0 steps: nothing changes
    assert clf.fits == 2 and all(torch.equal(a, b) for a, b in zip(before, clf.parameters()))
    assert clf.features(real, batch_size=7).shape == (40, 6)
    np.testing.assert_allclose(clf.features(real, batch_size=7), clf.features(real), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"sample shape \(1, 4, 4\).*\(1, 8, 8\)"):
        clf.fit(torch.rand(4, 1, 4, 4), fake)


def test_classifier_checkpoint_state_round_trip(rng):
    real = torch.as_tensor(rng.normal(size=(50, 2)), dtype=torch.float32)
    clf = PerceptionClassifier((2,), steps=20)
    clf.fit(real, real * 2)
    again = PerceptionClassifier.from_checkpoint_state(clf.checkpoint_state())
    assert again.fits == 1 and again.data_shape == (2,)
    np.testing.assert_array_equal(again.features(real), clf.features(real))
    with pytest.raises(ValueError, match="lacks"):
        PerceptionClassifier.from_checkpoint_state({"net.x": torch.zeros(1)})


@pytest.mark.parametrize("bad", [{"steps": 0}, {"finetune_steps": -1}, {"lr": float("nan")}, {"feature_dim": 2.5}])
def test_classifier_config_errors_name_the_field(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PerceptionClassifierConfig(**bad)


# --- perception space -----------------------------------------------------------------


def test_gan_perception_space_is_discriminator_features_in_batches(imbalanced_data):
    data, _, _ = imbalanced_data
    model = StandInGAN()
    model.train()
    with torch.no_grad():
        direct = model.body(data).double().numpy()
    feats = perception_space(model, data, batch_size=100)
    np.testing.assert_allclose(feats, direct, rtol=1e-6, atol=1e-7)
    assert model.training  # mode restored


def test_non_gan_perception_space_trains_then_fine_tunes_one_classifier(imbalanced_data):
    data, _, _ = imbalanced_data
    model = NoDiscriminatorModel()
    clf = PerceptionClassifier((2,), steps=30, finetune_steps=10)
    first = perception_space(model, data, clf)
    assert clf.fits == 1 and model.draws == len(data)  # as many generated samples as real ones
    second = perception_space(model, data, clf)
    assert clf.fits == 2 and first.shape == second.shape == (len(data), 32)
    np.testing.assert_array_equal(second, clf.features(data))


def test_perception_space_errors():
    class WrongShape(NoDiscriminatorModel):
        def sample(self, n, hooks=None):
            return torch.zeros(n, 3)

    class Diverged(StandInGAN):
        def perception_features(self, x):
            return torch.full((x.shape[0], 4), float("nan"))

    data = torch.randn(30, 2)
    with pytest.raises(ValueError, match=r"generated samples have shape \(3,\), data \(2,\)"):
        perception_space(WrongShape(), data)
    with pytest.raises(ValueError, match="perception space.*non-finite"):
        perception_space(Diverged(), data)
    with pytest.raises(ValueError, match="data must have shape"):
        perception_space(StandInGAN(), torch.zeros(0, 2))
    assert generate(NoDiscriminatorModel(), 25, batch_size=10).shape == (25, 2)


# --- the plug-in ------------------------------------------------------------------------


def test_round_weights_are_the_search_of_the_perception_space(one_round, imbalanced_data):
    model, plugin, _ = one_round
    data, _, _ = imbalanced_data
    features = perception_space(model, data)
    result = search(features, FAST)
    expected = weigh(result).weights  # the default: groups
    weights = plugin.data_weights(len(data))
    assert weights.dtype == torch.float64
    np.testing.assert_array_equal(weights.numpy(), expected)
    assert Hooks([plugin]).data_weights(len(data)) is weights
    summary = plugin.history[-1]
    assert summary["n_minority"] == int(result.minority.sum()) and summary["delta_bar"] == delta_bar(result)
    assert [g["size"] for g in summary["groups"]] == [g.size for g in weigh(result).groups]


def test_minority_modes_are_flagged_and_reweighted(one_round, imbalanced_data):
    _, plugin, _ = one_round
    _, labels, minority_mode = imbalanced_data
    weights = plugin.weights.numpy()
    flagged = weights != 1.0
    # the rare modes' samples are the ones DMPRA singles out in the discriminator's space
    # (not guaranteed: D's map can fold a rare mode onto a common one; seed 0 after 150 or
    # 1000 steps flags only one of the two rare modes - see docs/dmpra.md, "Rounds").
    # StandInGAN(seed=0..15) (another CPU's kernels change the trajectory like another seed):
    # both rare modes wholly flagged for 14 seeds, one wholly and the other not at all for 2
    # (seeds 4, 8: 44-57 % of rare samples); 1.8-5.0 % of the other samples flagged.
    per_rare_mode = [flagged[labels == j].mean() for j in imbalanced_ring().minority]
    assert max(per_rare_mode) > 0.8 and flagged[minority_mode].mean() > 0.3
    assert flagged[~minority_mode].mean() < 0.08
    assert np.isfinite(weights).all() and (weights > 0).all()


def test_minority_modes_get_larger_mean_weight(one_round, imbalanced_data):
    """The default (groups) raises the rare modes well above the rest: each rare mode is one
    linked group whose weight is its density deficit (about the 1:20 imbalance)."""
    _, plugin, _ = one_round
    _, _, minority_mode = imbalanced_data
    weights = plugin.weights.numpy()
    assert weights[minority_mode].mean() > 5 * weights[~minority_mode].mean()
    assert np.median(weights[minority_mode]) > 5


def test_paper_weighting_down_weights_what_the_search_finds(one_round, imbalanced_data):
    """The literal Eq. 6-7 (weighting="paper"): a flagged sample's CV is below 1/k_sigma, so
    delta_bar < 1 and the rare modes get less weight than the main samples (the finding
    that made groups the default)."""
    model, _, _ = one_round
    data, _, minority_mode = imbalanced_data
    paper = DMPRA(weights={"weighting": "paper"}, plot=False, **FAST_SEARCH)
    paper.on_round_end(model, data, 0, None)
    weights = paper.weights.numpy()
    assert paper.history[-1]["delta_bar"] < 1
    assert weights[minority_mode].mean() < weights[~minority_mode].mean()
    result = search(perception_space(model, data), FAST)
    assert (result.cv[result.minority] < 1 / 3).all()  # the bound behind the finding


def test_data_space_searches_the_training_samples(imbalanced_data):
    """space="data" searches the points themselves: the same flags as the search of the data."""
    data, _, minority_mode = imbalanced_data
    plugin = DMPRA(space="data", plot=False, **FAST_SEARCH)
    plugin.on_round_end(StandInGAN(), data, 0, None)
    result = search(data.double().numpy(), FAST)
    np.testing.assert_array_equal(plugin.weights.numpy(), weigh(result).weights)
    assert result.minority[minority_mode].all()


def test_data_space_with_components_searches_the_principal_components(imbalanced_data):
    """space="data", components=2: the LOCI search of the first 2 principal components of the
    samples (scikit-learn's PCA, computed here), here of the ring embedded in 6 dimensions."""
    from sklearn.decomposition import PCA

    data, _, minority_mode = imbalanced_data
    rng = np.random.default_rng(0)
    lifted = data.double() @ torch.as_tensor(rng.normal(size=(2, 6))) + 0.02 * torch.as_tensor(
        rng.normal(size=(len(data), 6)))
    plugin = DMPRA(space="data", components=2, plot=False, **FAST_SEARCH)
    summary = plugin.on_round_end(StandInGAN(), lifted, 0, None)
    flat = lifted.numpy()
    pca = PCA(2, svd_solver="full").fit(flat)
    result = search(pca.transform(flat), FAST)
    np.testing.assert_allclose(plugin.weights.numpy(), weigh(result).weights, rtol=1e-10, atol=0)
    assert result.minority[minority_mode].mean() > 0.8
    assert summary["detector"] == "loci" and summary["projection"]["components"] == 2
    assert summary["projection"]["explained_variance_ratio"] == pytest.approx(pca.explained_variance_ratio_.sum())


def test_round_files(one_round, imbalanced_data):
    _, plugin, out = one_round
    data, _, _ = imbalanced_data
    round_dir = out / "round0"
    with open(round_dir / "dmpra_scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["index", "score", "radius", "cv", "minority", "group", "group_deficit", "weight",
                             "censored"]
    assert len(rows) == len(data)
    arrays = np.load(round_dir / "dmpra_scores.npz")
    np.testing.assert_array_equal([int(r["index"]) for r in rows], np.arange(len(data)))
    np.testing.assert_array_equal(arrays["index"], np.arange(len(data)))
    for column in ("score", "radius", "cv", "weight"):
        np.testing.assert_array_equal(np.array([float(r[column]) for r in rows]), arrays[column])  # repr round-trips
    np.testing.assert_array_equal(arrays["weight"], plugin.weights.numpy())
    np.testing.assert_array_equal([int(r["minority"]) for r in rows], arrays["minority"])
    assert set(np.unique(arrays["minority"])) <= {0, 1} and set(np.unique(arrays["censored"])) <= {0, 1}
    assert arrays["proj"].shape == (len(data), 2)
    assert (round_dir / "dmpra_perception.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((round_dir / "dmpra_summary.json").read_text())
    assert summary["n_minority"] == int(arrays["minority"].sum()) and summary["round"] == 0
    assert summary["search"]["ladder_sizes"] == [20, 40, 80, 160, 320]


def test_second_round_uses_weights_and_plot_can_be_off(imbalanced_data, tmp_path):
    data, _, _ = imbalanced_data
    plugin = DMPRA(plot=False, weights=WeightingConfig(weighting="paper", informative=False), **FAST_SEARCH)
    hooks = Hooks([plugin])
    seen = []
    original = plugin.data_weights
    plugin.data_weights = lambda n: seen.append(original(n)) or seen[-1]
    run_rounds(StandInGAN(seed=1), hooks, data, rounds=2, steps=40, out_dir=tmp_path)
    assert seen[0] is None and seen[1] is not None and len(seen[1]) == len(data)
    assert plugin.rounds_searched == 2 and [h["round"] for h in plugin.history] == [0, 1]
    assert plugin.flag_counts == [h["n_minority"] for h in plugin.history]
    assert (tmp_path / "round1" / "dmpra_scores.csv").exists()
    assert not (tmp_path / "round1" / "dmpra_perception.png").exists()
    # ablation: every minority sample gets delta_bar
    summary = plugin.history[-1]
    weights = plugin.weights.numpy()
    assert summary["n_minority"] > 0
    np.testing.assert_allclose(weights[weights != 1.0], summary["delta_bar"], rtol=1e-12)


def test_data_weights_size_mismatch_names_both(one_round):
    _, plugin, _ = one_round
    n = plugin.weights.shape[0]
    with pytest.raises(ValueError, match=rf"{n} training samples.*has {n + 1}"):
        plugin.data_weights(n + 1)


def test_state_dict_round_trip_with_classifier(imbalanced_data, tmp_path):
    data, _, _ = imbalanced_data
    model = NoDiscriminatorModel()
    plugin = DMPRA(classifier={"steps": 30, "finetune_steps": 5}, **FAST_SEARCH)
    assert plugin.state_dict() == {"rounds_searched": 0, "history": "[]"}
    plugin.on_round_end(model, data, 0, None)  # no out_dir: nothing written
    state = plugin.state_dict()
    restored = DMPRA(**FAST_SEARCH)
    restored.load_state_dict(state)
    assert restored.rounds_searched == 1 and restored.history == plugin.history
    torch.testing.assert_close(restored.data_weights(len(data)), plugin.data_weights(len(data)))
    np.testing.assert_array_equal(restored.classifier.features(data), plugin.classifier.features(data))
    restored.on_round_end(model, data, 1, None)  # fine-tunes the restored classifier
    assert restored.classifier.fits == 2
    with pytest.raises(ValueError, match="unexpected keys"):
        DMPRA().load_state_dict({**state, "bogus": 1})
    with pytest.raises(ValueError, match="finite"):
        DMPRA().load_state_dict({"rounds_searched": 1, "weights": torch.tensor([1.0, float("nan")])})


def test_gan_rounds_keep_no_classifier_state(one_round):
    _, plugin, _ = one_round
    assert not any(k.startswith("classifier.") for k in plugin.state_dict())


def test_config_holds_the_search_and_the_weights_whole():
    config = DMPRAConfig(classifier={"steps": 7})
    assert config.classifier.steps == 7
    assert config.search == SearchConfig() and config.weights == WeightingConfig()
    nested = DMPRAConfig.from_table({"search": {"k_sigma": 2.0, "seed": 3}, "weights": {"weighting": "paper"}})
    assert nested.search == SearchConfig(k_sigma=2.0, seed=3) and nested.weights == WeightingConfig(weighting="paper")
    given = SearchConfig(n_min=10)
    assert DMPRA(search=given).config.search is given  # an object is used as it is
    assert DMPRA(search={"k_sigma": 2}).config.search == SearchConfig(k_sigma=2)
    assert DMPRA(config=nested).config is nested
    with pytest.raises(TypeError, match="not both"):
        DMPRA(config=nested, plot=False)


# Every flat key of earlier versions, a value for it and where it is now.
FLAT = [("alpha", 0.25, "search"), ("n_min", 10, "search"), ("k_sigma", 2.0, "search"), ("two_sided", True, "search"),
        ("max_neighbors", 160, "search"), ("reference_size", 300, "search"), ("weighting", "paper", "weights"),
        ("min_group", 3, "weights"), ("gamma", 2.0, "weights"), ("w_max", 9.0, "weights"),
        ("outlier_weight", 2.0, "weights"), ("fine_grained", True, "weights"), ("informative", False, "weights")]


@pytest.mark.parametrize("key, value, table", FLAT)
def test_flat_keys_are_still_read_with_a_warning_naming_the_new_place(key, value, table):
    from modecover.config import parse_config

    moved = rf"^\[\[methods\]\] 'dmpra': '{key}' is now \[methods\.{table}\] {key}"
    with pytest.warns(DeprecationWarning, match=moved):
        old = DMPRA(**{key: value}).config
    assert old == DMPRAConfig.from_table({table: {key: value}})
    assert getattr(getattr(old, table), key) == value
    raw = {"data": {"name": "ring", "n": 200}, "model": {"family": "gan"}, "train": {"steps": 2, "batch_size": 8}}
    with pytest.warns(DeprecationWarning, match=rf"'{key}' is now \[methods\.{table}\] {key}"):
        parse_config({**raw, "methods": [{"name": "dmpra", key: value}]})


def test_the_nested_form_warns_nothing():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DMPRA(search={"k_sigma": 2.0}, weights={"gamma": 2.0}, density={"k": 5}, classifier={"steps": 7})


@pytest.mark.parametrize("options, message", [
    # a key given both ways
    ({"gamma": 2.0, "weights": {"gamma": 3.0}},
     r"'dmpra': 'gamma' is given twice, as a flat key and as \[methods\.weights\] gamma"),
    ({"alpha": 0.3, "search": SearchConfig()},
     r"'dmpra': 'alpha' is given twice, as a flat key and in the SearchConfig"),
    # keys and tables
    ({"alpah": 1}, r"^\[\[methods\]\] 'dmpra': unknown key\(s\) \['alpah'\]; known keys: \[.*'alpha'.*'search'"),
    ({"search": {"gamma": 1}}, r"^\[\[methods\]\] 'dmpra'\.search: unknown key\(s\) \['gamma'\]"),
    ({"weights": 3}, r"^\[\[methods\]\] 'dmpra'\.weights: expected a table of key = value pairs, got int 3"),
    ({"classifier": {"step": 7}}, r"'dmpra'\.classifier: unknown key\(s\) \['step'\]"),
    ({"classifier": 3}, r"'dmpra'\.classifier: expected a table"),
    ({"density": {"kk": 5}}, r"'dmpra'\.density: unknown key\(s\) \['kk'\]"),
    # values the search checks (SearchConfig.__post_init__)
    *[({"search": {key: value}}, rf"^\[\[methods\]\] 'dmpra'\.search: SearchConfig\.{key} must be")
      for key, value in [("alpha", 1.5), ("alpha", "0.5"), ("alpha", True), ("n_min", 20.0), ("n_min", True),
                         ("k_sigma", "3"), ("k_sigma", float("inf")), ("max_neighbors", "320"),
                         ("max_neighbors", True), ("reference_size", 5000.0), ("reference_size", 1),
                         *[("two_sided", v) for v in ("false", "true", 0, 1, None)]]],
    ({"search": {"max_neighbors": 5}}, r"'dmpra'\.search: SearchConfig\.max_neighbors=5 is smaller than n_min=20"),
    # values the weighting checks (WeightingConfig.__post_init__)
    *[({"weights": {key: value}}, rf"^\[\[methods\]\] 'dmpra'\.weights: DMPRA '{key}' must be")
      for key, value in [("weighting", "inverse"), ("weighting", ["groups"]), ("min_group", 0), ("min_group", 2.5),
                         ("min_group", "5"), ("gamma", -1.0), ("gamma", float("nan")), ("gamma", "1"),
                         ("gamma", True), ("w_max", 0.5), ("w_max", None), ("outlier_weight", 0.0),
                         ("outlier_weight", "1"), *[(k, v) for k in ("fine_grained", "informative")
                                                    for v in ("false", "true", 0, 1, None)]]],
    # DMPRA's own keys
    *[({key: value}, rf"^\[\[methods\]\] 'dmpra': '{key}' must be")
      for key, value in [("space", "pixels"), ("space", 1), ("detector", "lof"), ("feature_batch", 0),
                         ("feature_batch", 64.0), *[("plot", v) for v in ("false", "true", 0, 1, None)],
                         *[("components", v) for v in (-1, True, False, 2.0, "50", None)]]],
    # a projection of the data space only
    *[(options, r"^\[\[methods\]\] 'dmpra': 'components' = 50 would do nothing \(it applies to space = \"data\" "
                r"only, and space is 'perception'\); set space = \"data\", or leave 'components' out$")
      for options in ({"space": "perception", "components": 50},
                      {"space": "perception", "components": 50, "detector": "density"})],
    # weights that are all one re-weight nothing
    *[({"weights": weights}, rf"^\[\[methods\]\] 'dmpra'\.weights: {which} would do nothing \(every flagged group gets "
                             r"weight 1, and 'outlier_weight' is 1\); raise it, or leave the method out$")
      for weights, which in [({"gamma": 0}, "'gamma' = 0"), ({"w_max": 1}, "'w_max' = 1"),
                             ({"gamma": 0.0, "w_max": 10.0}, "'gamma' = 0")]],
    # the classifier's values
    # the classifier's values (PerceptionClassifierConfig.__post_init__)
    *[({"classifier": {key: value}}, rf"^\[\[methods\]\] 'dmpra'\.classifier: perception classifier '{key}' must be")
      for key, value in [("steps", True), ("steps", "300"), ("width", 64.0), ("finetune_steps", -1), ("lr", True),
                         ("lr", "1e-3"), ("lr", float("nan")), ("seed", -1), ("seed", 1.5), ("seed", 2**64),
                         ("feature_dim", None)]],
])
def test_config_errors_name_the_table_and_the_key(options, message):
    import warnings

    with pytest.raises(ValueError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the flat keys of the "given twice" rows
        DMPRAConfig.from_table(options)


@pytest.mark.parametrize("options", [{"outlier_weight": 2.0}, {"fine_grained": True}, {"weighting": "paper"}])
def test_weights_of_one_do_something_with_other_settings(options):
    for flat in ({"gamma": 0}, {"w_max": 1}):
        DMPRAConfig.from_table({"weights": {**flat, **options}})
    DMPRAConfig.from_table({"weights": {"gamma": 0}, "detector": "density"})  # the density detector has its own


def test_with_the_trainer_gan_and_checkpoint(imbalanced_data, tmp_path):
    """The real round loop (modecover.train) on the project GAN; the checkpoint restores the weights."""
    from modecover.checkpoint import load_checkpoint
    from modecover.methods.registry import BuildContext, build_plugins
    from modecover.models import build_model
    from modecover.train import TrainConfig, train

    data, _, _ = imbalanced_data
    torch.manual_seed(0)
    model = build_model("gan", {"data_shape": [2], "hidden": 32, "depth": 2})
    methods = [{"name": "dmpra", **FAST_SEARCH}]
    hooks = build_plugins(methods, BuildContext(data, dict(model.config)))
    train(model, data, hooks, TrainConfig(steps=60, batch_size=64, rounds=2), tmp_path, progress=False)
    plugin = hooks.plugins[0]
    # a search after every round; the last one is the final audit of the trained model
    assert plugin.rounds_searched == 2 and (tmp_path / "round1" / "dmpra_scores.csv").exists()
    fresh = build_plugins(methods, BuildContext(data, dict(model.config)))
    load_checkpoint(tmp_path / "final.ckpt", hooks=fresh)
    torch.testing.assert_close(fresh.data_weights(len(data)), plugin.data_weights(len(data)))
    assert fresh.plugins[0].history == plugin.history


def test_a_checkpoint_of_the_flat_config_compares_as_the_nested_one():
    """A checkpoint written before the search and the weights had tables (their keys flat,
    no search.seed) holds the same config; a value that differs still shows."""
    from modecover.checkpoint import _current_form, _json_config

    plugin = DMPRA(search={"k_sigma": 2.5}, weights={"gamma": 2.0})
    nested = _json_config(plugin.config)
    flat = {k: v for k, v in nested.items() if k not in ("search", "weights")}
    flat.update({k: v for k, v in nested["search"].items() if k != "seed"} | nested["weights"])
    assert "gamma" in flat and "search" not in flat
    assert _current_form(plugin, flat) == nested
    assert _current_form(plugin, {**flat, "gamma": 3.0})["weights"]["gamma"] == 3.0
    assert _current_form(plugin, {"unknown": 1}) == {"unknown": 1}  # unreadable: compared as it is


def _rank_worker(rank, init_file, out_dir):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(100 + rank)  # each rank generates different samples for its classifier
        plugin = DMPRA(classifier={"steps": 20}, search={"max_neighbors": 160})
        plugin.on_round_end(NoDiscriminatorModel(), ring_data(300, imbalanced=True), 0, None)
        shared = same_on_every_rank(plugin.data_weights(300), 300)  # what the trainer's sampler gets
        torch.save({"own": plugin.weights, "shared": shared}, f"{out_dir}/w{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ranks_agree_on_weights(tmp_path):
    """Under torch.distributed the trainer's broadcast gives every rank the DMPRA weights of
    rank 0 (the two ranks' classifiers, fed different generated samples, give different ones)."""
    import torch.multiprocessing as mp

    mp.start_processes(_rank_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")  # fork: no re-import of torch in the children
    w0, w1 = (torch.load(tmp_path / f"w{rank}.pt")["shared"] for rank in (0, 1))
    assert torch.equal(w0, w1) and w0.dtype == torch.float64 and len(w0) == 300
    assert torch.equal(w0, torch.load(tmp_path / "w0.pt")["own"])
