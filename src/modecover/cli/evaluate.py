"""``modecover evaluate``: precision, recall, density, coverage and FID of fake vs real
(plus KID, IS and 2D mode metrics when asked), from feature files or image folders.

Metric definitions: docs/metrics.md; usage and JSON layout: docs/evaluate.md.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import click
import numpy as np

EXTRACTOR_CHOICES = ("auto", "identity", "pixels", "inception")
MIXTURE_CHOICES = ("ring", "grid", "ring-imbalanced", "grid-imbalanced")
EXAMPLE_MIXTURE = "ring-imbalanced"


@dataclass(frozen=True)
class LoadOptions:
    """How inputs are read: image-folder rules (modecover.data.images) and the extractor."""

    extractor: str = "auto"
    inception_weights: str | None = None
    image_mode: str = "RGB"
    image_size: int | None = None
    skip_corrupt: bool = False
    batch_size: int = 256
    pixel_range: str | None = None  # of image arrays read from files: see PIXEL_RANGES
    role: str = "real"  # "real" or "fake": names the matching --<role>-range option in errors


# Pixel range of an image array in a file -> (low, high) mapped onto [0, 1] (folders are [0, 1]).
PIXEL_RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0), "byte": (0.0, 255.0)}
RANGE_SLACK = 1e-3  # rounding slack allowed outside the declared range


@dataclass
class Loaded:
    """One input set after feature extraction."""

    features: np.ndarray  # (n, d)
    source: str  # file, folder or "example"
    extractor: str
    logits: np.ndarray | None = None  # Inception logits (n, 1008), inception extractor only
    skipped: tuple[str, ...] = ()
    images: np.ndarray | None = None  # the images (N, C, H, W) in [0, 1] when the input was images


def read_samples(spec: str, options: LoadOptions):
    """An image folder -> (images (N,C,H,W) in [0,1], skipped files); a file -> (array, ())."""
    from modecover.data.images import load_image_folder
    from modecover.io import load_array

    if Path(spec).is_dir():
        with warnings.catch_warnings():  # skipped files are reported by the command itself
            warnings.simplefilter("ignore", UserWarning)
            folder = load_image_folder(spec, mode=options.image_mode, size=options.image_size,
                                       skip_corrupt=options.skip_corrupt)
        if options.pixel_range is not None:
            raise ValueError(f"{spec}: an image folder is always read as [0, 1]; drop --{options.role}-range")
        return folder.images, tuple(str(p) for p in folder.skipped)
    array = load_array(spec, min_ndim=2)  # a 1-D array is refused: N scalars or one sample?
    if array.ndim > 2:
        return to_unit_range(array, options.pixel_range or "unit", spec, options.role), ()
    if options.pixel_range is not None:
        raise ValueError(f"{spec}: --{options.role}-range applies to image arrays (N, C, H, W), "
                         f"not to {array.ndim}-D features")
    return array, ()


def to_unit_range(images: np.ndarray, pixel_range: str, spec: str, role: str = "real") -> np.ndarray:
    """Map an image array from its declared range onto [0, 1]; values outside the range
    (beyond rounding) are an error, so [-1, 1] or 0..255 data is never silently compared
    with [0, 1] images."""
    low, high = PIXEL_RANGES[pixel_range]
    lo, hi = float(images.min()), float(images.max())
    slack = RANGE_SLACK * (high - low)
    if lo < low - slack or hi > high + slack:
        guess = next((name for name, (a, b) in PIXEL_RANGES.items()
                      if lo >= a - RANGE_SLACK * (b - a) and hi <= b + RANGE_SLACK * (b - a)), None)
        hint = f"; if it is {guess!r} data pass --{role}-range {guess}" if guess else ""
        raise ValueError(
            f"{spec}: image values span [{lo:.4g}, {hi:.4g}], outside the {pixel_range!r} range "
            f"[{low:g}, {high:g}]{hint}"
        )
    return (images.astype(np.float32) - np.float32(low)) / np.float32(high - low)


def choose_extractor(name: str, samples) -> str:
    """``auto``: identity for vectors (N, D), pixels for anything with more axes."""
    if name != "auto":
        return name
    return "identity" if samples.ndim == 2 else "pixels"


def check_shape_for(extractor: str, shape: tuple[int, ...], spec: str) -> None:
    """Refuse, naming the file, samples the extractor cannot take."""
    if extractor == "identity" and len(shape) != 2:
        raise ValueError(f"{spec}: the identity extractor needs vectors (N, D), got shape {shape}; "
                         "use --extractor pixels or inception for images")
    if extractor == "inception" and (len(shape) != 4 or shape[1] not in (1, 3)):
        raise ValueError(f"{spec}: the inception extractor needs images (N, C, H, W) with C = 1 or 3, "
                         f"got shape {shape}")


def to_features(spec: str, options: LoadOptions, extractors: dict) -> Loaded:
    """Read ``spec`` and run the chosen feature extractor over it (built once, shared)."""
    from modecover.features import extract, get_extractor

    samples, skipped = read_samples(spec, options)
    name = choose_extractor(options.extractor, samples)
    check_shape_for(name, tuple(samples.shape), spec)
    if name not in extractors:
        kw = {"weights_path": options.inception_weights} if name == "inception" else {}
        extractors[name] = get_extractor(name, **kw)
    extractor = extractors[name]
    images = np.asarray(samples) if samples.ndim > 2 else None
    if name == "inception":
        pool, logits = inception_outputs(extractor, samples, options.batch_size)
        return Loaded(pool, spec, name, logits, skipped, images)
    feats = extract(extractor, samples, batch_size=options.batch_size, name=spec)
    return Loaded(feats, spec, name, None, skipped, images)


def inception_outputs(extractor, samples, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool features and logits of ``samples`` in batches (one forward pass each)."""
    from modecover.features import as_tensor_batch

    batch = as_tensor_batch(samples, "inception input")
    parts = [extractor.features_and_logits(batch[i:i + batch_size]) for i in range(0, len(batch), batch_size)]
    return np.concatenate([p for p, _ in parts]), np.concatenate([lg for _, lg in parts])


