import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from modecover.config import ConfigError, build_run, load_config, parse_config
from modecover.data.registry import build_dataset, data_config
from modecover.methods.cft import CFTConfig
from modecover.methods.registry import METHODS, BuildContext, MethodEntry, build_plugins, method_config
from modecover.train import TrainConfig

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.toml"))

MINIMAL = {
    "data": {"name": "ring", "n": 200},
    "model": {"family": "gan", "hidden": 16, "depth": 1},
    "train": {"steps": 10, "batch_size": 8},
}


def test_there_is_a_config_per_family_and_data():
    names = {p.stem for p in CONFIGS}
    assert {f"{f}-{d}" for f in ("gan", "vae", "flow", "diffusion") for d in ("ring", "grid", "digits")} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_parses_and_builds_its_model(path):
    config = load_config(path)
    family, data_name = path.stem.split("-", 1)
    assert config.model.family == family and config.data.name == data_name
    torch.manual_seed(0)
    run = build_run(config)
    assert run.model.family == family
    assert tuple(run.model.config["data_shape"]) == tuple(run.data.x.shape[1:])
    log = run.model.train_step(run.data.x[:4], run.hooks, 0)
    assert log and all(np.isfinite(v) for v in log.values())
    assert parse_config(config.to_dict()) == config  # round trip through plain values


def test_yaml_and_toml_give_the_same_config(tmp_path):
    import yaml

    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump({**MINIMAL, "methods": [{"name": "cft", "feature_differences": 2}]}))
    (tmp_path / "b.toml").write_text(
        '[data]\nname = "ring"\nn = 200\n[model]\nfamily = "gan"\nhidden = 16\ndepth = 1\n'
        '[[methods]]\nname = "cft"\nfeature_differences = 2\n[train]\nsteps = 10\nbatch_size = 8\n'
    )
    a, b = load_config(tmp_path / "a.yaml"), load_config(tmp_path / "b.toml")
    assert a == b
    assert a.train == TrainConfig(steps=10, batch_size=8)
    assert a.methods == [MethodEntry("cft", CFTConfig(latent_dim=8, feature_differences=2))]  # latent_dim: the GAN's


def _with(section, **changes):
    raw = {k: dict(v) for k, v in MINIMAL.items()}
    raw[section].update(changes)
    return raw


