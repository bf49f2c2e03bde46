"""DPM: normalized-Gram diversity penalty against a loop reference; gradients reach G only."""

import numpy as np
import pytest
import torch

from modecover.methods.dpm import DPM, DPMConfig, diversity_penalty, normalized_gram
from modecover.plugins import GeneratorContext


def loop_penalty(f, z, form="relu", s=5.0):
    f, z = np.asarray(f, np.float64).reshape(len(f), -1), np.asarray(z, np.float64)
    cos = lambda a, b: a @ b / (np.linalg.norm(a) * np.linalg.norm(b))  # noqa: E731
    vals = []
    for i in range(len(f)):
        for j in range(len(f)):
            if i != j:
                gf, gz = cos(f[i], f[j]), cos(z[i], z[j])
                sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
                vals.append(max(gf - gz, 0.0) if form == "relu" else sig(s * gf) / sig(s * gz))
    return np.mean(vals)


@pytest.mark.parametrize("form", ["relu", "ratio"])
def test_matches_loop_reference(form, rng):
    f, z = rng.normal(size=(7, 2, 3)), rng.normal(size=(7, 4))
    value = diversity_penalty(torch.tensor(f), torch.tensor(z), form=form).item()
    assert value == pytest.approx(loop_penalty(f, z, form), rel=1e-10)


def test_zero_when_outputs_as_dissimilar_as_latents(rng):
    z = torch.tensor(rng.normal(size=(8, 5)))
    q, _ = torch.linalg.qr(torch.tensor(rng.normal(size=(5, 5))))
    assert diversity_penalty(z, z).item() == 0.0
    assert diversity_penalty(3.0 * z @ q, z).item() == pytest.approx(0.0, abs=1e-12)  # cosines preserved
    gram = normalized_gram(z)
    np.testing.assert_allclose(torch.diagonal(gram).numpy(), 1.0)


def test_grows_as_distinct_latents_collapse_onto_one_output(rng):
    z = torch.tensor(rng.normal(size=(8, 5)))
    target = torch.tensor(rng.normal(size=(1, 5)))
    values = [diversity_penalty((1 - t) * z + t * target, z).item() for t in (0.0, 0.5, 0.9, 1.0)]
    assert values[0] == 0.0
    assert all(a < b for a, b in zip(values, values[1:]))
    collapsed = loop_penalty(np.repeat(target.numpy(), 8, 0), z.numpy())
    assert values[-1] == pytest.approx(collapsed, rel=1e-10)


class ToyGAN(torch.nn.Module):
    family = "gan"

    def __init__(self):
        super().__init__()
        self.generator = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        self.body = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.LeakyReLU(0.2))
        self.head = torch.nn.Linear(16, 1)

    def perception_features(self, x):
        return self.body(x)


def test_plugin_gradients_reach_generator_only():
    torch.manual_seed(0)
    model = ToyGAN()
    z = torch.randn(16, 3)
    fake = model.generator(z)
    ctx = GeneratorContext(0, torch.randn(16, 2), z, z, fake, torch.zeros(16), torch.zeros(16), model)
    term = DPM(weight=2.0).generator_loss(ctx)
    expected = 2.0 * diversity_penalty(model.body(fake), z)
    assert term.item() == pytest.approx(expected.item(), rel=1e-6)
    assert ctx.log["dpm_penalty"] == pytest.approx(expected.item() / 2, rel=1e-6)
    model.zero_grad(set_to_none=True)
    term.backward()
    assert all(p.grad is None for p in model.body.parameters())  # D features: frozen
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    assert all(p.requires_grad for p in model.parameters())  # restored after the hook


@pytest.mark.parametrize("make, message", [
    (lambda: diversity_penalty(torch.randn(1, 3), torch.randn(1, 2)), "at least 2"),
    (lambda: diversity_penalty(torch.randn(4, 3), torch.randn(5, 2)), "pair up"),
    (lambda: diversity_penalty(torch.randn(4, 3), torch.randn(4, 2), form="cosine"),
     "^DPM form must be 'relu' or 'ratio', got 'cosine'$"),
    (lambda: DPMConfig(weight=-1.0), r"^\[\[methods\]\] 'dpm': 'weight' must be a finite number > 0, got -1\.0$"),
    (lambda: DPMConfig(weight=True), r"^\[\[methods\]\] 'dpm': 'weight' must be a finite number > 0, got True$"),
    (lambda: DPMConfig(scale=0.0), r"^\[\[methods\]\] 'dpm': 'scale' must be a finite number > 0, got 0\.0$"),
])
def test_bad_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_dpm_trains_on_the_ring_and_logs_penalty(ring_points, small_gan):
    from modecover.plugins import Hooks

    torch.manual_seed(0)
    data = ring_points
    hooks = Hooks([DPM(weight=1.0)])
    model = small_gan(hooks)
    logs = [model.train_step(data[torch.randint(400, (32,))], hooks, step) for step in range(3)]
    assert all(log["dpm_penalty"] >= 0 for log in logs)
