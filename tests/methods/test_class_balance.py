"""Class-balanced data weights (the oracle row of the imbalanced benchmarks)."""

import re

import numpy as np
import pytest
import torch

from modecover.methods.class_balance import ClassBalance, ClassBalanceConfig, balancing_weights


def test_weights_balance_the_classes():
    labels = np.array([0] * 40 + [1] * 2 + [2] * 8)
    w = balancing_weights(labels)
    np.testing.assert_allclose(w[labels == 0], 1.0)
    np.testing.assert_allclose(w[labels == 1], 20.0)
    np.testing.assert_allclose(w[labels == 2], 5.0)
    # each class carries the same total weight: equally likely under the sampler
    totals = [w[labels == c].sum() for c in range(3)]
    np.testing.assert_allclose(totals, totals[0])
    np.testing.assert_allclose(balancing_weights(labels, power=0.5)[labels == 1], np.sqrt(20.0))


def test_labels_are_class_ids_not_continuous_values():
    np.testing.assert_array_equal(balancing_weights(torch.tensor([0.0, 0.0, 1.0])), [1.0, 1.0, 2.0])
    np.testing.assert_array_equal(balancing_weights(["cat", "cat", "dog"]), [1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="labels must be class ids .* got the value 0.5"):
        balancing_weights(np.array([0.0, 0.5, 1.0]))  # was: three classes of one sample each, uniform weights


def test_weights_start_at_from_round_and_survive_a_checkpoint():
    labels = torch.tensor([0, 0, 0, 1])
    plugin = ClassBalance(labels.numpy(), from_round=1)
    assert plugin.data_weights(4) is None
    plugin.on_round_end(None, None, 0)
    torch.testing.assert_close(plugin.data_weights(4), torch.tensor([1.0, 1.0, 1.0, 3.0], dtype=torch.float64))
    restored = ClassBalance(labels.numpy(), from_round=1)
    restored.load_state_dict(plugin.state_dict())
    assert restored.data_weights(4) is not None
    with pytest.raises(ValueError, match="4 labels but the data set has 5"):
        plugin.data_weights(5)


@pytest.mark.parametrize("options, rule", [
    ({"power": 0}, r"a finite number in \(0, 4\]"), ({"power": "1"}, r"a finite number in \(0, 4\]"),
    ({"power": True}, r"a finite number in \(0, 4\]"), ({"from_round": -1}, "an integer >= 0"),
    ({"from_round": 1.5}, "an integer >= 0"), ({"from_round": False}, "an integer >= 0"),
])
def test_config_errors_name_the_key(options, rule):
    ((key, value),) = options.items()
    with pytest.raises(ValueError, match=rf"^\[\[methods\]\] 'class_balance': '{key}' must be {rule}, "
                                         rf"got {re.escape(repr(value))}$"):
        ClassBalanceConfig(**options)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        balancing_weights(np.zeros((2, 2)))
