"""The reference implementations the tests compare with: one that does not import skips
its tests locally (saying how to install it) and fails them where references are required
(CI=true or MODECOVER_REQUIRE_REFERENCES=1, which .ci/run sets)."""

import pytest

from helpers import import_reference


@pytest.fixture
def environment(monkeypatch):
    for name in ("CI", "MODECOVER_REQUIRE_REFERENCES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("name, value, outcome", [
    (None, None, pytest.skip.Exception),
    ("CI", "false", pytest.skip.Exception),
    ("MODECOVER_REQUIRE_REFERENCES", "0", pytest.skip.Exception),
    ("CI", "true", pytest.fail.Exception),
    ("CI", "TRUE", pytest.fail.Exception),
    ("MODECOVER_REQUIRE_REFERENCES", "1", pytest.fail.Exception),
])
def test_a_missing_reference_skips_locally_and_fails_where_required(environment, name, value, outcome):
    if name is not None:
        environment.setenv(name, value)
    with pytest.raises(outcome) as raised:
        import_reference("torch_fidelity_not_here.metric_kid")
    said = str(raised.value)
    assert "torch_fidelity_not_here.metric_kid does not import" in said and "installs it" in said
    assert ("required here" in said) == (outcome is pytest.fail.Exception)


def test_the_install_hint_names_the_way_each_reference_is_installed(environment):
    with pytest.raises(pytest.skip.Exception, match=r"install\.sh --dev.*--no-deps torch-fidelity"):
        import_reference("torch_fidelity.no_such_module")
    with pytest.raises(pytest.skip.Exception, match=r"pip install -e \.\[dev\]"):
        import_reference("vendi_score_not_here")


def test_an_importable_reference_is_returned(environment):
    environment.setenv("MODECOVER_REQUIRE_REFERENCES", "1")
    assert import_reference("prdc").compute_prdc is not None
