"""The perception space of a generative model (docs/dmpra.md, "Rounds").

DMPRA searches for minority samples among the *real training samples as the current model
perceives them*:

- a GAN perceives data through its discriminator: the features are the discriminator's
  penultimate activations (``model.perception_features``), computed in batches without
  gradients, with the model in eval mode (restored afterwards);
- a VAE, flow or diffusion model has no such network, so a classifier is trained to tell
  real samples from generated ones with cross-entropy, and its penultimate activations are
  the features. The paper uses ResNet152; here a small MLP (vectors) or a small CNN
  (images (C, H, W)), trained for a few hundred seeded steps on balanced real/generated
  batches and *fine-tuned* (same network, same optimizer) in each later round, so that it
  follows the model as it changes.

:func:`perception_space` picks the path: ``model.perception_features`` returning ``None``
(the protocol's way of saying "no discriminator") selects the classifier.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from modecover._checks import as_features, int_in_range, non_negative_int, positive_int, real_in_range


@dataclass
class PerceptionClassifierConfig:
    """Size and training schedule of the real-vs-generated classifier."""

    feature_dim: int = 32  # width of the penultimate layer = dimension of the perception space
    width: int = 64  # hidden width of the MLP (vectors)
    channels: int = 32  # channels of the first CNN layer (images); later layers use twice as many
    steps: int = 300  # optimisation steps of the first fit
    finetune_steps: int = 100  # optimisation steps of every later fit (next rounds)
    batch_size: int = 64  # real samples per batch (and as many generated ones)
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # initial weights and batch draws

    def __post_init__(self):
        for name in ("feature_dim", "width", "channels", "steps", "batch_size"):
            positive_int(getattr(self, name), f"perception classifier '{name}'")  # steps = true is no step count
        non_negative_int(self.finetune_steps, "perception classifier 'finetune_steps'")
        real_in_range(self.lr, "perception classifier 'lr'", 0, low_open=True)
        int_in_range(self.seed, "perception classifier 'seed'", 0, 2**64 - 1)


def _mlp_body(in_features: int, width: int, feature_dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, feature_dim),
        nn.LeakyReLU(0.2),
    )


def _cnn_body(in_channels: int, channels: int, feature_dim: int) -> nn.Module:
    """Three 3x3 convolutions (strides 1, 2, 2), global average pooling: any H, W >= 1."""
    wide = 2 * channels
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(channels, wide, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(wide, wide, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(wide, feature_dim),
        nn.LeakyReLU(0.2),
    )


class PerceptionClassifier(nn.Module):
    """Real-vs-generated classifier; its penultimate activations are the perception space.

    ``data_shape`` is the shape of one sample: (C, H, W) builds a CNN, anything else an
    MLP on the flattened sample. Class 1 is "real", class 0 "generated". The first
    :meth:`fit` runs ``config.steps`` Adam steps, each later one ``config.finetune_steps``
    (fine-tuning the same network); weights and batch draws are seeded by ``config.seed``.
    """

    def __init__(self, data_shape: tuple[int, ...], config: PerceptionClassifierConfig | None = None, **kwargs):
        super().__init__()
        self.config = config or PerceptionClassifierConfig(**kwargs)
        shape = tuple(int(s) for s in data_shape)
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"perception classifier data_shape must be non-empty positive sizes, got {data_shape!r}")
        self.data_shape = shape
        cfg = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            if len(shape) == 3:
                self.body = _cnn_body(shape[0], cfg.channels, cfg.feature_dim)
            else:
                self.body = _mlp_body(int(np.prod(shape)), cfg.width, cfg.feature_dim)
            self.head = nn.Linear(cfg.feature_dim, 2)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        self._draws = torch.Generator().manual_seed(cfg.seed)
        self.fits = 0  # how many times fit() has run

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, 2) of [generated, real]."""
        return self.head(self.body(x))

    def fit(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        """Train (first call) or fine-tune (later calls) on real vs generated samples.

        Returns the last step's ``loss`` and the ``accuracy`` on the whole of ``real`` and
        ``fake`` afterwards.
        """
        real = self._check_batch(real, "real samples")
        fake = self._check_batch(fake, "generated samples")
        steps = self.config.steps if self.fits == 0 else self.config.finetune_steps
        device = next(self.parameters()).device
        half = self.config.batch_size
        labels = torch.cat([torch.ones(half, dtype=torch.long), torch.zeros(half, dtype=torch.long)]).to(device)
        was_training = self.training
        self.train()
        loss = torch.zeros(())
        try:
            for _ in range(steps):
                i_real = torch.randint(len(real), (half,), generator=self._draws)
                i_fake = torch.randint(len(fake), (half,), generator=self._draws)
                batch = torch.cat([real[i_real], fake[i_fake]]).to(device=device, dtype=torch.float32)
                loss = nn.functional.cross_entropy(self(batch), labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        finally:
            self.train(was_training)
        self.fits += 1
        correct = (self.predict(real) == 1).sum() + (self.predict(fake) == 0).sum()
        return {"loss": float(loss.detach()), "accuracy": float(correct) / (len(real) + len(fake))}

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 1024) -> Tensor:
        """Predicted class per sample (1 = real), in batches."""
        x = self._check_batch(x, "samples")
        device = next(self.parameters()).device
        out = [self(x[i:i + batch_size].to(device=device, dtype=torch.float32)).argmax(1).cpu()
               for i in range(0, len(x), batch_size)]
        return torch.cat(out)

    @torch.no_grad()
    def features(self, x: Tensor, batch_size: int = 1024) -> np.ndarray:
        """Penultimate activations (n, feature_dim) as float64, in batches, eval mode."""
        x = self._check_batch(x, "samples")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            out = [self.body(x[i:i + batch_size].to(device=device, dtype=torch.float32)).double().cpu()
                   for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out).numpy()

    def _check_batch(self, x, name: str) -> Tensor:
        x = torch.as_tensor(x)
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"perception classifier: {name} have sample shape {tuple(x.shape[1:])}, "
                f"the classifier was built for {self.data_shape}"
            )
        if len(x) == 0:
            raise ValueError(f"perception classifier: {name} are empty")
        return x

    # -- checkpointing: flat tensors + plain values (what the checkpoint format stores) --

    def checkpoint_state(self) -> dict[str, Any]:
        """Network weights as ``net.<name>`` tensors plus ``data_shape``, ``fits`` and the config."""
        state: dict[str, Any] = {f"net.{k}": v.detach().cpu().clone() for k, v in self.state_dict().items()}
        state["data_shape"] = list(self.data_shape)
        state["fits"] = int(self.fits)
        state["config"] = dataclasses.asdict(self.config)
        return state

    @classmethod
    def from_checkpoint_state(cls, state: dict[str, Any]) -> "PerceptionClassifier":
        """Rebuild a classifier written by :meth:`checkpoint_state` (the optimizer restarts)."""
        missing = [k for k in ("data_shape", "fits", "config") if k not in state]
        if missing:
            raise ValueError(f"perception classifier state lacks key(s) {missing}")
        classifier = cls(tuple(state["data_shape"]), PerceptionClassifierConfig(**state["config"]))
        weights = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
        classifier.load_state_dict(weights)
        classifier.fits = int(state["fits"])
        return classifier


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def _discriminator_features(model, data: Tensor, batch_size: int) -> np.ndarray | None:
    """``model.perception_features`` over ``data`` in batches (eval mode, no grad), or None."""
    extract = getattr(model, "perception_features", None)
    if extract is None:
        return None
    device = _model_device(model)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            out = []
            for i in range(0, len(data), batch_size):
                f = extract(data[i:i + batch_size].to(device))
                if f is None:
                    return None
                out.append(f.reshape(f.shape[0], -1).double().cpu())
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    return torch.cat(out).numpy()


