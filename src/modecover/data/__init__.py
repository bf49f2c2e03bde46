from .datasets import load_cifar10, load_digits, load_mnist, make_imbalanced
from .images import ImageFolder, load_image_folder
from .mixtures import MIXTURES, Mixture, get_mixture, grid, imbalanced, imbalanced_grid, imbalanced_ring, ring
from .registry import DATA_SOURCES, DataConfig, TrainingSet, build_dataset
from .samplers import DistributedWeightedSampler, UniformSampler, WeightedSampler, make_sampler

__all__ = [
    "DATA_SOURCES",
    "DataConfig",
    "DistributedWeightedSampler",
    "ImageFolder",
    "MIXTURES",
    "Mixture",
    "TrainingSet",
    "UniformSampler",
    "WeightedSampler",
    "build_dataset",
    "get_mixture",
    "grid",
    "imbalanced",
    "imbalanced_grid",
    "imbalanced_ring",
    "load_cifar10",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "make_imbalanced",
    "make_sampler",
    "ring",
]
