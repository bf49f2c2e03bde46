"""modecover.ensemble: seeds of a 2D MLP GAN trained as one batched ensemble follow their
separate runs (up to float reassociation), and what cannot be batched is refused."""

import tempfile

import pytest
import torch

from modecover.config import Run, parse_config
from modecover.ensemble import ensemble_refusal, train_ensemble


def _run(seed: int, *, steps: int = 40, model: dict | None = None, methods=(), train: dict | None = None) -> Run:
    raw = {"data": {"name": "ring", "n": 400, "seed": seed},
           "model": {"family": "gan", "hidden": 32, "depth": 2, **(model or {})}, "methods": list(methods),
           "train": {"steps": steps, "batch_size": 64, "rounds": 2, "seed": seed, "lr_decay": 0.5,
                     "checkpoint_every": 0, **(train or {})}}
    return Run.from_config(parse_config(raw, "ensemble test"))


def _largest_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("model", [{}, {"pack": 2, "d_steps": 2}, {"loss": "hinge", "output": "tanh"}])
def test_each_member_follows_its_separate_run(model):
    seeds = (3, 4, 5)
    separate = []
    for seed in seeds:
        run = _run(seed, model=model)
        with tempfile.TemporaryDirectory() as out:
            run.train(out, progress=False)
        separate.append((run, torch.get_rng_state()))
    members = [_run(seed, model=model) for seed in seeds]
    states = train_ensemble(members)
    for (run, rng), member, state in zip(separate, members, states):
        assert _largest_difference(run.model, member.model) < 1e-5
        for name, opt in run.model.optimizers().items():  # Adam's state too: a member trains on as its run
            ours = member.model.optimizers()[name]
            assert [g["lr"] for g in ours.param_groups] == [g["lr"] for g in opt.param_groups]
            for p, q in zip(opt.param_groups[0]["params"], ours.param_groups[0]["params"]):
                assert opt.state[p].keys() == ours.state[q].keys()
                for key, value in opt.state[p].items():
                    torch.testing.assert_close(ours.state[q][key], value, atol=1e-5, rtol=0)
        assert _largest_difference(run.model, _run(0, model=model).model) > 1e-2  # it did train
        assert torch.equal(rng, state)  # the same latents are drawn next: the same samples
        torch.set_rng_state(rng)
        alone = run.model.sample(500)
        torch.set_rng_state(state)
        torch.testing.assert_close(member.model.sample(500), alone, atol=1e-5, rtol=0)


def test_the_trained_members_differ_from_each_other():
    members = [_run(seed) for seed in (0, 1)]
    train_ensemble(members)
    assert _largest_difference(members[0].model, members[1].model) > 1e-2


def test_what_cannot_be_batched_is_refused_with_the_reason():
    plain = _run(0)
    assert ensemble_refusal(plain.model, plain.hooks, plain.config.train) is None
    dmpra = _run(0, methods=[{"name": "dmpra"}])
    assert "plug-ins" in ensemble_refusal(dmpra.model, dmpra.hooks, dmpra.config.train)
    wgan = _run(0, model={"loss": "wgan-gp"})
    assert "gradient penalty" in ensemble_refusal(wgan.model, wgan.hooks, wgan.config.train)
    packed = _run(0, model={"pack": 3})
    assert "pack 3" in ensemble_refusal(packed.model, packed.hooks, packed.config.train)
    vae = Run.from_config(parse_config({"data": {"name": "ring", "n": 100}, "model": {"family": "vae"},
                                        "train": {"steps": 1, "batch_size": 8}}, "t"))
    assert "'vae'" in ensemble_refusal(vae.model, vae.hooks, vae.config.train)
    with pytest.raises(ValueError, match="member 1: plug-ins"):
        train_ensemble([plain, dmpra])


def test_what_is_not_a_list_of_runs_is_refused():
    run = _run(0)
    with pytest.raises(TypeError, match="expected a list of runs built by Run.from_config, got Run"):
        train_ensemble(run)
    with pytest.raises(TypeError, match=r"got a list of \['GAN', 'Run'\]"):
        train_ensemble([run, run.model])


def test_members_of_other_schedules_settings_or_data_are_refused():
    a, b = _run(0), _run(1, train={"steps": 41})
    with pytest.raises(ValueError, match="member 1 trains another schedule"):
        train_ensemble([a, b])
    with pytest.raises(ValueError, match="member 1's GAN settings differ"):
        train_ensemble([a, _run(1, model={"hidden": 16})])
    short = _run(1, train={})
    short.data.x = short.data.x[:399]
    with pytest.raises(ValueError, match=r"member 1's data is torch.float32 \(399, 2\)"):
        train_ensemble([a, short])
    bad = _run(1)
    bad.data.x = bad.data.x.clone()
    bad.data.x[5, 0] = float("nan")
    with pytest.raises(ValueError, match="member 1's data holds NaN"):
        train_ensemble([a, bad])
    with pytest.raises(ValueError, match="at least one"):
        train_ensemble([])
