"""Samples -> features for an evaluation: the extractor a set gets and the batched pass
(:mod:`modecover.features` holds the extractors themselves)."""

from __future__ import annotations

import numpy as np

from modecover.evaluation.inputs import Loaded, LoadOptions, read_samples

__all__ = ["DINOV2_ARCHS", "EXTRACTOR_CHOICES", "check_same_extractor", "check_shape_for", "choose_extractor",
           "extractor_options", "inception_outputs", "to_features"]

EXTRACTOR_CHOICES = ("auto", "identity", "pixels", "inception", "dinov2")
DINOV2_ARCHS = ("vits14", "vitb14", "vitl14", "vitg14")  # modecover.features.dinov2.ARCHS, without importing torch


def choose_extractor(name: str, samples) -> str:
    """``auto``: identity for vectors (N, D), pixels for anything with more axes."""
    if name != "auto":
        return name
    return "identity" if samples.ndim == 2 else "pixels"


def check_shape_for(extractor: str, shape: tuple[int, ...], spec: str) -> None:
    """Refuse, naming the file, samples the extractor cannot take."""
    if extractor == "identity" and len(shape) != 2:
        raise ValueError(f"{spec}: the identity extractor needs vectors (N, D), got shape {shape}; "
                         "use --extractor pixels, inception or dinov2 for images")
    if extractor in ("inception", "dinov2") and (len(shape) != 4 or shape[1] not in (1, 3)):
        raise ValueError(f"{spec}: the {extractor} extractor needs images (N, C, H, W) with C = 1 or 3, "
                         f"got shape {shape}")


def check_same_extractor(real: Loaded, fake: Loaded) -> None:
    """Refuse two sets embedded by different extractors (``auto`` on features and images):
    their features would share a width by chance, not a meaning."""
    if real.extractor == fake.extractor:
        return

    def said(role: str, loaded: Loaded) -> str:
        shape = (loaded.images if loaded.images is not None else loaded.features).shape
        return f"{role} ({loaded.source}) has shape {tuple(shape)} and gets {loaded.extractor} features"

    raise ValueError(f"{said('real', real)}; {said('fake', fake)}: their features would not be comparable; "
                     "give both sets in the same form (both features or both images), or pass --extractor pixels "
                     "to compare both as flat vectors")


def to_features(spec: str, options: LoadOptions, extractors: dict, pixel_range: str | None = None,
                role: str = "real") -> Loaded:
    """Read ``spec`` (:func:`modecover.evaluation.inputs.read_samples`) and run the chosen
    feature extractor over it; ``extractors`` caches the extractors by name, so both sets
    share one."""
    from modecover.features import extract, get_extractor

    samples, skipped, files = read_samples(spec, options, pixel_range, role)
    name = choose_extractor(options.extractor, samples)
    check_shape_for(name, tuple(samples.shape), spec)
    if name not in extractors:
        extractors[name] = get_extractor(name, **extractor_options(name, options))
    extractor = extractors[name]
    images = np.asarray(samples) if samples.ndim > 2 else None
    if name == "inception":
        pool, logits = inception_outputs(extractor, samples, options.batch_size)
        return Loaded(pool, spec, name, logits, skipped, images, files)
    feats = extract(extractor, samples, batch_size=options.batch_size, name=spec)
    return Loaded(feats, spec, name, None, skipped, images, files)


def extractor_options(name: str, options: LoadOptions) -> dict:
    """The keyword options of extractor ``name`` that ``options`` sets (weights, offline, arch)."""
    if name == "inception":
        return {"weights_path": options.inception_weights, "offline": options.offline}
    if name == "dinov2":
        return {"arch": options.dinov2_arch, "weights_path": options.dinov2_weights, "offline": options.offline}
    return {}


def inception_outputs(extractor, samples, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool features and logits of ``samples`` in batches (one forward pass each)."""
    from modecover.features import as_tensor_batch

    batch = as_tensor_batch(samples, "inception input")
    parts = [extractor.features_and_logits(batch[i:i + batch_size]) for i in range(0, len(batch), batch_size)]
    return np.concatenate([p for p, _ in parts]), np.concatenate([lg for _, lg in parts])