@torch.no_grad()
def generate(model, n: int, batch_size: int = 1024, hooks=None) -> Tensor:
    """``n`` samples of ``model`` drawn ``batch_size`` at a time, on the CPU."""
    out = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        x = model.sample(m, hooks) if hooks is not None else model.sample(m)
        if len(x) != m:
            raise ValueError(f"model.sample({m}) returned {len(x)} samples")
        out.append(x.detach().cpu())
    return torch.cat(out)


def perception_space(
    model,
    data,
    classifier: PerceptionClassifier | None = None,
    *,
    batch_size: int = 1024,
    hooks=None,
) -> np.ndarray:
    """Perception features (n, f) float64 of the real ``data`` (n, *data_shape).

    GAN (``model.perception_features`` returns features): the discriminator's penultimate
    activations. Otherwise ``classifier`` (a fresh default :class:`PerceptionClassifier`
    when None) is fitted - or fine-tuned, if it was fitted before - on ``data`` against
    ``len(data)`` samples of the model, and its penultimate activations are returned.
    Raises ``ValueError`` on empty data, on generated samples of another shape, and on
    non-finite features (a diverged model), naming which.
    """
    x = torch.as_tensor(data)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"perception space: data must have shape (n, *sample_shape) with n >= 1, got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        x = x.float()
    features = _discriminator_features(model, x, batch_size)
    source = "discriminator features"
    if features is None:
        fake = generate(model, len(x), batch_size, hooks)
        if fake.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"perception space: generated samples have shape {tuple(fake.shape[1:])}, data {tuple(x.shape[1:])}"
            )
        if classifier is None:
            classifier = PerceptionClassifier(tuple(x.shape[1:]))
        classifier.to(_model_device(model))
        classifier.fit(x, fake)
        features = classifier.features(x, batch_size)
        source = "perception classifier features"
    return as_features(features, f"perception space ({source} of the real data)")
