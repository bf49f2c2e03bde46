"""Feature extractors: samples -> feature vectors for the metrics and DMPRA.

``get_extractor(name, **kw)`` builds one by name: ``identity`` (vectors), ``pixels``
(flattened images), ``inception`` (InceptionV3 via the optional extra
``modecover[inception]``, torch-fidelity's weights cached or from a local file) or ``dinov2`` (DINOv2 ViT CLS
features, the network in plain torch, official weights cached or from a local file).
``project_components(features, m)`` projects features onto their first m principal
components (:mod:`modecover.features.pca`: DMPRA's data space and ``modecover audit
--components``).
"""

from __future__ import annotations

import importlib
import inspect

from modecover.features.base import FeatureExtractor, as_tensor_batch, extract
from modecover.features.identity import Identity
from modecover.features.pca import project_components
from modecover.features.pixels import Pixels

# name -> (module, class); modules are imported only when the extractor is built.
EXTRACTORS: dict[str, tuple[str, str]] = {
    "identity": ("modecover.features.identity", "Identity"),
    "pixels": ("modecover.features.pixels", "Pixels"),
    "inception": ("modecover.features.inception", "InceptionV3"),
    "dinov2": ("modecover.features.dinov2", "DINOv2"),
}


def get_extractor(name: str, **kw) -> FeatureExtractor:
    """Build the extractor called ``name`` with keyword options ``kw``.

    Raises ``ValueError`` for an unknown name (listing the known ones) or an option the
    extractor does not take (naming it).
    """
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    module_name, class_name = EXTRACTORS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(kw) - set(accepted) - {"name"}) if not takes_any else []
    if unknown or "name" in kw:
        bad = unknown or ["name"]
        raise ValueError(
            f"feature extractor {name!r} does not take option(s) {bad}; "
            f"it takes {sorted(set(accepted) - {'name'})}"
        )
    return cls(**kw)


__all__ = ["EXTRACTORS", "FeatureExtractor", "Identity", "Pixels", "as_tensor_batch", "extract", "get_extractor",
           "project_components"]