def example_sets(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The built-in example: ``n`` real points of the imbalanced ring (2 of 8 modes at
    1/20 weight) against ``n`` fakes that drop both minority modes and are 1.5x blurrier
    (sigma 0.015 instead of 0.01), so recall, coverage, modes and HQ% all show the loss."""
    from modecover.data.mixtures import Mixture, get_mixture

    real_mix = get_mixture(EXAMPLE_MIXTURE)
    weights = np.array(real_mix.weights, dtype=np.float64)
    weights[list(real_mix.minority)] = 0.0
    fake_mix = Mixture("ring-dropped", real_mix.means, np.asarray(real_mix.sigmas) * 1.5, weights / weights.sum())
    real, _ = real_mix.sample(n, seed=seed)
    fake, _ = fake_mix.sample(n, seed=seed + 1)
    return real, fake


@dataclass(frozen=True)
class MetricOptions:
    """Which metrics to compute and their parameters (docs/metrics.md)."""

    k_pr: int = 3
    k_dc: int = 5
    strict: bool = True  # prdc's "<" boundary; False counts points on a ball's boundary as inside
    prdc: bool = True  # precision, recall, density, coverage
    fid: bool = True
    kid: bool = False
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # capped at the smaller set size
    inception_score: bool = False
    is_splits: int = 10
    mixture: str | None = None  # built-in mixture for the 2D mode metrics
    seed: int = 0  # KID subsets
    vendi: bool = True  # Vendi score of each set (cosine kernel): cheaper than one PRDC pass


def check_inputs(real: Loaded, fake: Loaded, options: MetricOptions, logits: np.ndarray | None) -> None:
    """Every check that can fail, before any metric is computed."""
    from modecover._checks import check_k, check_same_dim

    check_same_dim(real.features, fake.features, f"real ({real.source})", f"fake ({fake.source})")
    if options.prdc:
        check_k(max(options.k_pr, options.k_dc), len(real.features), f"real ({real.source})")
        check_k(options.k_pr, len(fake.features), f"fake ({fake.source})")
    if options.inception_score and logits is None:
        raise ValueError(
            "--is needs class logits of the fakes: use --extractor inception on images, "
            "or pass --fake-logits FILE (an (n, classes) array)"
        )
    if logits is not None and len(logits) != len(fake.features):
        raise ValueError(f"{len(logits)} rows of logits but {len(fake.features)} fakes ({fake.source})")
    if options.mixture is not None and fake.features.shape[1] != 2:
        raise ValueError(
            f"--mixture {options.mixture}: fake ({fake.source}) has {fake.features.shape[1]} feature columns, "
            "mode metrics need 2-D points"
        )


def compute_metrics(real: Loaded, fake: Loaded, options: MetricOptions,
                    fake_logits: np.ndarray | None = None) -> dict:
    """All requested metrics as one flat, JSON-able dict (see docs/evaluate.md).

    ``fake_logits`` (n_fake, classes) for the Inception Score; default: the logits the
    inception extractor produced for the fakes.
    """
    from modecover.metrics.fid import fid
    from modecover.metrics.prdc import _prdc_unchecked
    from modecover.neighbors import _widened

    logits = fake_logits if fake_logits is not None else fake.logits
    check_inputs(real, fake, options, logits)
    results: dict = {}
    if options.prdc:  # the features and k are checked once, above and by the feature extraction
        scores = _prdc_unchecked(_widened(real.features), _widened(fake.features), options.k_pr, options.k_dc,
                                 options.strict)
        results.update({key: scores[key] for key in ("precision", "recall", "density", "coverage")})
    if options.fid:
        results["fid"] = fid(real.features, fake.features)
    if options.kid:
        from modecover.metrics.kid import kid

        size = min(options.kid_subset_size, len(real.features), len(fake.features))
        results["kid"], results["kid_std"] = kid(real.features, fake.features, subsets=options.kid_subsets,
                                                 subset_size=size, seed=options.seed)
        results["kid_subset_size"] = size
    if options.inception_score:
        from modecover.metrics.inception_score import inception_score

        results["is"], results["is_std"] = inception_score(logits, splits=options.is_splits)
    if options.vendi:
        from modecover.metrics.vendi import vendi_score

        results["vendi"] = vendi_score(fake.features, name=f"fake ({fake.source})")
        results["vendi_real"] = vendi_score(real.features, name=f"real ({real.source})")
    if options.mixture is not None:
        results.update(mode_results(fake.features, options.mixture))
    return {k: _plain(v) for k, v in results.items()}


def write_explain_dir(out_dir: Path, real: Loaded, fake: Loaded, options: MetricOptions) -> dict:
    """``--explain DIR``: :func:`modecover.evaluate.explain` with k = ``k_dc`` (the
    coverage's k) and the files of :mod:`modecover.evaluate_files`; returns groups.json's content."""
    from modecover._checks import check_k
    from modecover.evaluate import _explain_unchecked
    from modecover.evaluate_files import write_explanation
    from modecover.neighbors import _widened, as_points

    check_k(options.k_dc, len(real.features), f"real ({real.source})")
    check_k(options.k_dc, len(fake.features), f"fake ({fake.source})")
    modes = None
    if options.mixture is not None:  # 2-D means, as the fakes (check_inputs)
        from modecover.data.mixtures import get_mixture

        modes = as_points(get_mixture(options.mixture).means, "modes")
    # the features are checked by the feature extraction, their widths by check_inputs
    e = _explain_unchecked(_widened(real.features), _widened(fake.features), options.k_dc, modes, 50.0,
                           options.strict, options.seed)
    paths = write_explanation(e, out_dir, real.features, fake.features, real_images=real.images,
                              fake_images=fake.images, label="the fake set")
    return json.loads(paths["groups"].read_text())


def mode_results(fake: np.ndarray, mixture: str) -> dict:
    """2D mode metrics of the fakes against the named mixture's modes."""
    from modecover.data.mixtures import get_mixture
    from modecover.metrics.modes import mode_metrics

    mix = get_mixture(mixture)
    return mode_metrics(fake, mix.means, mix.sigmas, mix.weights, minority=mix.minority)


def _plain(value):
    """numpy scalars/arrays -> Python numbers/lists for JSON."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def report_view(results: dict, mixture: str | None) -> dict:
    """The same numbers in the run layout ``modecover report`` reads (docs/report.md)."""
    scalars = {k: v for k, v in results.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    run: dict = {"metrics": scalars}
    view: dict = {"runs": {"evaluate": run}}
    if mixture is not None:
        from modecover.data.mixtures import get_mixture

        mix = get_mixture(mixture)
        view["data"] = {"name": mixture, "means": mix.means.tolist(), "weights": mix.weights.tolist(),
                        "minority": list(mix.minority)}
        run["per_mode_share"] = results["generated_shares"]
    return view


def print_table(results: dict, config: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="modecover evaluate")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
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
              help="Built-in example, no files: imbalanced 2D ring vs a mode-dropping fake (implies --mixture ring-imbalanced).")
@click.option("--extractor", type=click.Choice(EXTRACTOR_CHOICES), default="auto", show_default=True,
              help="Feature space. auto: identity for (N, D) arrays, pixels for images.")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="Local InceptionV3 weights file (else $MODECOVER_INCEPTION_WEIGHTS).")
@click.option("--k-pr", type=int, default=3, show_default=True, help="k of precision/recall.")
@click.option("--k-dc", type=int, default=5, show_default=True, help="k of density/coverage.")
@click.option("--inclusive", is_flag=True, help="Count a point on a ball's boundary as inside (<=); default strict < as prdc.")
@click.option("--no-prdc", "no_prdc", is_flag=True, help="Skip precision, recall, density and coverage.")
@click.option("--no-fid", "no_fid", is_flag=True,
              help="Skip FID (e.g. for very wide features, whose d x d covariances may not fit in memory).")
@click.option("--kid", "want_kid", is_flag=True, help="Also compute KID (mean and std over subsets).")
@click.option("--kid-subsets", type=int, default=100, show_default=True)
@click.option("--kid-subset-size", type=int, default=1000, show_default=True,
              help="Capped at the smaller set size.")
@click.option("--is", "want_is", is_flag=True, help="Also compute the Inception Score of the fakes (needs logits).")
@click.option("--is-splits", type=int, default=10, show_default=True)
@click.option("--fake-logits", default=None, metavar="FILE",
              help="Class logits (n, classes) of the fakes for --is when not using --extractor inception.")
@click.option("--mixture", type=click.Choice(MIXTURE_CHOICES), default=None,
              help="Also compute 2D mode metrics of the fakes against this built-in mixture.")
@click.option("--real-range", type=click.Choice(sorted(PIXEL_RANGES)), default=None,
              help="Pixel range of a real image array file: unit [0,1] (default), symmetric [-1,1], byte 0..255.")
@click.option("--fake-range", type=click.Choice(sorted(PIXEL_RANGES)), default=None,
              help="Pixel range of a fake image array file (e.g. symmetric for tanh generators).")
@click.option("--image-mode", type=click.Choice(["RGB", "L"]), default="RGB", show_default=True,
              help="Colour mode image folders are converted to.")
@click.option("--image-size", type=int, default=None, help="Resize folder images to SIZE x SIZE.")
@click.option("--skip-corrupt", is_flag=True, help="Skip unreadable images (counted and listed) instead of failing.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of KID subsets and of --example data.")
@click.option("--vendi/--no-vendi", default=True, show_default=True,
              help="Vendi score (cosine kernel) of the fakes and of the reals.")
@click.option("--explain", "explain_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write per-sample files, missed and off-manifold groups and plots to this folder.")
def command(real_spec, fake_spec, out, example, extractor, inception_weights, k_pr, k_dc, inclusive, no_prdc, no_fid,
            want_kid,
            kid_subsets, kid_subset_size, want_is, is_splits, fake_logits, mixture, real_range, fake_range,
            image_mode, image_size, skip_corrupt, seed, vendi, explain_dir):
    """Compare a fake set with a real set: precision, recall, density, coverage, FID.

    R and F are feature files (.npy, .npz[:key], .pt/.pth[:key]) or image folders. Prints a
    table; --out writes JSON with top-level keys precision, recall, density, coverage, fid
    (less those skipped by --no-prdc / --no-fid; + kid, is and the mode metrics when asked).
    See docs/evaluate.md.
    """
    if no_prdc and no_fid and not (want_kid or want_is or mixture or example or explain_dir):
        raise click.UsageError("--no-prdc and --no-fid leave nothing to compute; add --kid, --is, --mixture or --explain")
    try:
        if example:
            if real_spec or fake_spec:
                raise click.UsageError("--example takes no --real/--fake")
            real, fake = _example_loaded(seed)
            mixture = mixture or EXAMPLE_MIXTURE
        else:
            if not real_spec or not fake_spec:
                raise click.UsageError("give both --real R and --fake F (or --example)")
            load = LoadOptions(extractor=extractor, inception_weights=inception_weights, image_mode=image_mode,
                               image_size=image_size, skip_corrupt=skip_corrupt)
            extractors: dict = {}
            real = to_features(real_spec, replace(load, pixel_range=real_range, role="real"), extractors)
            fake = to_features(fake_spec, replace(load, pixel_range=fake_range, role="fake"), extractors)
        logits = None if fake_logits is None else _fake_logits(fake_logits, len(fake.features))
        options = MetricOptions(k_pr=k_pr, k_dc=k_dc, strict=not inclusive, prdc=not no_prdc, fid=not no_fid,
                                kid=want_kid, kid_subsets=kid_subsets,
                                kid_subset_size=kid_subset_size, inception_score=want_is, is_splits=is_splits,
                                mixture=mixture, seed=seed, vendi=vendi)
        results = compute_metrics(real, fake, options, logits)
        explained = write_explain_dir(explain_dir, real, fake, options) if explain_dir is not None else None
    except (ValueError, FileNotFoundError, ImportError) as err:
        raise click.ClickException(str(err)) from err
    used = real.extractor if real.extractor == fake.extractor else f"{real.extractor} (real), {fake.extractor} (fake)"
    config = {"real": real.source, "fake": fake.source, "extractor": used, "n_real": len(real.features),
              "n_fake": len(fake.features), "dim": int(real.features.shape[1]), "k_pr": k_pr, "k_dc": k_dc,
              "boundary": "<=" if inclusive else "<", "mixture": mixture,
              "skipped": {"real": list(real.skipped), "fake": list(fake.skipped)}}
    print_table(results, config)
    for label, loaded in (("real", real), ("fake", fake)):
        if loaded.skipped:
            click.echo(f"skipped {len(loaded.skipped)} unreadable image(s) in {label} {loaded.source}: "
                       + ", ".join(loaded.skipped), err=True)
    if explained is not None:
        click.echo(f"{explained['sentence']} Wrote {explain_dir}/: " + ", ".join(explained["files"].values()))
    if out is not None:
        _write_results(out, results, config, mixture, (real, fake) if example else None)
        click.echo(f"wrote {out}")


def _example_loaded(seed: int) -> tuple[Loaded, Loaded]:
    """The built-in example: the imbalanced ring and a fake that drops its minority modes."""
    real_pts, fake_pts = example_sets(seed=seed)
    return (Loaded(real_pts.astype(np.float64), "example real (ring-imbalanced)", "identity"),
            Loaded(fake_pts.astype(np.float64), "example fake (minority modes dropped)", "identity"))


def _fake_logits(path: str, n_fake: int) -> np.ndarray:
    from modecover.io import load_features

    logits = load_features(path)
    if len(logits) != n_fake:
        raise ValueError(f"{path}: {len(logits)} rows of logits but {n_fake} fakes")
    return logits


def _write_results(out: Path, results: dict, config: dict, mixture, example_points: tuple | None) -> None:
    """The results JSON; for the built-in example also its real and fake points beside it,
    where ``modecover report`` looks for them (docs/report.md)."""
    from modecover.io import write_atomic

    if example_points is not None:
        real, fake = example_points
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out.parent / "data.npy", real.features)
        (out.parent / "evaluate").mkdir(exist_ok=True)
        np.save(out.parent / "evaluate" / "samples.npy", fake.features)
    write_atomic(out, json.dumps({**results, "config": config, **report_view(results, mixture)}, indent=2) + "\n")
