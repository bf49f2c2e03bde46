"""The yardstick of B3 and B4: a digits classifier trained here, its labels and its feature space.

scikit-learn's ``MLPClassifier`` (one hidden ReLU layer) on a balanced set of labelled
digits, pixels scaled to [0, 1]: the bundled 8x8 digits for B3 (:func:`train_judge`), the
5,000 28x28 MNIST digits of data source ``mnist-5k`` for B4 (:func:`train_mnist_judge`).
Each is fitted on a stratified 80 % of its set and scored on the held-out 20 %. Its hidden
activations are the feature space of FID and precision/recall/density/coverage for
generated digits, and its predicted labels give the generated class shares
(docs/RESULTS.md). :func:`judge_for` fits a source's judge once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# data source -> the side of its square one-channel images
JUDGED_SOURCES = {"digits": 8, "mnist-5k": 28}


@dataclass
class Judge:
    classifier: object  # fitted sklearn MLPClassifier
    test_accuracy: float  # on the held-out 20 % of its set
    size: int = 8  # it judges size x size images

    def features(self, images: np.ndarray) -> np.ndarray:
        """Hidden-layer activations relu(x W1 + b1) of images (N, size * size) or (N, 1, size, size),
        in [0, 1] or [-1, 1]."""
        x = _pixels(images, self.size)
        return np.maximum(x @ self.classifier.coefs_[0] + self.classifier.intercepts_[0], 0.0)

    def class_probabilities(self, images: np.ndarray) -> np.ndarray:
        """The classifier's probability of each of the 10 classes for each image, (N, 10)."""
        return self.classifier.predict_proba(_pixels(images, self.size))

    def class_shares(self, images: np.ndarray) -> np.ndarray:
        """The share of ``images`` the classifier puts in each of the 10 classes."""
        labels = self.classifier.predict(_pixels(images, self.size))
        return np.bincount(labels, minlength=10) / len(labels)


DigitsJudge = Judge  # B3's name for it


def _pixels(images: np.ndarray, size: int = 8) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if x.shape[1] != size * size:
        raise ValueError(f"digits judge: expected {size}x{size} images ({size * size} values each), "
                         f"got {x.shape[1]} values per sample")
    if x.min() < -1e-6:  # [-1, 1] data
        x = (x + 1) / 2
    return np.clip(x, 0.0, 1.0)


def reference_set(source: str) -> tuple[np.ndarray, np.ndarray]:
    """The balanced labelled set of data source ``source`` (a key of :data:`JUDGED_SOURCES`) that
    its judge learns from and generated digits are measured against: pixels (N, size * size)
    in [0, 1] (float64) and labels (N,)."""
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.data / 16.0, digits.target
    if source == "mnist-5k":
        from modecover.data.datasets import mnist_5k_file, read_mnist_5k

        pixels, labels = read_mnist_5k(mnist_5k_file())
        return pixels.reshape(len(pixels), -1) / 255.0, labels
    raise ValueError(f"digits judge: no judge for data source {source!r}; choose one of {list(JUDGED_SOURCES)}")


def fit_judge(x: np.ndarray, y: np.ndarray, size: int, seed: int = 0, hidden: int = 64) -> Judge:
    """Fit a judge of ``size`` x ``size`` images on a stratified 80 % of ``(x, y)`` (split and
    weights seeded with ``seed``), scored on the other 20 %."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), solver="lbfgs", max_iter=1000,
                        random_state=seed).fit(x_train, y_train)
    return Judge(clf, float(clf.score(x_test, y_test)), size)


def train_judge(seed: int = 0, hidden: int = 64) -> Judge:
    """B3's judge: fitted on 80% of the bundled 8x8 digits, its accuracy on the other 20%."""
    return fit_judge(*reference_set("digits"), JUDGED_SOURCES["digits"], seed, hidden)


def train_mnist_judge(seed: int = 0, hidden: int = 64) -> Judge:
    """B4's judge: fitted on 80% of the 5,000 MNIST digits of ``mnist-5k`` (400 a class), its
    accuracy on the other 1,000."""
    return fit_judge(*reference_set("mnist-5k"), JUDGED_SOURCES["mnist-5k"], seed, hidden)


@functools.lru_cache(maxsize=None)
def judge_for(source: str, seed: int = 0) -> Judge:
    """The judge of data source ``source`` (digits or mnist-5k) with ``seed``, fitted once per
    process (the fit is deterministic given the seed)."""
    if source not in JUDGED_SOURCES:
        raise ValueError(f"digits judge: no judge for data source {source!r}; choose one of {list(JUDGED_SOURCES)}")
    return (train_judge if source == "digits" else train_mnist_judge)(seed=seed)
