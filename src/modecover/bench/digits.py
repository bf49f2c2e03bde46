"""B3's yardstick: a digits classifier trained here, its labels and its feature space.

scikit-learn's ``MLPClassifier`` (one hidden ReLU layer) on the bundled 8x8 digits, pixels
scaled to [0, 1]. Its hidden activations are the feature space of FID and
precision/recall/density/coverage for generated digits, and its predicted labels give
the generated class shares (B3, docs/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DigitsJudge:
    classifier: object  # fitted sklearn MLPClassifier
    test_accuracy: float

    def features(self, images: np.ndarray) -> np.ndarray:
        """Hidden-layer activations relu(x W1 + b1) of images (N, 64) or (N, 1, 8, 8) in [0, 1]."""
        x = _pixels(images)
        return np.maximum(x @ self.classifier.coefs_[0] + self.classifier.intercepts_[0], 0.0)

    def class_shares(self, images: np.ndarray) -> np.ndarray:
        labels = self.classifier.predict(_pixels(images))
        return np.bincount(labels, minlength=10) / len(labels)


def _pixels(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if x.shape[1] != 64:
        raise ValueError(f"digits judge: expected 8x8 images (64 values each), got {x.shape[1]} values per sample")
    if x.min() < -1e-6:  # [-1, 1] data
        x = (x + 1) / 2
    return np.clip(x, 0.0, 1.0)


def train_judge(seed: int = 0, hidden: int = 64) -> DigitsJudge:
    """Fit the judge on 80% of the digits, report accuracy on the other 20%."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), solver="lbfgs", max_iter=1000, random_state=seed).fit(x_train, y_train)
    return DigitsJudge(clf, float(clf.score(x_test, y_test)))
