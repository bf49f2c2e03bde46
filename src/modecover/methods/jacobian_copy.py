"""A copy of a generator that computes the same function and is cheaper to differentiate.

MaGNET's log-volumes (:mod:`modecover.methods.magnet`) push one tangent per latent
direction through every layer, so a layer's per-element cost is paid d times over. Two
rewrites of the eval-mode network remove costs that matter there and not in a forward pass
(measured in docs/methods.md, "MaGNET volume throughput"):

* an eval-mode BatchNorm right after a Linear, Conv2d or ConvTranspose2d layer of an
  ``nn.Sequential`` is folded into that layer's weights (``torch.nn.utils.fusion``): one
  pass over every tangent less;
* a ConvTranspose2d with one output channel runs as a matrix product and a col2im
  (``F.fold``), which this CPU's convolution library runs about twice as fast as the
  transposed convolution itself.

Both are exact up to float rounding. Modules outside an ``nn.Sequential`` are rewritten
only inside it; the caller's generator is never changed, and a copy whose outputs differ
from the generator's on the given latents (a layer used out of its sequence's order, a
BatchNorm1d over another axis than the Linear's features) is not used.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval


class ColumnConvTranspose2d(nn.Module):
    """``ConvTranspose2d`` (groups 1, zero padding) as columns = W^T x, then col2im."""

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv
        n, channels, height, width = x.shape
        size = [(length - 1) * s - 2 * p + d * (k - 1) + op + 1 for length, s, p, d, k, op in zip(
            (height, width), conv.stride, conv.padding, conv.dilation, conv.kernel_size, conv.output_padding)]
        columns = conv.weight.reshape(channels, -1).t() @ x.reshape(n, channels, height * width)
        y = F.fold(columns, size, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
        return y if conv.bias is None else y + conv.bias.view(1, -1, 1, 1)


def jacobian_copy(generator, latents: Tensor):
    """An eval-mode copy of ``generator`` with the rewrites of the module docstring, if it
    gives the generator's outputs at ``latents``; else ``generator`` itself (also when it is
    not an ``nn.Module`` or has nothing to rewrite). Call with the generator in eval mode."""
    if not isinstance(generator, nn.Module) or not any(_rewritable(m) for m in generator.modules()):
        return generator
    try:
        twin = _rewrite(copy.deepcopy(generator).eval())
    except Exception:  # a module that cannot be copied is differentiated as it is
        return generator
    with torch.no_grad(), torch.random.fork_rng(devices=[] if latents.device.type == "cpu" else [latents.device]):
        expected, got = generator(latents), twin(latents)
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    same = got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(scale, 1e-30))
    return twin if same else generator


def _rewrite(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        setattr(module, name, _rewrite(child))
    return _rewrite_sequence(module) if isinstance(module, nn.Sequential) else module


def _rewrite_sequence(sequence: nn.Sequential) -> nn.Sequential:
    layers: list[nn.Module] = []
    for layer in sequence:
        layers.append(_fold(layers.pop(), layer) if layers and _foldable(layers[-1], layer) else layer)
    return nn.Sequential(*(ColumnConvTranspose2d(layer) if _one_channel_transpose(layer) else layer
                           for layer in layers))


def _fold(layer: nn.Module, norm: nn.Module) -> nn.Module:
    if isinstance(layer, nn.Linear):
        return fuse_linear_bn_eval(layer, norm)
    return fuse_conv_bn_eval(layer, norm, transpose=isinstance(layer, nn.ConvTranspose2d))


def _foldable(layer: nn.Module, norm: nn.Module) -> bool:
    running = getattr(norm, "running_mean", None) is not None and not norm.training
    return running and (
        (isinstance(layer, nn.Linear) and type(norm) is nn.BatchNorm1d)
        or (isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and type(norm) is nn.BatchNorm2d)
    )


def _one_channel_transpose(layer: nn.Module) -> bool:
    return (type(layer) is nn.ConvTranspose2d and layer.out_channels == 1 and layer.groups == 1
            and layer.padding_mode == "zeros")


def _rewritable(module: nn.Module) -> bool:
    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) or _one_channel_transpose(module)


__all__ = ["ColumnConvTranspose2d", "jacobian_copy"]
