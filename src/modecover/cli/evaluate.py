"""``modecover evaluate``: precision, recall, density, coverage and FID of fake vs real
(plus KID, IS and 2D mode metrics when asked), from feature files or image folders.

The computation is :mod:`modecover.evaluation` (:func:`~modecover.evaluation.evaluate_files`,
:func:`~modecover.evaluation.evaluate_example`); this module parses the options, turns the
errors into ``click`` messages and prints. A metric that ran by default and cannot take the
input is skipped (named, with its reason); one asked for by name (``--kid``, ``--is``,
``--mixture``, ``--prdc``, ``--fid``, ``--vendi``) that fails exits with code 1 after the
others are printed and written. Metric definitions: docs/metrics.md; usage and JSON
layout: docs/evaluate.md.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import click

from modecover.evaluation import EXTRACTOR_CHOICES, MIXTURE_CHOICES, PIXEL_RANGES, LoadOptions, MetricOptions
from modecover.evaluation.features import DINOV2_ARCHS
from modecover.weights import DownloadError

# the options default to the pipeline's option fields (one home per default)
_METRICS = {f.name: f.default for f in fields(MetricOptions)}
_LOAD = {f.name: f.default for f in fields(LoadOptions)}


def print_table(results: dict, config: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="modecover evaluate")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if key in ("skipped", "failed"):  # printed below the table
            continue
        if isinstance(value, float):
            shown = "nan" if math.isnan(value) else f"{value:.6g}"
        elif isinstance(value, list):
            shown = "[" + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value) + "]"
        else:
            shown = str(value)
        table.add_row(key, shown)
    console = Console()
    console.print(table)
    console.print(f"fake: {config['fake']} (n={config['n_fake']})", highlight=False, soft_wrap=True)
    console.print(f"real: {config['real']} (n={config['n_real']}), {config['extractor']} features, "
                  f"d={config['dim']}", highlight=False, soft_wrap=True)


@click.command("evaluate")
@click.option("--real", "real_spec", metavar="R", help="Real set: .npy/.npz[:key]/.pt[:key] file or image folder.")
@click.option("--fake", "fake_spec", metavar="F", help="Fake set: .npy/.npz[:key]/.pt[:key] file or image folder.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the results as JSON here (default: only print the table).")
@click.option("--example", is_flag=True,
              help="Built-in example, no files: imbalanced 2D ring vs a mode-dropping fake "
                   "(implies --mixture ring-imbalanced).")
@click.option("--extractor", type=click.Choice(EXTRACTOR_CHOICES), default=_LOAD["extractor"], show_default=True,
              help="Feature space. auto: identity for (N, D) arrays, pixels for images; inception (InceptionV3 "
                   "pool, torch-fidelity's) or dinov2 (DINOv2 CLS token, dgm-eval's) for images.")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="Local InceptionV3 weights file (else $MODECOVER_INCEPTION_WEIGHTS, else torch-fidelity's "
                   "file, downloaded once into the cache folder).")
@click.option("--dinov2-arch", type=click.Choice(DINOV2_ARCHS), default=None,
              help=f"DINOv2 size for --extractor dinov2 (default {_LOAD['dinov2_arch']}, as dgm-eval).")
@click.option("--dinov2-weights", type=click.Path(dir_okay=False), default=None,
              help="Local official DINOv2 weights file (dinov2_<arch>_pretrain.pth) for --extractor dinov2 "
                   "(else the official file, downloaded once into the cache folder).")
@click.option("--offline", is_flag=True,
              help="Never download extractor weights: use local or cached files only (also $MODECOVER_OFFLINE=1).")
@click.option("--k-pr", type=click.IntRange(min=1), default=_METRICS["k_pr"], show_default=True,
              help="k of precision/recall.")
@click.option("--k-dc", type=click.IntRange(min=1), default=_METRICS["k_dc"], show_default=True,
              help="k of density/coverage.")
@click.option("--inclusive", is_flag=True,
              help="Count a point on a ball's boundary as inside (<=); default strict < as prdc.")
@click.option("--prdc/--no-prdc", "prdc", default=_METRICS["prdc"],
              help="Precision, recall, density and coverage (on by default: skipped with the reason when the input "
                   "does not allow them, an error when --prdc is given).")
@click.option("--fid/--no-fid", "fid", default=_METRICS["fid"],
              help="FID (on by default, skipped with the reason when it cannot be computed, an error when --fid is "
                   "given); --no-fid e.g. for very wide features, whose d x d covariances may not fit in memory.")
@click.option("--kid", "want_kid", is_flag=True, help="Also compute KID (mean and std over subsets).")
@click.option("--kid-subsets", type=click.IntRange(min=1), default=_METRICS["kid_subsets"], show_default=True)
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=_METRICS["kid_subset_size"], show_default=True,
              help="Capped at the smaller set size.")
@click.option("--is", "want_is", is_flag=True, help="Also compute the Inception Score of the fakes (needs logits).")
@click.option("--is-splits", type=click.IntRange(min=1), default=_METRICS["is_splits"], show_default=True)
@click.option("--fake-logits", default=None, metavar="FILE",
              help="Class logits (n, classes) of the fakes for --is when not using --extractor inception.")
@click.option("--mixture", type=click.Choice(MIXTURE_CHOICES), default=_METRICS["mixture"],
              help="Also compute 2D mode metrics of the fakes against this built-in mixture.")
@click.option("--real-range", type=click.Choice(sorted(PIXEL_RANGES)), default=None,
              help="Pixel range of a real image array file: unit [0,1] (default), symmetric [-1,1], byte 0..255.")
@click.option("--fake-range", type=click.Choice(sorted(PIXEL_RANGES)), default=None,
              help="Pixel range of a fake image array file (e.g. symmetric for tanh generators).")
@click.option("--image-mode", type=click.Choice(["RGB", "L"]), default=_LOAD["image_mode"], show_default=True,
              help="Colour mode image folders are converted to.")
@click.option("--image-size", type=click.IntRange(min=1), default=_LOAD["image_size"],
              help="Resize folder images to SIZE x SIZE.")
@click.option("--skip-corrupt", is_flag=True, help="Skip unreadable images (counted and listed) instead of failing.")
@click.option("--seed", type=int, default=_METRICS["seed"], show_default=True,
              help="Seed of KID subsets and of --example data.")
@click.option("--vendi/--no-vendi", default=_METRICS["vendi"],
              help="Vendi score (cosine kernel; all-zero rows count as one sample) of the fakes and of the reals "
                   "(on by default, skipped with the reason when it cannot be computed, an error when --vendi is "
                   "given).")
@click.option("--explain", "explain_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write per-sample files, missed and off-manifold groups and plots to this folder.")
def command(real_spec, fake_spec, out, example, extractor, inception_weights, dinov2_arch, dinov2_weights, offline,
            k_pr, k_dc, inclusive, prdc, fid, want_kid,
            kid_subsets, kid_subset_size, want_is, is_splits, fake_logits, mixture, real_range, fake_range,
            image_mode, image_size, skip_corrupt, seed, vendi, explain_dir):
    """Compare a fake set with a real set: precision, recall, density, coverage, FID.

    R and F are feature files (.npy, .npz[:key], .pt/.pth[:key]) or image folders. Prints a
    table; --out writes JSON with top-level keys precision, recall, density, coverage, fid
    (less those skipped by --no-prdc / --no-fid; + kid, is and the mode metrics when asked).
    A default metric the input does not allow is skipped (listed with its reason); a metric
    named on the command line that fails exits with code 1 after the rest is written.
    See docs/evaluate.md.
    """
    from click.core import ParameterSource

    from modecover.evaluation import MetricsFailed, evaluate_example, evaluate_files

    context = click.get_current_context()
    named = tuple(name for name, on in (("prdc", prdc), ("fid", fid), ("vendi", vendi))
                  if on and context.get_parameter_source(name) is ParameterSource.COMMANDLINE)
    if (dinov2_arch or dinov2_weights) and extractor != "dinov2":
        raise click.UsageError("--dinov2-arch and --dinov2-weights apply to --extractor dinov2")
    if not prdc and not fid and not (want_kid or want_is or mixture or example or explain_dir or "vendi" in named):
        raise click.UsageError("--no-prdc and --no-fid leave nothing to compute; add --kid, --is, --mixture, --vendi "
                               "or --explain")
    metrics = MetricOptions(k_pr=k_pr, k_dc=k_dc, strict=not inclusive, prdc=prdc, fid=fid,
                            kid=want_kid, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                            inception_score=want_is, is_splits=is_splits, mixture=mixture, seed=seed, vendi=vendi,
                            required=named)
    try:
        if example:
            if real_spec or fake_spec:
                raise click.UsageError("--example takes no --real/--fake")
            evaluation = evaluate_example(metrics, fake_logits=fake_logits, explain_dir=explain_dir)
        else:
            if not real_spec or not fake_spec:
                raise click.UsageError("give both --real R and --fake F (or --example)")
            load = LoadOptions(extractor=extractor, inception_weights=inception_weights, offline=offline or None,
                               dinov2_arch=dinov2_arch or _LOAD["dinov2_arch"], dinov2_weights=dinov2_weights,
                               image_mode=image_mode, image_size=image_size, skip_corrupt=skip_corrupt)
            evaluation = evaluate_files(real_spec, fake_spec, load=load, metrics=metrics, real_range=real_range,
                                        fake_range=fake_range, fake_logits=fake_logits, explain_dir=explain_dir)
    except MetricsFailed as err:  # everything else was computed: print and write it, then fail
        _print(err.evaluation, explain_dir)
        _write(err.evaluation, out)
        raise click.ClickException(_failed_message(err.failed, out)) from err
    except (ValueError, FileNotFoundError, ImportError, DownloadError) as err:
        raise click.ClickException(str(err)) from err
    _print(evaluation, explain_dir)
    _write(evaluation, out)


FLAGS = {"prdc": "--prdc", "fid": "--fid", "kid": "--kid", "is": "--is", "vendi": "--vendi",
         "vendi_real": "--vendi", "modes": "--mixture", "explain": "--explain"}


def _failed_message(failed: dict, out) -> str:
    """The error of metrics asked for by name that could not be computed."""
    lines = [f"{name} (asked for with {FLAGS[name]}) could not be computed: {reason}"
             for name, reason in failed.items()]
    done = f"the other metrics were computed and written to {out}" if out is not None else \
        "the other metrics were computed (printed above)"
    return "\n".join(lines + [done])


def _write(evaluation, out) -> None:
    if out is not None:
        evaluation.write(out)
        click.echo(f"wrote {out}")


def _print(evaluation, explain_dir) -> None:
    """The table, the skipped metrics and files, the all-zero rows the Vendi score counted and
    the explain folder's sentence."""
    print_table(evaluation.results, evaluation.config)
    for name, reason in evaluation.results.get("skipped", {}).items():
        click.echo(f"skipped {name}: {reason}", err=True)
    for label, loaded in (("real", evaluation.real), ("fake", evaluation.fake)):
        if loaded.skipped:
            click.echo(f"skipped {len(loaded.skipped)} unreadable image(s) in {label} {loaded.source}: "
                       + ", ".join(loaded.skipped), err=True)
        zero = evaluation.config["zero_rows"][label]
        if zero and ("vendi" if label == "fake" else "vendi_real") in evaluation.results:
            click.echo(f"{label} {loaded.source}: {zero} of {len(loaded.features)} feature rows are all zeros; "
                       "the Vendi score counts them as one shared sample", err=True)
    explained = evaluation.explained
    if explained is not None:
        click.echo(f"{explained['sentence']} Wrote {explain_dir}/: " + ", ".join(explained["files"].values()))
