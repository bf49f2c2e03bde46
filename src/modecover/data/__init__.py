from .mixtures import MIXTURES, Mixture, get_mixture, grid, imbalanced, imbalanced_grid, imbalanced_ring, ring  # noqa: F401
from .datasets import load_cifar10, load_digits, load_mnist, make_imbalanced  # noqa: F401
from .images import ImageFolder, load_image_folder  # noqa: F401
from .samplers import DistributedWeightedSampler, UniformSampler, WeightedSampler, make_sampler  # noqa: F401
from .registry import DATA_SOURCES, DataConfig, TrainingSet, build_dataset  # noqa: F401
