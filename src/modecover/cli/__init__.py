"""The ``modecover`` command line: a thin layer over the Python API.

Each sub-command lives in its own module (``modecover/cli/<name>.py``) exposing a
``click.Command`` called ``command``; modules are imported only when their command runs,
so ``modecover --help`` stays fast and one broken optional dependency cannot break the
other commands.
"""

from __future__ import annotations

import importlib

import click

# name -> (module, one-line help). Add a line here to add a command.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("modecover.cli.demo",
             "Train a GAN with and without DMPRA on a built-in imbalanced mixture; write a report."),
    "evaluate": ("modecover.cli.evaluate",
                 "Precision, recall, density, coverage, FID (and KID, IS, mode metrics) of fake vs real."),
    "audit": ("modecover.cli.audit", "Find the minority (low-density) samples of a data set with DMPRA's search."),
    "train": ("modecover.cli.train", "Train a model from a TOML/YAML config, with method plug-ins."),
    "sample": ("modecover.cli.sample", "Draw samples from a checkpoint (prior or MaGNET/polarity sampler)."),
    "bench": ("modecover.cli.bench", "Run a benchmark suite (B1, B2, B3, B4) with several seeds; resumable."),
    "report": ("modecover.cli.report", "Write a static HTML report for a run directory."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module_name, _ = COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                raise click.ClickException(f"command '{name}' is not available in this build") from err
            raise
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="modecover")
def main():
    """modecover: find, correct and measure what a generative model misses."""


if __name__ == "__main__":  # pragma: no cover
    main()