@pytest.mark.parametrize(
    "raw, message",
    [
        ({**MINIMAL, "optimiser": {}}, r"unknown section\(s\) \['optimiser'\]"),
        ({k: v for k, v in MINIMAL.items() if k != "train"}, r"missing section \[train\]"),
        (_with("data", colour="red"), r"\[data\]: unknown key\(s\) \['colour'\]"),
        (_with("data", name="moons"), r"\[data\] name: unknown data source 'moons'"),
        (_with("model", hiden=3), r"\[model\]: model 'gan': unknown key\(s\) \['hiden'\]; known keys: \[.*'hidden'"),
        ({**MINIMAL, "model": {"hidden": 3}}, r"\[model\]: missing key\(s\) \['family'\]"),
        ({**MINIMAL, "train": {"steps": 3}}, r"\[train\]: missing key\(s\) \['batch_size'\]"),
        ({**MINIMAL, "train": [1]}, r"\[train\]: expected a table of key = value pairs, got list \[1\]"),
        (_with("model", family="gpt"), r"\[model\]: unknown model family 'gpt'"),
        (_with("train", step=3), r"\[train\]: unknown key\(s\) \['step'\]"),
        (_with("train", steps=0), r"\[train\]: train.steps must be a positive integer"),
        ({**MINIMAL, "methods": [{"name": "dmpra", "alpah": 1}]}, r"'dmpra': unknown key\(s\) \['alpah'\]"),
        ({**MINIMAL, "methods": [{"name": "magic"}]}, r"unknown method 'magic'"),
        ({**MINIMAL, "methods": [{"alpha": 1}]}, r"entry 0: missing key\(s\) \['name'\]"),
        ({**MINIMAL, "methods": [{"name": "dpm", "weight": -1.0}]}, r"'dpm': 'weight' must be"),
        ({**MINIMAL, "methods": [{"name": "cft", "feature_differences": 8}]}, r"'cft': 'latent_dim' must be"),
    ],
)
def test_config_errors_name_the_key_and_section(raw, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(raw, "run.toml")
    assert str(info.value).startswith("run.toml: ")


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[data\nname=")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="unknown config format '.json'"):
        load_config(tmp_path / "x.json")


def test_model_data_shape_must_match_the_data():
    config = parse_config(_with("model", data_shape=[1, 8, 8], arch="mlp"))
    with pytest.raises(ConfigError, match=r"data_shape \[1, 8, 8\] does not match the data's sample shape \[2\]"):
        build_run(config)


def test_data_registry_mixtures_and_imbalance():
    data = build_dataset({"name": "ring", "n": 500, "seed": 1})
    assert data.x.shape == (500, 2) and data.x.dtype == torch.float32 and data.mixture.means.shape == (8, 2)
    again = build_dataset({"name": "ring", "n": 500, "seed": 1})
    assert torch.equal(data.x, again.x)
    rare = build_dataset({"name": "ring", "n": 20_000, "minority": [0, 3], "ratio": 0.1})
    shares = np.bincount(rare.labels.numpy(), minlength=8) / 20_000
    expected = np.array(rare.mixture.weights)
    assert np.allclose(expected[[0, 3]] / expected[1], 0.1)
    assert np.abs(shares - expected).max() < 0.01
    assert build_dataset({"name": "grid-imbalanced", "n": 100}).mixture.minority == (0, 6, 12, 18, 24)


def test_data_registry_digits_scale_and_rare_classes():
    full = build_dataset({"name": "digits"})
    assert full.x.shape == (1797, 1, 8, 8) and full.x.min() == -1 and full.x.max() == 1
    unit = build_dataset({"name": "digits", "scale": "unit"})
    assert unit.x.min() == 0 and unit.x.max() == 1
    rare = build_dataset({"name": "digits", "rare_classes": [3], "fraction": 0.1})
    counts = np.bincount(rare.labels.numpy(), minlength=10)
    assert counts[3] == round(0.1 * (full.labels == 3).sum().item()) and counts[4] == (full.labels == 4).sum()


@pytest.mark.parametrize("options, message", [
    ({"name": "mnist"}, "path is required"),
    ({"name": "ring", "rare_classes": [1]}, "for mixtures use minority"),
    ({"name": "digits", "minority": [1]}, "for image sets use rare_classes"),
    ({"n": 3}, r"\[data\]: missing key\(s\) \['name'\]"),
    ({"name": "ring", "n": 0}, "n must be a positive integer"),
])
def test_data_config_errors(options, message):
    with pytest.raises(ValueError, match=message):
        data_config(options)


def test_image_folder_source(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    data = build_dataset({"name": "folder", "path": str(tmp_path), "mode": "L", "scale": "unit"})
    assert data.x.shape == (3, 1, 8, 8) and len(data.files) == 3
    with pytest.raises(Exception, match=str(tmp_path / "empty")):
        build_dataset({"name": "folder", "path": str(tmp_path / "empty")})


def test_every_method_builds_from_its_defaults():
    data = torch.randn(60, 2)
    labels = torch.arange(60) % 3
    context = BuildContext(data, {"latent_dim": 4, "data_shape": [2]}, labels)
    hooks = build_plugins([{"name": name} for name in METHODS], context)
    assert [p.name for p in hooks.plugins] == list(METHODS)
    with pytest.raises(ValueError, match="'class_balance' needs labelled training data"):
        build_plugins([{"name": "class_balance"}], BuildContext(data, {"latent_dim": 4, "data_shape": [2]}))
    assert method_config("cft", {}, context).latent_dim == 4  # filled in from the model
    assert method_config("cft", {"latent_dim": 4, "feature_differences": 2}, context).feature_differences == 2
    with pytest.raises(ValueError, match="features must be 'flat' or 'perception'"):
        build_plugins([{"name": "ldmd", "features": "pixels"}], context)


def test_sections_are_parsed_once_into_typed_objects_and_written_back_whole():
    from modecover.models.gan import GANConfig

    others = [name for name in METHODS if name != "ldmd"]
    methods = [{"name": name} for name in others] + [{"name": "ldmd", "features": "perception", "refresh_every": 5}]
    config = parse_config({**MINIMAL, "methods": methods})
    assert config.model.config == GANConfig(data_shape=(2,), hidden=16, depth=1) and config.model.shape_from_data
    assert [m.name for m in config.methods] == [*others, "ldmd"]
    assert all(type(m.config) is method_config(m.name, {}, BuildContext(None, {"latent_dim": 8})).__class__
               for m in config.methods)
    assert config.methods[-1].options == {"features": "perception"}
    written = config.to_dict()
    assert "data_shape" not in written["model"] and written["model"]["latent_dim"] == 8  # every field but the data's
    assert written["methods"][0]["search"]["k_sigma"] == 3.0  # DMPRA's tables nested
    assert parse_config(written) == config
    run = build_run(config)  # from the parsed objects: the same plug-in configs
    assert [p.config for p in run.hooks.plugins] == [m.config for m in config.methods]
    assert run.model.config == dataclasses.asdict(config.model.config)


def test_dmpra_tables_nest_under_their_entry_in_toml_and_yaml(tmp_path):
    import yaml

    head = '[data]\nname = "ring"\nn = 200\n[model]\nfamily = "gan"\n[train]\nsteps = 10\nbatch_size = 8\n'
    (tmp_path / "tables.toml").write_text(
        head + '[[methods]]\nname = "dmpra"\nspace = "data"\n[methods.search]\nk_sigma = 2.0\n'
        '[methods.weights]\nweighting = "paper"\n[[methods]]\nname = "class_balance"\n')
    (tmp_path / "inline.toml").write_text(
        head + '[[methods]]\nname = "dmpra"\nspace = "data"\nsearch = { k_sigma = 2.0 }\n'
        'weights = { weighting = "paper" }\n[[methods]]\nname = "class_balance"\n')
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        **MINIMAL, "model": {"family": "gan"}, "methods": [
            {"name": "dmpra", "space": "data", "search": {"k_sigma": 2.0}, "weights": {"weighting": "paper"}},
            {"name": "class_balance"}]}))
    configs = [load_config(tmp_path / name) for name in ("tables.toml", "inline.toml", "c.yaml")]
    dmpra = configs[0].methods[0].config
    assert dmpra.space == "data" and dmpra.search.k_sigma == 2.0 and dmpra.weights.weighting == "paper"
    assert [m.name for m in configs[0].methods] == ["dmpra", "class_balance"]
    assert configs[0].methods == configs[1].methods == configs[2].methods


