"""Data-parallel training under torchrun: 2 CPU processes (gloo) with a small GAN."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from modecover.checkpoint import read_checkpoint

WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    from modecover.data.mixtures import ring
    from modecover.methods.cft import CommonFeatureTraining
    from modecover.models import build_model
    from modecover.plugins import Hooks, Plugin
    from modecover.train import TrainConfig, init_distributed, train

    out = sys.argv[1]


    class SeenBatches(Plugin):
        name = "seen"

        def __init__(self):
            self.rows = []

        def generator_loss(self, ctx):
            self.rows.append(ctx.real.detach().clone())


    ctx = init_distributed()
    torch.manual_seed(100 + ctx.rank)  # different initial weights: the trainer must broadcast rank 0's
    seen = SeenBatches()
    hooks = Hooks([CommonFeatureTraining(latent_dim=4), seen])
    model = build_model("gan", {"data_shape": [2], "hidden": 16, "depth": 1, "latent_dim": 4}, hooks.parameters())
    data = torch.as_tensor(ring().sample(256, seed=0)[0])
    config = TrainConfig(steps=12, batch_size=16, rounds=2, seed=0, log_every=4, checkpoint_every=5)
    result = train(model, data, hooks, config, out + "/run", progress=False)
    params = {f"model.{n}": p.detach().clone() for n, p in model.named_parameters()}
    params.update({f"plugin.{i}": p.detach().clone() for i, p in enumerate(hooks.parameters())})
    params["seen"] = torch.cat(seen.rows)
    torch.save(params, f"{out}/rank{ctx.rank}.pt")
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
def test_two_process_gloo_run_ends_with_identical_parameters(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    keys = [k for k in ranks[0] if k != "seen"]
    for key in keys:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    # the ranks trained on different shares of the data
    assert not torch.equal(ranks[0]["seen"], ranks[1]["seen"])
    # rank 0's final checkpoint holds the common parameters
    model_state = read_checkpoint(tmp_path / "run" / "final.ckpt").model_state
    named = [k for k in keys if k.startswith("model.")]
    assert len(named) >= 4 and any(k.startswith("plugin.") for k in keys)
    for key in named:
        assert torch.equal(model_state[key[len("model."):]], ranks[0][key]), key


def test_gradient_averaging_hook_matches_a_manual_mean(tmp_path):
    """One process group of size 1 cannot average; check the hook's arithmetic with a fake
    all_reduce that adds a second rank's gradients."""
    import torch.distributed as dist

    from modecover.train import average_gradients_before_each_step

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 2)
            self.unused = torch.nn.Parameter(torch.ones(2))
            self.opt = torch.optim.SGD(self.parameters(), lr=1.0)

        def optimizers(self):
            return {"opt": self.opt}

    model = Model()
    params = list(model.parameters())  # the optimizer's order
    rank1_has = [p is not model.unused for p in params]  # the other rank has no grad for 'unused' either

    def fake_all_reduce(flat):
        other = [torch.full_like(p, 2.0) if has else torch.zeros_like(p) for p, has in zip(params, rank1_has)]
        flat.add_(torch.cat([torch.tensor(rank1_has, dtype=flat.dtype)] + [g.reshape(-1) for g in other]))

    original = dist.all_reduce
    dist.all_reduce = fake_all_reduce
    try:
        handles = average_gradients_before_each_step(model, world_size=2)
        before = {id(p): p.detach().clone() for p in params}
        model.a(torch.randn(4, 3)).sum().backward()
        mine = [p.grad.clone() for p in model.a.parameters()]
        model.opt.step()
    finally:
        dist.all_reduce = original
    for h in handles:
        h.remove()
    for p, g in zip(model.a.parameters(), mine):
        assert torch.allclose(p, before[id(p)] - (g + 2.0) / 2)
    assert model.unused.grad is None and torch.equal(model.unused, before[id(model.unused)])
