"""benchmarks/dmpra_vae_miss_signals.py: the VAE's miss signals are the library's quantities."""

import numpy as np
import pytest
import torch

from helpers import load_benchmark, read_csv
from modecover.dmpra.perception import PerceptionClassifier, PerceptionClassifierConfig, perception_space
from modecover.models.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def script():
    return load_benchmark("dmpra_vae_miss_signals")


def small_classifier(seed=0):
    torch.manual_seed(seed)
    real, fake = torch.randn(60, 3) + 1.0, torch.randn(60, 3)
    classifier = PerceptionClassifier((3,), PerceptionClassifierConfig(feature_dim=4, width=8, steps=30))
    classifier.fit(real, fake)
    return classifier, torch.randn(25, 3) * 2


def test_the_log_ratio_is_the_log_odds_of_the_classifiers_real_probability(script):
    classifier, x = small_classifier()
    with torch.no_grad():
        c = torch.softmax(classifier(x).double(), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(np.exp(script.classifier_log_ratio(classifier, x)), c / (1 - c), rtol=1e-5)


@pytest.mark.parametrize("w_max", [1.2, 20.0])
def test_choi_weights_are_the_self_normalised_ratio_clipped(script, w_max):
    classifier, x = small_classifier(1)
    with torch.no_grad():
        c = torch.softmax(classifier(x).double(), dim=1)[:, 1].numpy()
    r = c / (1 - c)
    expected = np.minimum(r / r.mean(), w_max)
    weights = script.choi_weights(script.classifier_log_ratio(classifier, x), w_max)
    np.testing.assert_allclose(weights, expected, rtol=1e-5)
    if w_max == 1.2:
        assert (weights == w_max).any() and (weights < w_max).any()  # the clip is exercised


def test_choi_weights_do_not_overflow_on_large_logits(script):
    # one of 30 holds all of r: r / mean(r) = 30 there, clipped to 20; 0 elsewhere
    weights = script.choi_weights(np.r_[2000.0, np.zeros(28), -2000.0])
    np.testing.assert_allclose(weights, np.r_[20.0, np.zeros(29)], atol=1e-300)
    np.testing.assert_allclose(script.choi_weights(np.r_[2000.0, 2000.0, np.zeros(8)]), np.r_[5.0, 5.0, np.zeros(8)])
    np.testing.assert_allclose(script.choi_weights(np.full(5, 700.0)), np.ones(5))


def small_vae():
    torch.manual_seed(0)
    return VAE(VAEConfig(data_shape=(1, 8, 8), latent_dim=2, channels=4, output_activation="tanh"))


def test_neg_elbo_averaged_over_images_is_the_vaes_batch_loss(script):
    model, x = small_vae(), torch.rand(30, 1, 8, 8) * 2 - 1
    torch.manual_seed(7)
    per_image = script.neg_elbo(model, x, draws=1)
    torch.manual_seed(7)
    loss = model.train_step(x, None, 0)["loss"]  # the batch mean of the per-sample loss, before the step
    assert per_image.shape == (30,)
    assert per_image.mean() == pytest.approx(loss, rel=1e-5)


def test_neg_elbo_averages_the_draws(script):
    model, x = small_vae(), torch.rand(12, 1, 8, 8) * 2 - 1
    torch.manual_seed(3)
    averaged = script.neg_elbo(model, x, draws=3)
    torch.manual_seed(3)
    with torch.no_grad():
        draws = [model.per_sample_loss(x)[0].double().numpy() for _ in range(3)]
    np.testing.assert_allclose(averaged, np.mean(draws, axis=0), rtol=1e-6)
    assert not np.allclose(draws[0], draws[1])  # the draws differ: the average is not one draw


def test_the_classifier_space_is_the_perception_space(script):
    torch.manual_seed(0)
    model = VAE(VAEConfig(data_shape=(4,), latent_dim=2, hidden=8, depth=1))
    x = torch.randn(80, 4)
    fakes, classifier, features = script.classifier_space(model, x, seed=5)
    torch.manual_seed(5)
    np.testing.assert_array_equal(features, perception_space(model, x))
    assert fakes.shape == x.shape and classifier.fits == 1


def test_a_tiny_run_writes_the_rows_and_reads_its_round0_back(script, tmp_path, monkeypatch, capsys):
    """B3's 8x8 digits with a few steps stand in for B4's MNIST (the same code path)."""
    real_spec = script.job_spec

    def tiny(seed):
        spec = real_spec(seed)
        return {**spec, "data": {**spec["data"], "name": "digits", "fraction": 0.2},
                "train": {**spec["train"], "steps": 10, "batch_size": 16}}

    monkeypatch.setattr(script, "job_spec", tiny)
    monkeypatch.setattr(script, "ELBO_DRAWS", 1)
    script.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--seeds", "100"])
    checkpoint = tmp_path / "runs" / "seed100" / "round0.ckpt"
    assert checkpoint.exists() and not (tmp_path / "runs" / "seed100" / "round1.ckpt").exists()
    rows = read_csv(tmp_path / "out" / "vae_miss_signals_per_seed.csv")
    keys = [(r["signal"], r["space"]) for r in rows]
    assert set(keys) == {("density", s) for s in ("classifier", "pixels", "pca50", "pca50+hog4")} | {
        ("knn_ratio", s) for s in ("classifier", "pixels", "pca50")} | {
        ("classifier_ratio", "classifier"), ("classifier_ratio_choi", "classifier"), ("neg_elbo", "pixels")}
    assert len(keys) == len(set(keys))
    for r in rows:
        assert 0 <= float(r["score_auc"]) <= 1 and float(r["rare_ratio"]) >= 0
        assert 0 < float(r["data_rare_share"]) < 0.1 and 0.5 <= float(r["classifier_accuracy"]) <= 1
    same_score = {r["signal"]: r["score_auc"] for r in rows if r["signal"].startswith("classifier_ratio")}
    assert len(set(same_score.values())) == 1  # one score, two weightings
    assert "classifier_ratio_choi" in (tmp_path / "out" / "vae_miss_signals_summary.md").read_text()
    assert "classifier_ratio_choi" in capsys.readouterr().out
    written = checkpoint.stat().st_mtime_ns
    script.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "again"), "--seeds", "100"])
    assert checkpoint.stat().st_mtime_ns == written  # read back, not trained again
    assert read_csv(tmp_path / "again" / "vae_miss_signals_per_seed.csv") == rows