def test_the_data_shape_comes_from_the_data_when_the_section_leaves_it_out(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (6, 6), color=40 * i).save(folder / f"{i}.png")
    raw = {"data": {"name": "folder", "path": str(folder), "mode": "L"}, "model": {"family": "vae", "channels": 4},
           "train": {"steps": 1, "batch_size": 2}}
    config = parse_config(raw)
    assert config.model.shape_from_data and "data_shape" not in config.to_dict()["model"]
    torch.manual_seed(0)
    assert tuple(build_run(config).model.config["data_shape"]) == (1, 6, 6)  # known from the files only


def test_a_run_config_of_an_earlier_version_reads_as_the_same_config():
    """config.json / a checkpoint's run_config as earlier versions wrote them (the keys as
    given, DMPRA's flat keys) compare equal to the config this version writes."""
    from modecover.config import current_form

    old = {**MINIMAL, "methods": [{"name": "dmpra", "gamma": 2.0, "k_sigma": 2.5}]}
    new = {**MINIMAL, "methods": [{"name": "dmpra", "search": {"k_sigma": 2.5}, "weights": {"gamma": 2.0}}]}
    assert current_form(old) == parse_config(new).to_dict()
    assert current_form(parse_config(new).to_dict()) == parse_config(new).to_dict()
    broken = {**MINIMAL, "methods": [{"name": "gone"}]}
    assert current_form(broken) == broken  # one this version cannot read stays as it is


