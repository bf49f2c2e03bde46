"""DINOv2 features: the CLS token after the final LayerNorm of a DINOv2 ViT (torch only).

DINOv2 (Oquab et al. 2023) features are the recommended space for FD, precision/recall and
the other sample metrics since Stein et al. (NeurIPS 2023), whose ``dgm-eval`` uses
DINOv2 ViT-L/14 by default. The network is written here in plain torch with the parameter
names of the official checkpoints (github.com/facebookresearch/dinov2, Apache-2.0 code and
weights), so their ``*_pretrain.pth`` files load unchanged: a patch-14 convolution, a CLS
token, learned position embeddings (a 37 x 37 grid, resampled bicubically to the input's
grid), pre-norm blocks (LayerNorm eps 1e-6, multi-head self-attention, LayerScale, an MLP
with exact GELU, or SwiGLU for ViT-g) and a final LayerNorm. No registers.

Preprocessing follows dgm-eval's DINOv2 encoder: grey images repeated to RGB, resized to
224 x 224 (bicubic with PIL's antialiasing filter, aspect ratio not kept, no crop), values
clamped to [0, 1], then ImageNet mean/std normalisation; docs/evaluate.md gives details.
Weights come from the official URL through :func:`modecover.weights.cached_file` (sha256
pinned below, cached, offline mode) or from a local file (``weights_path``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modecover._checks import as_features, positive_int, real_in_range
from modecover.features.base import as_tensor_batch

__all__ = ["ARCHS", "IMAGENET_MEAN", "IMAGENET_STD", "DINOv2", "DinoViT", "ViTConfig", "load_checkpoint",
           "preprocess", "resize_bicubic"]

BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_ARCH = "vitl14"  # dgm-eval's default
DEFAULT_IMAGE_SIZE = 224  # dgm-eval resizes every image to 224 x 224


@dataclass(frozen=True)
class ViTConfig:
    """The shape of a DINOv2 ViT. ``grid``: side of the stored position-embedding grid
    (37 for the official checkpoints, trained at 518 = 37 x 14 pixels); ``ffn``: ``"mlp"``
    (fc1, GELU, fc2) or ``"swiglu"`` (ViT-g); ``interpolate_offset``: the official code
    resamples the position grid with scale factors ``(rows + 0.1) / grid`` and
    ``(cols + 0.1) / grid`` (0.1); 0 resamples to the output size instead, as Hugging Face
    transformers and DINOv2's register models do. ``url``/``sha256``: the official weights."""

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int = 14
    grid: int = 37
    mlp_ratio: float = 4.0
    ffn: str = "mlp"
    layer_norm_eps: float = 1e-6
    interpolate_offset: float = 0.1
    url: str | None = None
    sha256: str | None = None

    def __post_init__(self):
        for key in ("embed_dim", "depth", "num_heads", "patch_size", "grid"):
            positive_int(getattr(self, key), f"ViTConfig.{key}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"ViTConfig: embed_dim {self.embed_dim} is not a multiple of num_heads {self.num_heads}")
        real_in_range(self.mlp_ratio, "ViTConfig.mlp_ratio", 0, low_open=True)
        if self.ffn not in ("mlp", "swiglu"):
            raise ValueError(f"ViTConfig.ffn must be 'mlp' or 'swiglu', got {self.ffn!r}")
        real_in_range(self.interpolate_offset, "ViTConfig.interpolate_offset", 0, 1, high_open=True)

    @property
    def hidden_dim(self) -> int:
        """Width of the feed-forward layer (SwiGLU: two thirds, rounded up to a multiple of 8)."""
        hidden = int(self.embed_dim * self.mlp_ratio)
        return (int(hidden * 2 / 3) + 7) // 8 * 8 if self.ffn == "swiglu" else hidden


def _official(name: str, embed_dim: int, depth: int, num_heads: int, sha256: str, ffn: str = "mlp") -> ViTConfig:
    return ViTConfig(embed_dim, depth, num_heads, ffn=ffn, url=f"{BASE_URL}/dinov2_{name}/dinov2_{name}_pretrain.pth",
                     sha256=sha256)


# The four official backbones (LVD-142M). The sha256 of each file is not published by Meta;
# these are the hashes pinned by independent projects that downloaded the files (refiners'
# DINOv2 conversion scripts among them, each hash confirmed by other projects).
ARCHS: dict[str, ViTConfig] = {
    "vits14": _official("vits14", 384, 12, 6, "b938bf1bc15cd2ec0feacfe3a1bb553fe8ea9ca46a7e1d8d00217f29aef60cd9"),
    "vitb14": _official("vitb14", 768, 12, 12, "0b8b82f85de91b424aded121c7e1dcc2b7bc6d0adeea651bf73a13307fad8c73"),
    "vitl14": _official("vitl14", 1024, 24, 16, "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428"),
    "vitg14": _official("vitg14", 1536, 40, 24, "baf8467e50af277596bbbafa06887c177ee899ab46033649c383577d7e9309d3",
                        ffn="swiglu"),
}


# ----------------------------------------------------------------------------- the network

class LayerScale(nn.Module):
    """Per-channel scale of a residual branch (parameter ``gamma``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (rows: all heads' queries,
    then keys, then values) and an output projection ``proj``."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    """``w3(silu(a) * b)`` with ``(a, b)`` the two halves of ``w12(x)`` (ViT-g's feed-forward)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + ls1(attn(norm1(x)))``, then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = Attention(dim, config.num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = (SwiGLU if config.ffn == "swiglu" else Mlp)(dim, config.hidden_dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, config: ViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, config.embed_dim, kernel_size=config.patch_size, stride=config.patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """A DINOv2 vision transformer whose ``state_dict`` keys are the official checkpoints'.

    ``forward(images)`` takes normalised images ``(N, 3, H, W)`` with H and W multiples of
    the patch size and returns the CLS token after the final LayerNorm, ``(N, embed_dim)``:
    what the official model's ``forward`` returns and dgm-eval uses as features.
    ``mask_token`` is only used in pre-training; it is kept so the files load strictly.
    """

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.grid ** 2, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)

    def position_table(self, rows: int, cols: int) -> Tensor:
        """Position embeddings ``(1, 1 + rows * cols, dim)`` for a ``rows x cols`` patch grid:
        the stored table at its own square size, else its grid resampled bicubically
        (``F.interpolate``, no antialiasing) the way the official code does (ViTConfig)."""
        table = self.pos_embed
        side = self.config.grid
        if rows == cols == side:
            return table
        grid = table[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
        offset = float(self.config.interpolate_offset)
        if offset:
            size_or_scale = {"scale_factor": ((rows + offset) / side, (cols + offset) / side)}
        else:
            size_or_scale = {"size": (rows, cols)}
        grid = F.interpolate(grid, mode="bicubic", align_corners=False, antialias=False, **size_or_scale)
        if tuple(grid.shape[-2:]) != (rows, cols):  # a scale factor can miss the size for huge grids
            raise ValueError(f"DINOv2: resampling the {side}x{side} position grid gave {tuple(grid.shape[-2:])}, "
                             f"not the {rows}x{cols} patch grid of the input")
        grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1).to(table.dtype)
        return torch.cat([table[:, :1], grid], dim=1)

    def forward(self, images: Tensor) -> Tensor:
        batch, channels, height, width = images.shape
        patch = self.config.patch_size
        if channels != 3 or height % patch or width % patch:
            raise ValueError(f"DINOv2 network input: expected (N, 3, H, W) with H and W multiples of {patch}, "
                             f"got shape {tuple(images.shape)}")
        tokens = self.patch_embed(images)
        tokens = torch.cat([self.cls_token.expand(batch, -1, -1), tokens], dim=1)
        tokens = tokens + self.position_table(height // patch, width // patch)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens[:, 0])  # LayerNorm acts per token: the CLS row of norm(tokens)


# ----------------------------------------------------------------------------- weights

def _describe(state: dict) -> str:
    """What a state dict looks like (embedding width, block count), for error messages."""
    cls = state.get("cls_token")
    width = f"embedding width {cls.shape[-1]}" if isinstance(cls, Tensor) else "no 'cls_token'"
    depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    known = [name for name, c in ARCHS.items()
             if isinstance(cls, Tensor) and c.embed_dim == cls.shape[-1] and c.depth == depth]
    guess = f" (the shape of {known[0]})" if known else ""
    return f"{width}, {depth} blocks{guess}"


def load_checkpoint(model: DinoViT, path: str | os.PathLike, arch: str) -> None:
    """Load an official-format DINOv2 state dict from ``path`` into ``model``.

    The file is read with ``torch.load(weights_only=True)``; its tensors replace the
    model's (``assign=True``, so a model built on the ``meta`` device allocates nothing
    twice), floating ones as float32. Raises ``ValueError`` naming the file for an
    unreadable file, a registers model, missing, unexpected or mis-shaped entries (with the
    width and depth the file holds).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad files
        raise ValueError(f"{path}: not a readable DINOv2 state dict ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a DINOv2 state dict (a dict of tensors, as the official *_pretrain.pth files)")
    if "register_tokens" in state:
        raise ValueError(f"{path}: a DINOv2 model with registers (*_reg4_pretrain.pth); modecover's extractor "
                         "takes the models without registers (dinov2_<arch>_pretrain.pth)")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        problems = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                problems.append(f"{label}: {', '.join(items[:3])}{more}")
        raise ValueError(f"{path}: not the weights of DINOv2 {arch} ({'; '.join(problems)}); the file holds "
                         f"{_describe(state)}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)


def _weights_file(arch: str, config: ViTConfig, weights_path, offline: bool | None) -> Path:
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            where = f" (the official file: {config.url})" if config.url else ""
            raise FileNotFoundError(f"DINOv2 {arch} weights: no file at {path}{where}")
        return path
    if config.url is None or config.sha256 is None:
        raise ValueError(f"DINOv2 {arch}: a custom ViTConfig has no official weights; pass weights_path")
    from modecover.weights import cached_file

    return cached_file(config.url, config.sha256, filename=Path(config.url).name, offline=offline)


# ----------------------------------------------------------------------------- preprocessing

def resize_bicubic(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize float images ``(N, C, H, W)`` to ``size`` with PIL's bicubic filter (a = -0.5,
    widened by the scale when shrinking: torch's ``antialias=True``), unchanged when the
    size already matches."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True)


def preprocess(x, *, image_size: int | None = DEFAULT_IMAGE_SIZE, value_range: tuple[float, float] = (0.0, 1.0),
               patch_size: int = 14) -> Tensor:
    """Images ``(N, C, H, W)``, C = 1 or 3, values in ``value_range`` -> the network's
    float32 input ``(N, 3, S, S)``.

    Steps: map ``value_range`` onto [0, 1] and clamp; repeat a grey channel to RGB; resize
    to ``image_size`` x ``image_size`` (:func:`resize_bicubic`; ``None`` keeps the size,
    which must then be a multiple of the patch size); clamp to [0, 1] (the resize
    overshoots at edges, PIL clips); subtract the ImageNet mean and divide by its std.
    Raises ``ValueError`` for another shape, NaN/inf values or images the patch grid cannot
    cover (the shape is named).
    """
    x = as_tensor_batch(x, "dinov2 input")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"dinov2 input: expected images (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("dinov2 input: holds NaN or infinite pixel values")
    height, width = x.shape[-2:]
    if image_size is None and (height < patch_size or width < patch_size or height % patch_size or width % patch_size):
        what = "smaller than" if min(height, width) < patch_size else "not a multiple of"
        raise ValueError(f"dinov2 input: images of {height}x{width} pixels (shape {tuple(x.shape)}) are {what} the "
                         f"patch size {patch_size}; pass image_size (default {DEFAULT_IMAGE_SIZE}) to resize them")
    low, high = value_range
    x = ((x.detach().float() - low) / (high - low)).clamp(0.0, 1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if image_size is not None:
        x = resize_bicubic(x, (image_size, image_size)).clamp(0.0, 1.0)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# ----------------------------------------------------------------------------- the extractor

def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class DINOv2:
    """Feature extractor: DINOv2 CLS features (1024-d for the default ViT-L/14).

    ``arch``: ``"vits14"``, ``"vitb14"``, ``"vitl14"`` (default, as dgm-eval) or
    ``"vitg14"``, or a :class:`ViTConfig` (then ``weights_path`` is required).
    ``weights_path``: a local official-format file; without it the official file is
    downloaded once and cached (:func:`modecover.weights.cached_file`, sha256 checked;
    ``offline=True`` or ``$MODECOVER_OFFLINE`` forbids the download). ``device``: default
    CUDA when available, else CPU. ``batch_size``: images per forward pass.
    ``image_size``: the side images are resized to (224; ``None`` keeps the input size,
    a multiple of 14). ``value_range``: the input's pixel range (default ``(0, 1)``).
    """

    checks_output = True  # as_features on every batch (features.base.extract)

    def __init__(self, arch: str | ViTConfig = DEFAULT_ARCH, weights_path: str | os.PathLike | None = None, *,
                 offline: bool | None = None, device: str | torch.device | None = None, batch_size: int = 64,
                 image_size: int | None = DEFAULT_IMAGE_SIZE, value_range: tuple[float, float] = (0.0, 1.0)):
        if isinstance(arch, ViTConfig):
            config, self.arch = arch, "custom"
        elif isinstance(arch, str) and arch in ARCHS:
            config, self.arch = ARCHS[arch], arch
        else:
            raise ValueError(f"DINOv2 arch must be one of {sorted(ARCHS)} or a ViTConfig, got {arch!r}")
        self.batch_size = positive_int(batch_size, "DINOv2 batch_size")
        if image_size is not None:
            positive_int(image_size, "DINOv2 image_size")
            if image_size % config.patch_size:
                raise ValueError(f"DINOv2 image_size must be a multiple of the patch size {config.patch_size}, "
                                 f"got {image_size} (dgm-eval uses {DEFAULT_IMAGE_SIZE})")
        self.image_size = image_size
        low, high = value_range
        if not high > low:
            raise ValueError(f"DINOv2 value_range must be (low, high) with high > low, got {value_range!r}")
        self.value_range = (float(low), float(high))
        self.name = "dinov2"
        self.config = config
        self.device = _device(device)
        self.weights_path = _weights_file(self.arch, config, weights_path, offline)
        with torch.device("meta"):  # no random initialisation: every tensor comes from the file
            model = DinoViT(config)
        load_checkpoint(model, self.weights_path, self.arch)
        self.model = model.eval().requires_grad_(False).to(self.device)

    def __call__(self, x) -> np.ndarray:
        x = as_tensor_batch(x, "dinov2 input")
        parts = []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                images = preprocess(x[start:start + self.batch_size].to(self.device), image_size=self.image_size,
                                    value_range=self.value_range, patch_size=self.config.patch_size)
                parts.append(self.model(images).double().cpu())
        return as_features(torch.cat(parts), "dinov2 features")

    @property
    def dim(self) -> int:
        return self.config.embed_dim

