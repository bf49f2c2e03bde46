"""The generator copy MaGNET differentiates: same function, BatchNorm folded, one-channel
transposed convolutions as product + col2im; the caller's module untouched."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from modecover.methods.jacobian_copy import ColumnConvTranspose2d, jacobian_copy
from modecover.methods.magnet import log_volumes
from modecover.models.nets import DCGANGenerator


def _with_running_statistics(net: nn.Module, latent_dim: int) -> nn.Module:
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        net.train()(torch.randn(64, latent_dim) * 2 + 0.5)
    return net


@pytest.mark.parametrize("kernel,stride,padding,dilation,output_padding", [
    (4, 2, 1, 1, 0), (3, 1, 1, 1, 0), (3, 2, 0, 1, 1), ((2, 3), (1, 2), (0, 1), (2, 1), (0, 1)), (5, 3, 2, 1, 2),
])
def test_a_one_channel_transposed_convolution_as_columns_equals_the_layer(kernel, stride, padding, dilation,
                                                                          output_padding):
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(6, 1, kernel, stride, padding, output_padding, dilation=dilation)
    for bias, (h, w) in itertools.product((True, False), ((5, 7), (1, 1))):
        if not bias:
            conv.bias = None
        x = torch.randn(3, 6, h, w)
        with torch.no_grad():
            torch.testing.assert_close(ColumnConvTranspose2d(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_the_copy_computes_the_same_function_with_batchnorm_folded_and_leaves_the_original():
    torch.manual_seed(1)
    net = _with_running_statistics(nn.Sequential(
        nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Unflatten(1, (2, 4, 4)),
        nn.ConvTranspose2d(2, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.ConvTranspose2d(4, 1, 4, 2, 1), nn.BatchNorm2d(1), nn.Tanh()), 8)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    z = torch.randn(10, 8)
    twin = jacobian_copy(net, z[:2])
    kinds = [type(m) for m in twin]
    assert nn.BatchNorm1d not in kinds and nn.BatchNorm2d not in kinds
    assert kinds.count(ColumnConvTranspose2d) == 1 and isinstance(twin[-2], ColumnConvTranspose2d)
    with torch.no_grad():
        torch.testing.assert_close(twin(z), net(z), rtol=1e-5, atol=1e-6)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 2  # the original keeps its layers


def test_the_project_dcgan_copy_matches_and_its_volumes_match_the_original():
    torch.manual_seed(2)
    gen = _with_running_statistics(DCGANGenerator(6, (1, 8, 8), base=8), 6).eval()
    z = torch.randn(12, 6)
    twin = jacobian_copy(gen, z[:2])
    assert twin is not gen and not any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in twin.modules())
    with torch.no_grad():
        torch.testing.assert_close(twin(z), gen(z), rtol=1e-5, atol=1e-6)
    # log_volumes differentiates the copy: volumes as the autograd loop gives them on the original
    reference = [torch.linalg.svdvals(torch.autograd.functional.jacobian(
        lambda v: gen(v.unsqueeze(0)).reshape(-1), zi).double()).log().sum().item() for zi in z]
    np.testing.assert_allclose(log_volumes(gen, z), reference, rtol=1e-5)


def test_nothing_to_rewrite_or_a_copy_that_differs_gives_the_generator_itself():
    z = torch.randn(7, 3)
    plain = nn.Sequential(nn.Linear(3, 5), nn.Tanh())
    assert jacobian_copy(plain, z) is plain
    assert jacobian_copy(torch.exp, z) is torch.exp  # not a module
    # batch statistics even in eval mode: nothing to fold, the layer stays
    batch_stats = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5, track_running_stats=False)).eval()
    twin = jacobian_copy(batch_stats, z)
    assert isinstance(twin[1], nn.BatchNorm1d)
    with torch.no_grad():
        torch.testing.assert_close(twin(z), batch_stats(z))
    # BatchNorm1d over the second axis of a 3-D output, which has the Linear's width by
    # chance: folding would scale the wrong axis, so the check on the latents refuses the copy
    torch.manual_seed(4)
    other_axis = nn.Sequential(nn.Unflatten(1, (4, 2)), nn.Linear(2, 4), nn.BatchNorm1d(4))
    with torch.no_grad():
        other_axis.train()(torch.randn(32, 8) * 3)
    other_axis.eval()
    assert jacobian_copy(other_axis, torch.randn(2, 8)) is other_axis
