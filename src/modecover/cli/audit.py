"""``modecover audit DATA --out DIR``: which samples of a data set are rare (DMPRA's search alone)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click

from modecover._checks import no_op_error
from modecover.dmpra.density import DensityConfig
from modecover.dmpra.plugin import DETECTORS
from modecover.dmpra.search import SearchConfig
from modecover.dmpra.weights import WEIGHTINGS, WeightingConfig
from modecover.evaluation.features import DINOV2_ARCHS
from modecover.features.pca import check_components

# the LOCI search and weighting options default to the configs' field defaults (one home per default)
_SEARCH = {f.name: f.default for f in fields(SearchConfig)}
_WEIGHTING = {f.name: f.default for f in fields(WeightingConfig)}


@click.command("audit")
@click.argument("data", type=str)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for audit.csv, summary.json, audit.png (and gallery.png for images).")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier run in --out (a folder some modecover command wrote).")
@click.option("--extractor", type=click.Choice(["identity", "pixels", "inception", "dinov2"]),
              default=None,
              help="Features of the samples: identity (rows of a feature/points file; the default for files), "
                   "pixels (flattened images; the default for image folders), inception (image folders, "
                   "needs the optional extra; weights from a local file or the cache folder) or dinov2 (image "
                   "folders: DINOv2 CLS features as dgm-eval; weights from a local file or the cache folder).")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="Local InceptionV3 weights file for --extractor inception (else $MODECOVER_INCEPTION_WEIGHTS, "
                   "else torch-fidelity's file, downloaded once into the cache folder).")
@click.option("--dinov2-arch", type=click.Choice(DINOV2_ARCHS), default=None,
              help="DINOv2 size for --extractor dinov2 (default vitl14, as dgm-eval).")
@click.option("--dinov2-weights", type=click.Path(dir_okay=False), default=None,
              help="Local official DINOv2 weights file (dinov2_<arch>_pretrain.pth) for --extractor dinov2 "
                   "(else the official file, downloaded once into the cache folder).")
@click.option("--offline", is_flag=True,
              help="Never download extractor weights: use local or cached files only (also $MODECOVER_OFFLINE=1).")
@click.option("--image-mode", type=click.Choice(["RGB", "L"]), default="RGB", show_default=True,
              help="Colour mode image folders are read in (L: one grey channel).")
@click.option("--components", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Search the features' first N principal components (PCA after extraction, any extractor; at most "
                   "the number of samples and of feature columns); 0: the features as they are.")
@click.option("--views", "views_text", default="", metavar="V1,V2,...",
              help="Images, density detector: search these views of the images together, combined by rank (pixels, "
                   "pca<m>, hog<c>); they replace the extractor's features and --components. Default for images "
                   "with no --extractor and no --components: pca50,hog4 (measured on MNIST); --views pixels searches "
                   "the pixels alone.")
@click.option("--detector", type=click.Choice(DETECTORS), default="auto", show_default=True,
              help="How rare samples are found: loci (the LOCI search and a weighting: the options below), density "
                   "(k-NN density ratios, for high-dimensional data: --density KEY=VALUE), auto (density for "
                   "images, loci for feature and points files).")
@click.option("--density", "density_options", multiple=True, metavar="KEY=VALUE",
              help="A setting of the density detector (repeatable): " + ", ".join(
                  f"{f.name} (default {f.default})" for f in fields(DensityConfig) if f.default is not None)
                   + ", gamma and w_max (default 2 and 50 in one space, 3 and 20 over several views).")
@click.option("--alpha", type=float, default=_SEARCH["alpha"], show_default=True,
              help="Counting radius alpha*r of the sub-spheres.")
@click.option("--n-min", type=int, default=_SEARCH["n_min"], show_default=True,
              help="Smallest neighbourhood of the radius ladder.")
@click.option("--k-sigma", type=float, default=_SEARCH["k_sigma"], show_default=True,
              help="Flag when the score exceeds this.")
@click.option("--two-sided", is_flag=True,
              help="Flag |n - n_hat| > k_sigma * sigma_hat (also unusually dense samples).")
@click.option("--max-neighbors", type=int, default=_SEARCH["max_neighbors"],
              help="Cap K of the ladder (default: the search's).")
@click.option("--reference-size", type=click.IntRange(min=2), default=_SEARCH["reference_size"], show_default=True,
              help="Above this many samples, counts are taken in a seeded subsample of this size.")
@click.option("--weighting", type=click.Choice(WEIGHTINGS), default=_WEIGHTING["weighting"], show_default=True,
              help="groups: raise linked groups of flagged samples by their density deficit; "
                   "paper: the paper's informative weights (Eq. 6-7).")
@click.option("--min-group", type=int, default=_WEIGHTING["min_group"], show_default=True,
              help="groups: fewer linked flagged samples are outliers (weight --outlier-weight).")
@click.option("--gamma", type=float, default=_WEIGHTING["gamma"], show_default=True,
              help="groups: a group's weight is its median density deficit to this power (then capped by --w-max).")
@click.option("--w-max", type=float, default=_WEIGHTING["w_max"], show_default=True, help="groups: largest weight.")
@click.option("--outlier-weight", type=float, default=_WEIGHTING["outlier_weight"], show_default=True,
              help="groups: weight of the flagged samples in groups smaller than --min-group (> 0).")
@click.option("--fine-grained", is_flag=True,
              help="groups: scale each group member's weight by its CV / the group's mean CV.")
@click.option("--no-informative", is_flag=True, help="paper: every flagged sample gets delta-bar (the ablation).")
@click.option("--gallery", "gallery_size", type=click.IntRange(min=1), default=32, show_default=True,
              help="How many of the most isolated images gallery.png shows.")
@click.option("--top", type=click.IntRange(min=0), default=0, metavar="F",
              help="Mark the F most isolated samples (highest scores, flagged or not) in a 'top' column of audit.csv.")
@click.option("--skip-corrupt", is_flag=True,
              help="Image folders: leave unreadable images out (counted, listed, and kept in summary.json) "
                   "instead of failing.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def command(data: str, out_dir: Path, overwrite: bool, extractor: str | None, inception_weights: str | None,
            dinov2_arch: str | None, dinov2_weights: str | None, offline: bool, components: int, views_text: str,
            detector: str, density_options: tuple[str, ...], image_mode: str, alpha: float, n_min: int, k_sigma: float,
            two_sided: bool, max_neighbors: int | None,
            reference_size: int, weighting: str, min_group: int, gamma: float, w_max: float, outlier_weight: float,
            fine_grained: bool, no_informative: bool,
            gallery_size: int, top: int, skip_corrupt: bool, quiet: bool) -> None:
    """Find the minority (low-density) samples of DATA with DMPRA's search.

    DATA is a feature file (.npy, .npz or .npz:KEY, .pt/.pth), a points file (.csv/.txt,
    one sample per line) or a folder of images. DIR must be new or empty (or hold a modecover
    run to replace, with --overwrite: docs/training.md, "Run folders"). Writes DIR/audit.csv (index or file, score,
    minority 0/1, group, group_deficit, weight, radius, cv, censored), DIR/summary.json, DIR/audit.png (a 2D
    projection, minority in red) and, for images, DIR/gallery.png (most isolated samples).
    """
    import warnings

    from rich.console import Console

    from modecover.dmpra.audit import audit
    from modecover.runs import RunFolderError, claim_run_folder
    from modecover.weights import DownloadError

    console = Console(stderr=True, quiet=quiet, log_path=False)
    try:
        config = SearchConfig(alpha=alpha, n_min=n_min, k_sigma=k_sigma, two_sided=two_sided,
                              max_neighbors=max_neighbors, reference_size=reference_size)
        weights = WeightingConfig(weighting=weighting, min_group=min_group, gamma=gamma, w_max=w_max,
                                  outlier_weight=outlier_weight, fine_grained=fine_grained,
                                  informative=not no_informative)
        views = [v.strip() for v in views_text.split(",")] if views_text else []
        if views and extractor not in (None, "pixels"):
            raise no_op_error("audit", f"--extractor {extractor} beside --views", "the views are computed from the "
                              "images, so the extractor's features would go unused", "leave one of them out")
        with console.status(f"reading {data}") as status:
            options = _extractor_options(extractor, inception_weights, dinov2_arch, dinov2_weights, offline)
            loaded = _load_checked(data, console, components, extractor=extractor, min_rows=max(n_min, 2),
                                   image_mode=image_mode, extractor_options=options, skip_corrupt=skip_corrupt)

            def stage(message: str) -> None:
                status.update(message)
                console.log(message)

            config, weights = _detector_configs(detector, loaded.kind, density_options, config, weights, console)
            views = _views_searched(views, loaded.images, config, components, extractor, console)
            claim = claim_run_folder(out_dir, "audit", overwrite=overwrite, resumable=False)
            with claim, warnings.catch_warnings():  # audit() keeps its warnings in the summary; printed below
                warnings.simplefilter("ignore", RuntimeWarning)
                report = audit(
                    loaded.features, out_dir, config, weights, names=loaded.files,
                    images=loaded.images, gallery_size=gallery_size, source=loaded.source, stage=stage, top=top,
                    components=components, views=views,
                    extra_summary={"kind": loaded.kind, "extractor": loaded.extractor,
                                   **({"skipped": loaded.skipped} if skip_corrupt else {})},
                )
    except (RunFolderError, ValueError, FileNotFoundError, ImportError,  # ImportError: an optional extractor
            DownloadError) as err:
        raise click.ClickException(str(err)) from err
    _echo_report(report, min_group, weighting)


def _views_searched(views: list[str], images, config, components: int, extractor: str | None, console) -> list[str]:
    """The views the audit searches: ``--views`` as given, checked before any folder is claimed
    (a bad one writes nothing); else, for images searched by the density detector with no
    ``--extractor`` or ``--components``, the image default's
    (:func:`modecover.dmpra.views.image_views`); else none."""
    from modecover.dmpra.audit import check_audit_views
    from modecover.dmpra.views import image_views

    if views:
        return check_audit_views(views, images, config, components)
    if images is None or extractor is not None or components or not isinstance(config, DensityConfig):
        return []
    views = image_views(images.shape)
    console.log(f"views: {','.join(views)} (the image default; --views pixels searches the pixels alone)")
    return views


def _load_checked(data: str, console, components: int, **options):
    """DATA read (:func:`_load_noting_warnings`), what was read logged, skipped images named,
    and ``components`` checked against the features' shape before any folder is claimed (a
    number the data cannot have writes nothing)."""
    loaded = _load_noting_warnings(data, **options)
    console.log(f"{loaded.kind}: {loaded.features.shape[0]} samples, "
                f"{loaded.features.shape[1]} features ({loaded.extractor})")
    if loaded.skipped:
        click.echo(f"skipped {len(loaded.skipped)} unreadable image(s) in {data}: " + ", ".join(loaded.skipped),
                   err=True)
    if components:
        check_components(components, *loaded.features.shape, name=f"--components on {data}")
    return loaded


def _echo_report(report, min_group: int, weighting: str) -> None:
    """The audit's result on stdout: the projection searched (with --components), then the detector's summary."""
    if "projection" in report.summary:
        p = report.summary["projection"]
        click.echo(f"searched the first {p['components']} principal components of the {p['input_features']} "
                   f"feature columns ({100 * p['explained_variance_ratio']:.1f}% of the variance)")
    if "views" in report.summary:
        views = report.summary["views"]
        click.echo(f"searched the view{'s' if len(views) > 1 else ''} " + ", ".join(
            f"{v['view']} ({v['columns']} columns" + (f", {100 * v['explained_variance_ratio']:.1f}% of the pixels' "
                                                     "variance)" if "explained_variance_ratio" in v else ")")
            for v in views) + (" together (their density scores combined by rank)" if len(views) > 1 else ""))
    if report.summary.get("detector") == "density":
        _echo_density(report)
    else:
        _echo_result(report, min_group, weighting)


def _load_noting_warnings(data: str, **options):
    """:func:`modecover.data.files.load_audit_data`, its warnings (e.g. images of mixed sizes
    resized) printed as notes."""
    import warnings

    from modecover.data.files import load_audit_data

    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", UserWarning)
        loaded = load_audit_data(data, **options)
    for note in notes:
        click.echo(f"note: {note.message}", err=True)
    return loaded


def _detector_configs(detector: str, kind: str, density_options: tuple[str, ...], search_config, weighting, console):
    """(search config, weighting) of the detector ``detector`` means for data of ``kind``: the
    density detector's config and no weighting, or the LOCI search's two as given."""
    if detector == "density" or (detector == "auto" and kind == "images"):
        _refuse_loci_options()
        console.log(f"detector: k-NN density ratios ({'chosen' if detector == 'density' else 'images'})")
        return density_config(density_options), None
    if density_options:
        raise no_op_error("audit", "--density", f"it applies to the density detector, not {detector!r} for {kind}",
                          "add --detector density")
    return search_config, weighting


LOCI_OPTIONS = ("alpha", "n_min", "k_sigma", "two_sided", "max_neighbors", "reference_size", "weighting", "min_group",
                "gamma", "w_max", "outlier_weight", "fine_grained", "no_informative")


def _refuse_loci_options() -> None:
    """The LOCI search's options do nothing with the density detector: given on the command line, they are an error."""
    ctx = click.get_current_context()
    given = [f"--{name.replace('_', '-')}" for name in LOCI_OPTIONS
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise ValueError(f"{', '.join(given)}: options of the LOCI search, which the density detector (chosen for "
                         "images by --detector auto) does not use; add --detector loci to use them, or set the "
                         "density detector with --density KEY=VALUE")


def density_config(options: tuple[str, ...]) -> DensityConfig:
    """A :class:`DensityConfig` from ``KEY=VALUE`` strings (numbers as in TOML: 10, 0.75)."""
    known = {f.name: f.type for f in fields(DensityConfig)}
    values = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--density {option!r}: expected KEY=VALUE with KEY one of {sorted(known)}")
        try:
            values[key] = int(text) if known[key] == "int" else float(text)
        except ValueError:
            raise ValueError(f"--density {option!r}: {key} must be "
                             f"{'an integer' if known[key] == 'int' else 'a number'}") from None
    return DensityConfig(**values)


def _echo_density(report) -> None:
    """What the density detector raised, in a few lines."""
    s = report.summary
    click.echo(f"{s['n_minority']} of {s['n']} samples raised (sparser than the reference), "
               f"{100 * s['raised_share_of_weight']:.2f}% of the weight; weights {s['weight']['min']:.4g} .. "
               f"{s['weight']['max']:.4g}; median intrinsic dimension {s['median_dimension'] or float('nan'):.3g}")
    for g in s["groups"][:5]:
        click.echo(f"  group {g['group']}: {g['size']} samples, median weight {g['median_weight']:.3g}")
    if s.get("note"):
        click.echo(s["note"])
    click.echo(f"wrote {', '.join(str(p) for p in report.paths.values())}")


def _extractor_options(extractor: str | None, inception_weights: str | None, dinov2_arch: str | None,
                       dinov2_weights: str | None, offline: bool) -> dict:
    """The options of the chosen extractor; another extractor's weight options are refused."""
    if extractor == "dinov2":
        if inception_weights:
            raise no_op_error("audit", "--inception-weights", "it applies to --extractor inception, not dinov2",
                              "use --dinov2-weights")
        options = {"arch": dinov2_arch or "vitl14", "weights_path": dinov2_weights}
    else:
        if dinov2_arch or dinov2_weights:
            raise no_op_error("audit", "--dinov2-arch and --dinov2-weights",
                              f"they apply to --extractor dinov2, not {extractor or 'the default'!r}",
                              "add --extractor dinov2 or leave them out")
        options = {"weights_path": inception_weights} if inception_weights else {}
    if offline and extractor in ("inception", "dinov2"):  # the other extractors download nothing
        options["offline"] = True
    return options


def _echo_result(report, min_group: int, weighting: str) -> None:
    """What the audit found, in a few lines: flagged share, radii, groups, censoring, files."""
    s = report.summary
    for note in s.get("warnings", []):
        click.echo(f"warning: {note}")
    click.echo(f"{s['n_minority']} of {s['n']} samples flagged as minority ({100 * s['minority_share']:.2f}%)")
    if s["n_minority"]:
        r = s["minority_radius"]
        if r is not None:
            click.echo(f"flagged at radii {r['min']:.4g} .. {r['max']:.4g} (median {r['median']:.4g})")
        raised = [g for g in s["groups"] if not g["outliers"]]
        click.echo(f"{len(raised)} minor groups of at least {min_group} samples "
                   f"({sum(g['size'] for g in raised)} samples); weights {s['weight']['min']:.4g} .. "
                   f"{s['weight']['max']:.4g} ({weighting})")
        for g in raised[:5]:
            click.echo(f"  group {g['group']}: {g['size']} samples, {g['deficit']:.3g}x sparser than their "
                       f"surroundings, weight {g['weight']:.3g}")
        if "largest_flaggable_group" in s:
            click.echo(f"groups of more than about {s['largest_flaggable_group']} samples cannot be flagged with "
                       "this ladder (raise --max-neighbors to find larger ones)")
    else:
        click.echo(s["note"])
    if s["n_censored"]:
        click.echo(f"{s['n_censored']} samples had censored ladder levels (raise --max-neighbors to scan them)")
    click.echo(f"wrote {', '.join(str(p) for p in report.paths.values())}")