@pytest.mark.parametrize("method", ["topk", "ldmd", "dpm", "edge", "cft", "deligan", "mean_rescaling"])
def test_a_gan_only_method_on_a_vae_is_refused_naming_method_and_family(method):
    raw = {"data": {"name": "ring", "n": 100}, "model": {"family": "vae"}, "methods": [{"name": method}],
           "train": {"steps": 10, "batch_size": 8}}
    with pytest.raises(ConfigError,
                       match=rf"^config: \[\[methods\]\] '{method}': the method would do nothing \(the model family is "
                             rf"'vae'; it works with the gan family only: .*\); use the gan family or leave the "
                             "method out$"):
        parse_config(raw)


@pytest.mark.parametrize("family", ["gan", "vae", "flow", "diffusion"])
def test_data_weighting_methods_work_with_every_family(family):
    raw = {"data": {"name": "ring-imbalanced", "n": 100}, "model": {"family": family},
           "methods": [{"name": "dmpra"}, {"name": "class_balance"}, {"name": "instance_selection"}],
           "train": {"steps": 10, "batch_size": 8}}
    run = build_run(parse_config(raw))
    assert [p.name for p in run.hooks.plugins] == ["dmpra", "class_balance", "instance_selection"]


@pytest.mark.parametrize("from_round, rounds", [(1, 1), (5, 2), (2, 2)])
def test_class_balance_from_a_round_the_run_never_reaches_is_refused(from_round, rounds):
    raw = {**MINIMAL, "data": {"name": "ring-imbalanced", "n": 100},
           "methods": [{"name": "class_balance", "from_round": from_round}],
           "train": {**MINIMAL["train"], "rounds": rounds}}
    with pytest.raises(ConfigError, match=rf"'class_balance': 'from_round' = {from_round} would do nothing \(not below "
                                          rf"\[train\] rounds = {rounds}, .* its weights never apply\)"):
        parse_config(raw)
    raw["train"]["rounds"] = from_round + 1
    assert parse_config(raw).methods[0].config.from_round == from_round  # the last round is weighted


@pytest.mark.parametrize("nu, batch_size", [(0.5, 1), (0.9, 8), (0.95, 16)])
def test_topk_whose_nu_keeps_k_at_the_batch_size_is_refused(nu, batch_size):
    raw = {**MINIMAL, "methods": [{"name": "topk", "nu": nu}], "train": {"steps": 10, "batch_size": batch_size}}
    with pytest.raises(ConfigError, match=rf"'topk': 'nu' = {nu} would do nothing \(k = ceil\(nu \* batch_size\) stays "
                                          rf"at \[train\] batch_size = {batch_size}\); lower nu"):
        parse_config(raw)
    raw["train"]["batch_size"] = 64
    parse_config(raw)


@pytest.mark.parametrize("entry, message", [
    ({"name": "dmpra", "search": {"two_sided": "false"}},
     r"\[\[methods\]\] 'dmpra'\.search: SearchConfig\.two_sided must be true or false, got 'false'"),
    ({"name": "dmpra", "weights": {"fine_grained": "false"}},
     r"\[\[methods\]\] 'dmpra'\.weights: DMPRA 'fine_grained' must be true or false, got 'false'"),
    ({"name": "dmpra", "plot": "false"}, r"\[\[methods\]\] 'dmpra': 'plot' must be true or false, got 'false'"),
    ({"name": "mean_rescaling", "per_dimension": "false"},
     r"\[\[methods\]\] 'mean_rescaling': 'per_dimension' must be true or false, got 'false'"),
])
def test_string_bools_in_a_run_config_are_refused_naming_method_and_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, "methods": [entry]})
