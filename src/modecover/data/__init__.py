from .mixtures import MIXTURES, Mixture, get_mixture, grid, imbalanced, imbalanced_grid, imbalanced_ring, ring  # noqa: F401
