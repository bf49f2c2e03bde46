"""Small networks shared by the model families (docs/models.md): MLPs for vectors and
DCGAN-style convolutional generators/discriminators for square images of 8x8, 16x16,
28x28 (MNIST: from 7x7) and 32x32.

Sizes are chosen to train on 2 CPU cores in minutes. Every discriminator splits into a
``body`` (input -> penultimate features, DMPRA's perception space) and a
linear ``head`` (features -> one score), so that ``features(x)`` and ``forward(x)`` share
one computation.
"""

from __future__ import annotations

from torch import Tensor, nn

from modecover._checks import int_in_range

IMAGE_SIZES = (8, 16, 28, 32)


def mlp(in_dim: int, out_dim: int, hidden: int, depth: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` (each Linear + activation), then Linear to ``out_dim``."""
    int_in_range(depth, "mlp: depth", 0)
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), _make_activation(activation)]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def _make_activation(activation: type[nn.Module]) -> nn.Module:
    return activation(0.2) if activation is nn.LeakyReLU else activation()


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, out_dim): ReLU MLP with a linear (or given) output activation."""

    def __init__(self, latent_dim: int, out_dim: int, hidden: int = 128, depth: int = 3,
                 output: nn.Module | None = None):
        super().__init__()
        self.net = mlp(latent_dim, out_dim, hidden, depth, nn.ReLU)
        self.output = output or nn.Identity()

    def forward(self, z: Tensor) -> Tensor:
        return self.output(self.net(z))


class MLPDiscriminator(nn.Module):
    """x (B, in_dim) -> score (B,); ``features`` is the last hidden layer (B, hidden)."""

    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 3):
        super().__init__()
        int_in_range(depth, "MLPDiscriminator: depth (features come from a hidden layer)", 1)
        body = mlp(in_dim, hidden, hidden, depth - 1, nn.LeakyReLU)
        self.body = nn.Sequential(*body, nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden, 1)
        self.feature_dim = hidden

    def features(self, x: Tensor) -> Tensor:
        return self.body(x.reshape(x.shape[0], -1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).reshape(-1)


def _check_image_shape(shape: tuple[int, ...], who: str) -> tuple[int, int]:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in IMAGE_SIZES or shape[0] < 1:
        raise ValueError(
            f"{who}: data_shape must be (channels, size, size) with size in {IMAGE_SIZES}, got {tuple(shape)}"
        )
    return shape[0], shape[1]


def _doublings(size: int) -> int:
    """Number of stride-2 stages between the smallest feature map (4x4; 7x7 for 28x28) and ``size``x``size``."""
    return {8: 1, 16: 2, 28: 2, 32: 3}[size]


class DCGANGenerator(nn.Module):
    """z -> Linear -> (C0, 4, 4) -> [ConvTranspose(4, s2) + BatchNorm + ReLU] x n -> Conv3x3 -> image
    (28x28 images start from (C0, 7, 7)).

    Channel widths halve at each upsampling and end at ``base`` before the output conv;
    ``output`` (default Tanh) maps to the data range.
    """

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], base: int = 32, output: nn.Module | None = None):
        super().__init__()
        channels, size = _check_image_shape(data_shape, "DCGANGenerator")
        stages = _doublings(size)
        width, start = base * 2**stages, size >> stages
        self.start_shape = (width, start, start)
        self.project = nn.Sequential(nn.Linear(latent_dim, width * start**2), nn.BatchNorm1d(width * start**2),
                                     nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(stages):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(),
            ]
            width //= 2
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)
        self.output = output if output is not None else nn.Tanh()

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).reshape(z.shape[0], *self.start_shape)
        return self.output(self.net(h))


class DCGANDiscriminator(nn.Module):
    """image -> [Conv(4, s2) + LeakyReLU] x n down to 4x4 (7x7 from 28x28) -> Linear(hidden) + LeakyReLU
    (features) -> Linear(1).

    No batch norm, so that WGAN-GP's per-sample gradient penalty is well defined and a
    sample's score does not depend on its batch.
    """

    def __init__(self, data_shape: tuple[int, ...], base: int = 32, hidden: int = 128):
        super().__init__()
        channels, size = _check_image_shape(data_shape, "DCGANDiscriminator")
        layers: list[nn.Module] = []
        width_in, width = channels, base
        stages = _doublings(size)
        for _ in range(stages):
            layers += [nn.Conv2d(width_in, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            width_in, width = width, width * 2
        end = size >> stages
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width_in * end**2, hidden), nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden, 1)
        self.feature_dim = hidden

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).reshape(-1)


__all__ = ["DCGANDiscriminator", "DCGANGenerator", "IMAGE_SIZES", "MLPDiscriminator", "MLPGenerator", "mlp"]
