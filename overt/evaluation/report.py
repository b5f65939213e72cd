"""Metrics dictionaries and self-contained HTML + JSON evaluation reports.

:func:`build_metrics` turns one :class:`~overt.evaluation.metrics.ScoreSet` into a JSON-ready dict that
holds everything the report draws (thinned curves, histogram counts), so a report can be re-rendered
from ``metrics.json`` alone. :func:`write_report` renders one or more *variants* of the same pairs (for
example ``{"raw": ..., "normalised": ...}``) side by side.

The HTML has no scripts and no external resources: plots are inline PNGs (matplotlib, Agg, no pyplot
state), and every label is HTML-escaped because dataset labels are untrusted input.
"""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from overt.evaluation.bootstrap import Progress, bootstrap_rates
from overt.evaluation.calibrate import calibrate_score_set
from overt.evaluation.identification import IdentificationMetrics
from overt.evaluation.metrics import (
    DIFFERENTIALS,
    ErrorCurve,
    ScoreSet,
    differentials,
    equal_error_rate,
    fnmr_at_fmr,
    group_rates,
)

METRICS_SCHEMA = "overt.evaluation.metrics/1"
REPORT_SCHEMA = "overt.evaluation.report/1"
DEFAULT_FMR_TARGETS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


# ------------------------------------------------------------------------------------------ metrics


def _curves(ss: ScoreSet) -> tuple[ErrorCurve, dict[str, ErrorCurve]]:
    """Overall curve (all pairs) and one per group (within-group pairs only)."""
    overall = ErrorCurve.from_scores(ss.scores[ss.same], ss.scores[~ss.same])
    within = ss.group_a == ss.group_b
    groups = {}
    for i, name in enumerate(ss.group_names):
        mask = within & (ss.group_a == i)
        groups[name] = ErrorCurve.from_scores(ss.scores[mask & ss.same], ss.scores[mask & ~ss.same])
    return overall, groups


def _histogram(ss: ScoreSet, bins: int = 60) -> dict[str, list[float] | list[int]]:
    valid = ~np.isnan(ss.scores)
    edges = np.histogram_bin_edges(ss.scores[valid], bins=bins)
    return {
        "edges": edges.tolist(),
        "genuine": np.histogram(ss.scores[valid & ss.same], bins=edges)[0].tolist(),
        "impostor": np.histogram(ss.scores[valid & ~ss.same], bins=edges)[0].tolist(),
    }


def build_metrics(
    ss: ScoreSet,
    *,
    threshold: float | None = None,
    target_fmr: float | None = None,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    floor: float | None = None,
    identification: IdentificationMetrics | None = None,
    progress: Progress | None = None,
    curve_points: int = 200,
) -> dict[str, Any]:
    """All 1:1 metrics of one score set as a JSON-ready dict (see ``overt.evaluation`` for its shape).

    The operating threshold is ``threshold`` if given, else the worst-group calibration at
    ``target_fmr`` (see :mod:`~overt.evaluation.calibrate`), else the overall EER threshold.
    ``n_bootstrap=0`` skips confidence intervals; they are also skipped (with a warning) when the score
    set has no identities to resample. ``floor`` controls zero rates in the differential ratios.
    """
    if len(ss) == 0:
        raise ValueError("no comparison scores to evaluate")
    warnings: list[str] = []
    overall_curve, group_curves = _curves(ss)
    eer = equal_error_rate(overall_curve)
    calibration = None
    if threshold is not None:
        source = "given"
    elif target_fmr is not None and (calibration := _calibration(ss, target_fmr, eer is not None)):
        threshold, source = calibration.threshold, "calibrated"
        warnings += calibration.notes
    elif eer is not None:
        if target_fmr is not None:
            warnings.append("no group has enough within-group impostor pairs to calibrate at the target FMR: "
                            "rates are at the equal-error threshold")
        threshold, source = eer.threshold, "eer"
    else:
        raise ValueError("need genuine and impostor scores to pick a threshold: pass threshold=")
    rates = group_rates(ss, threshold)
    diffs = differentials(rates, floor)
    boot = None
    if n_bootstrap and ss.subject_a is None:
        warnings.append(
            "no identities given: confidence intervals not computed (resampling pairs would understate them)"
        )
    elif n_bootstrap:
        boot = bootstrap_rates(
            ss, threshold, n_resamples=n_bootstrap, seed=seed, level=level, floor=floor, progress=progress
        )
    overall = {
        "eer": None if eer is None else eer.rate,
        "eer_threshold": None if eer is None else eer.threshold,
        "threshold": float(threshold),
        **rates.overall.to_dict(),
    }
    groups = {}
    for name, counts in rates.groups.items():
        group_eer = equal_error_rate(group_curves[name])
        groups[name] = {**counts.to_dict(), "eer": None if group_eer is None else group_eer.rate}
    for key in ("fmr", "fnmr"):
        overall[f"{key}_ci"] = None if boot is None else list(boot.overall[key])
        for name in groups:
            groups[name][f"{key}_ci"] = None if boot is None else list(boot.groups[name][key])
    for key in DIFFERENTIALS:
        diffs[f"{key}_ci"] = None if boot is None else list(boot.differentials[key])
    if boot is not None:
        diffs["undefined_fraction"] = boot.undefined_fraction
        diffs["notes"] += [
            f"{key}: undefined in {share:.0%} of resamples (a group drew zero errors), so its upper bound "
            "is unbounded or inflated"
            for key, share in boot.undefined_fraction.items()
            if share > 0
        ]
    warnings += rates.warnings()
    return {
        "schema": METRICS_SCHEMA,
        "settings": {
            "threshold_source": source,
            "target_fmr": target_fmr,
            "fmr_targets": list(fmr_targets),
            "n_bootstrap": n_bootstrap if boot is not None else 0,
            "seed": seed,
            "level": level,
            "floor": floor,
            "unit": ss.unit,
            "n_units": None if boot is None else boot.n_units,
        },
        "overall": overall,
        "groups": groups,
        "cross_group": rates.cross_group.to_dict(),
        "differentials": diffs,
        "fnmr_at_fmr": [p.to_dict() for p in fnmr_at_fmr(overall_curve, fmr_targets)],
        "curves": {
            "overall": overall_curve.thin(curve_points),
            "groups": {name: c.thin(curve_points) for name, c in group_curves.items()},
        },
        "histogram": _histogram(ss),
        "calibration": None if calibration is None else calibration.to_dict(),
        "identification": None if identification is None else identification.to_dict(curve_points),
        "warnings": warnings,
    }


# ------------------------------------------------------------------------------------ HTML helpers


def esc(value: Any) -> str:
    """HTML-escape anything shown in a page (labels are untrusted)."""
    return html.escape(str(value), quote=True)


def fmt_rate(value: float | None) -> str:
    """Rates and ratios with three significant digits; n/a for undefined."""
    if value is None:
        return "n/a"
    return "0" if value == 0 else f"{value:.3g}"


def fmt_ci(ci: Sequence[float | None] | None) -> str:
    """A percentile interval; an upper bound of None is unbounded."""
    if not ci or ci[0] is None:
        return ""
    return f"[{fmt_rate(ci[0])}, {'∞' if ci[1] is None else fmt_rate(ci[1])}]"


def figure_uri(fig: Figure) -> str:
    """A figure as an inline PNG data URI (metadata stripped so output is reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plot_label(value: Any, width: int = 40) -> str:
    """A label safe for matplotlib text: no mathtext ($), not hidden from legends (leading _), short."""
    text = str(value)
    text = text if len(text) <= width else text[: width - 1] + "…"
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def render_page(title: str, body: str) -> str:
    """A complete, script-free HTML page; ``body`` must already be escaped."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>\n<h1>{esc(title)}</h1>\n"
        f"{body}\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table from already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em}
.grid img{max-width:100%}.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.5em 1em}
.meta{color:#555}.low{color:#a05a00}figure{margin:0}figcaption{font-size:.9em;color:#555}
"""

# -------------------------------------------------------------------------------------------- plots

_NORMAL = statistics.NormalDist()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def det_uri(
    curves: Mapping[str, tuple[Sequence[float | None], Sequence[float | None]]],
    points: Mapping[str, tuple[float | None, float | None]],
    *,
    xlabel: str = "False match rate (FMR)",
    ylabel: str = "False non-match rate (FNMR)",
    title: str = "DET",
) -> str:
    """DET plot on normal-deviate axes labelled as rates; the first curve is drawn bold (overall)."""
    values = [v for xs, ys in curves.values() for v in (*xs, *ys) if v]
    lo = min(1e-2, max(1e-8, 10 ** np.floor(np.log10(min(values))))) if values else 1e-4

    def probit(seq: Sequence[float | None]) -> list[float]:
        return [_NORMAL.inv_cdf(min(max(v or 0.0, lo), 1 - lo)) for v in seq]

    fig = Figure(figsize=(6.4, 5))
    ax = fig.subplots()
    colors = _colors(len(curves))
    for i, (name, (xs, ys)) in enumerate(curves.items()):
        style = {"color": "black", "lw": 2.2} if i == 0 else {"color": colors[i], "lw": 1.2}
        ax.plot(probit(xs), probit(ys), label=plot_label(name), **style)
        if name in points and None not in points[name]:
            px, py = probit(points[name])
            ax.plot(px, py, "o", color=style["color"], ms=5)
    top = 0.6 if all(v <= 0.5 for p in points.values() for v in p if v is not None) else 0.99
    ticks = [
        t for t in (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 0.8, 0.95) if lo <= t < top
    ]
    ax.set_xticks(probit(ticks), [f"{t:g}" for t in ticks], rotation=45)
    ax.set_yticks(probit(ticks), [f"{t:g}" for t in ticks])
    limit = probit([lo, top])
    ax.set_xlim(*limit)
    ax.set_ylim(*limit)
    ax.grid(alpha=0.3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(plot_label(title, 60))
    ax.legend(fontsize=7, loc="upper right")
    return figure_uri(fig)


def histogram_uri(hist: Mapping[str, Sequence[float]], threshold: float, title: str) -> str:
    """Genuine and impostor score densities (log scale) with the operating threshold."""
    edges = np.asarray(hist["edges"])
    widths = np.diff(edges)
    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    for key, color in (("genuine", "tab:green"), ("impostor", "tab:red")):
        counts = np.asarray(hist[key], dtype=np.float64)
        if counts.sum():
            ax.stairs(counts / counts.sum() / widths, edges, label=key, color=color, lw=1.5)
    ax.axvline(threshold, color="black", ls="--", lw=1, label="threshold")
    ax.set_yscale("log")
    ax.set_xlabel("score (higher = more alike)")
    ax.set_ylabel("density")
    ax.set_title(plot_label(title, 60))
    ax.legend(fontsize=8)
    return figure_uri(fig)


def bars_uri(
    names: Sequence[str],
    values: Sequence[float | None],
    cis: Sequence[Sequence[float | None] | None],
    bounds: Sequence[float | None],
    *,
    ylabel: str,
    title: str,
) -> str:
    """Per-group bars with CI error bars; zero-error groups show their rule-of-three bound as a tick."""
    fig = Figure(figsize=(max(4.0, 0.6 * len(names) + 2), 4))
    ax = fig.subplots()
    x = np.arange(len(names))
    heights = [v or 0.0 for v in values]
    err = np.zeros((2, len(names)))
    for i, (v, ci) in enumerate(zip(values, cis, strict=True)):
        if v is not None and ci and ci[0] is not None and ci[1] is not None:
            err[:, i] = max(v - ci[0], 0.0), max(ci[1] - v, 0.0)
    ax.bar(x, heights, yerr=err, capsize=4, color=_colors(len(names)))
    for i, bound in enumerate(bounds):
        if bound is not None:
            ax.plot(i, bound, marker="_", ms=18, color="black")
    if any(heights) and all(h > 0 for h in heights):
        ax.set_yscale("log")
    ax.set_xticks(x, [plot_label(n, 20) for n in names], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(plot_label(title, 60))
    ax.grid(axis="y", alpha=0.3)
    return figure_uri(fig)


def _calibration(ss: ScoreSet, target_fmr: float, fallback: bool) -> Any:
    """The worst-group calibration, or None (with an EER to fall back on) when no group has the
    within-group impostor pairs it needs — small labelled samples, e.g. two people per group."""
    try:
        return calibrate_score_set(ss, target_fmr)
    except ValueError:
        if not fallback:
            raise
        return None


# ------------------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`write_report` put its output."""

    json: Path
    html: Path


_SOURCES = {
    "given": "set by the operator",
    "in-force": "the engine's calibrated threshold in force, as no threshold was given",
    "customary": "the model author's customary operating point, not a calibration",
    "calibrated": "calibrated so that every group's within-group FMR is at most {target:g}",
    "eer": "the equal-error threshold, a reference point rather than an operating recommendation",
}

_RATIO_TEXT = {
    "fmr_max_min": "highest group FMR / lowest group FMR",
    "fnmr_max_min": "highest group FNMR / lowest group FNMR",
    "fmr_max_geomean": "highest group FMR / geometric mean of group FMRs",
    "fnmr_max_geomean": "highest group FNMR / geometric mean of group FNMRs",
}

_SUPPORT = {
    "ok": "ok",
    "few_errors": "< 30 errors",
    "zero_errors": "0 errors, bound only",
    "none": "no pairs",
}

_LIMITS = [
    "These rates describe this dataset, its labels and this threshold. Cameras, lighting, pose, image "
    "quality, the population passing by and the size of a watch-list all change them in deployment.",
    "Groups are the dataset's own label columns. Overt never infers race, gender or any other trait from "
    "a face. Labels may be wrong or coarse, and differences inside a labelled group are invisible here.",
    "Few errors mean imprecise rates: with zero errors in n comparisons the 95% upper bound is 3/n (rule "
    "of three), and fewer than 30 errors leave a rate uncertain by more than ±30% (rule of 30).",
    "Confidence intervals resample {unit}s, assuming they are representative of the people the system "
    "will meet; they cannot correct for a biased or unrepresentative dataset.",
    "A 1:1 false match rate is not a 1:N false alarm rate: searching a watch-list of N people raises the "
    "chance of a false alarm roughly N-fold for small FMR.",
    "Small differentials do not make a deployment lawful, necessary or proportionate, and accuracy is no "
    "substitute for human review of every match before anyone acts on it.",
]


def _one_in(rate: float | None) -> str:
    return f" (about 1 in {round(1 / rate):,})" if rate and rate <= 0.05 else ""


def _summary(m: Mapping[str, Any]) -> str:
    o, d, s = m["overall"], m["differentials"], m["settings"]
    source = _SOURCES[s["threshold_source"]].format(target=s["target_fmr"] or 0)
    parts = [
        f"At threshold {o['threshold']:.6g} ({source}), {o['false_matches']:,} of {o['impostor']:,} "
        f"comparisons between two different people were wrongly declared a match: FMR {fmt_rate(o['fmr'])}"
        f"{_one_in(o['fmr'])}. {o['false_non_matches']:,} of {o['genuine']:,} comparisons of the same person "
        f"were missed: FNMR {fmt_rate(o['fnmr'])}{_one_in(o['fnmr'])}."
    ]
    if o["eer"] is not None:
        parts.append(f"The equal error rate is {fmt_rate(o['eer'])}.")
    for rate in ("fmr", "fnmr"):
        ratio = d[f"{rate}_max_min"]
        if ratio is not None:
            ci = fmt_ci(d.get(f"{rate}_max_min_ci"))
            parts.append(
                f"Within-group {rate.upper()} is highest for {d[f'{rate}_max_group']} and lowest for "
                f"{d[f'{rate}_min_group']}: {ratio:.3g} times as high{f' (95% CI {ci})' if ci else ''}."
            )
        else:
            parts.append(f"The {rate.upper()} ratio between groups is undefined (see the notes below).")
    if m["warnings"]:
        parts.append(
            f"{len(m['warnings'])} warnings about thin data: read them before quoting a group's rate."
        )
    return f"<p>{esc(' '.join(parts))}</p>"


def _overall_table(variants: Mapping[str, Mapping[str, Any]]) -> str:
    rows_spec = [
        ("Threshold", lambda o: f"{o['threshold']:.6g}"),
        ("EER", lambda o: fmt_rate(o["eer"])),
        ("FMR", lambda o: fmt_rate(o["fmr"])),
        ("FMR 95% CI", lambda o: fmt_ci(o["fmr_ci"])),
        ("FNMR", lambda o: fmt_rate(o["fnmr"])),
        ("FNMR 95% CI", lambda o: fmt_ci(o["fnmr_ci"])),
        ("FTA (no score)", lambda o: fmt_rate(o["fta"])),
        ("FNMR counting FTA as non-match", lambda o: fmt_rate(o["fnmr_with_fta"])),
        ("Genuine comparisons", lambda o: f"{o['genuine']:,}"),
        ("Impostor comparisons", lambda o: f"{o['impostor']:,}"),
    ]
    rows = [[label] + [esc(get(m["overall"])) for m in variants.values()] for label, get in rows_spec]
    rows.append(["Cross-group FMR"] + [esc(fmt_rate(m["cross_group"]["fmr"])) for m in variants.values()])
    return table([""] + [esc(n) for n in variants], rows)


def _group_table(m: Mapping[str, Any]) -> str:
    rows = []
    for name, g in m["groups"].items():
        support = f"FMR: {_SUPPORT[g['fmr_support']]}; FNMR: {_SUPPORT[g['fnmr_support']]}"
        rows.append(
            [
                esc(name),
                f"{g['genuine']:,}",
                f"{g['impostor']:,}",
                esc(fmt_rate(g["fmr"])),
                esc(fmt_ci(g["fmr_ci"])),
                esc(fmt_rate(g["fmr_upper95"])),
                esc(fmt_rate(g["fnmr"])),
                esc(fmt_ci(g["fnmr_ci"])),
                esc(fmt_rate(g["fta"])),
                esc(fmt_rate(g["eer"])),
                f"{g['impostor_cross']:,}",
                esc(fmt_rate(g["fmr_cross"])),
                f'<span class="low">{esc(support)}</span>' if g["low_support"] else esc(support),
            ]
        )
    header = [
        "Group",
        "Genuine",
        "Impostor (within)",
        "FMR",
        "FMR 95% CI",
        "FMR bound if 0 errors",
        "FNMR",
        "FNMR 95% CI",
        "FTA",
        "EER",
        "Impostor (cross)",
        "Cross FMR",
        "Support",
    ]
    return table(header, rows)


def _differential_table(variants: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for key in DIFFERENTIALS:
        cells = [f"{esc(key)}<br><small>{esc(_RATIO_TEXT[key])}</small>"]
        for m in variants.values():
            d = m["differentials"]
            ci = fmt_ci(d.get(f"{key}_ci"))
            cells.append(esc(fmt_rate(d[key]) + (f" {ci}" if ci else "")))
        rows.append(cells)
    notes = [f"{name}: {n}" for name, m in variants.items() for n in m["differentials"]["notes"]]
    floors = {m["differentials"]["floor"] for m in variants.values()} - {None}
    if floors:
        notes.append(f"Rates below {', '.join(f'{f:g}' for f in sorted(floors))} were raised to that floor.")
    return table([""] + [esc(n) for n in variants], rows) + _list(notes)


def _fnmr_at_fmr_table(variants: Mapping[str, Mapping[str, Any]]) -> str:
    targets = next(iter(variants.values()))["fnmr_at_fmr"]
    rows = []
    for i, point in enumerate(targets):
        cells = [esc(f"FMR ≤ {point['target']:g}")]
        for m in variants.values():
            p = m["fnmr_at_fmr"][i]
            cells.append(
                esc(f"FNMR {fmt_rate(p['fnmr'])} at t={p['threshold']:.6g}")
                if p["supported"]
                else esc(f"unsupported: {p['impostor']:,} impostors, {p['needed']:,} needed")
            )
        rows.append(cells)
    return table(["Target"] + [esc(n) for n in variants], rows)


def _comparison_table(variants: Mapping[str, Mapping[str, Any]]) -> str:
    names = list(next(iter(variants.values()))["groups"])
    header = ["Group"] + [f"{r} ({esc(v)})" for r in ("FMR", "FNMR") for v in variants]
    rows = [
        [esc(g)]
        + [esc(fmt_rate(m["groups"].get(g, {}).get(r))) for r in ("fmr", "fnmr") for m in variants.values()]
        for g in names
    ]
    return table(header, rows)


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else ""


def _figures(variants: Mapping[str, Mapping[str, Any]], draw: Any, caption: str) -> str:
    cells = "".join(
        f'<figure><img alt="{esc(caption)}: {esc(name)}" src="{draw(name, m)}">'
        f"<figcaption>{esc(caption)}: {esc(name)}</figcaption></figure>"
        for name, m in variants.items()
    )
    return f'<div class="grid">{cells}</div>'


def _det(name: str, m: Mapping[str, Any]) -> str:
    curves = {"overall": (m["curves"]["overall"]["fmr"], m["curves"]["overall"]["fnmr"])}
    curves |= {  # a group without genuine or impostor pairs has no curve to draw
        g: (c["fmr"], c["fnmr"])
        for g, c in m["curves"]["groups"].items()
        if any(v is not None for v in c["fmr"]) and any(v is not None for v in c["fnmr"])
    }
    points = {"overall": (m["overall"]["fmr"], m["overall"]["fnmr"])}
    points |= {g: (v["fmr"], v["fnmr"]) for g, v in m["groups"].items()}
    return det_uri(curves, points, title=f"DET per group: {name}")


def _hist(name: str, m: Mapping[str, Any]) -> str:
    return histogram_uri(m["histogram"], m["overall"]["threshold"], f"Score distributions: {name}")


def _bars(rate: str) -> Any:
    def draw(name: str, m: Mapping[str, Any]) -> str:
        groups = m["groups"]
        return bars_uri(
            list(groups),
            [g[rate] for g in groups.values()],
            [g[f"{rate}_ci"] for g in groups.values()],
            [g[f"{rate}_upper95"] for g in groups.values()],
            ylabel=rate.upper(),
            title=f"{rate.upper()} per group at the threshold: {name}",
        )

    return draw


def _identification(variants: Mapping[str, Mapping[str, Any]]) -> str:
    parts = []
    for name, m in variants.items():
        ident = m.get("identification")
        if not ident:
            continue
        ranks = [k for k in ident["overall"] if k.startswith("rank_")]
        header = [
            "Group",
            "Mated",
            "Non-mated",
            "FTA",
            "FPIR",
            "FNIR",
            *[esc(r.replace("_", "-")) for r in ranks],
        ]
        rows = [
            [
                esc(g),
                f"{c['mated']:,}",
                f"{c['nonmated']:,}",
                f"{c['fta']:,}",
                esc(fmt_rate(c["fpir"])),
                esc(fmt_rate(c["fnir"])),
                *[esc(fmt_rate(c[r])) for r in ranks],
            ]
            for g, c in {"overall": ident["overall"], **ident["groups"]}.items()
        ]
        curve = ident["curve"]
        uri = det_uri(
            {"overall": (curve["fpir"], curve["fnir"])},
            {"overall": (ident["overall"]["fpir"], ident["overall"]["fnir"])},
            xlabel="False positive identification rate (FPIR)",
            ylabel=f"False negative identification rate (FNIR, rank {ident['rank']})",
            title=f"1:N: {name}",
        )
        parts.append(
            f"<h3>{esc(name)}</h3><p>Threshold {ident['threshold']:.6g}; FNIR counts a mated search as "
            f"missed unless the mate is at rank ≤ {ident['rank']} with a score at or above the threshold.</p>"
            f'{table(header, rows)}<img alt="FNIR vs FPIR: {esc(name)}" src="{uri}">'
        )
    return "<h2>1:N identification</h2>" + "".join(parts) if parts else ""


def render_html(
    variants: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    dataset: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    created: str = "",
) -> str:
    """The report page for one or more variants of the same pairs (each a :func:`build_metrics` dict)."""
    if not variants:
        raise ValueError("a report needs at least one variant")
    meta = [f"Created {created}."] if created else []
    if dataset:
        meta.append("Dataset: " + ", ".join(f"{k}: {v}" for k, v in dataset.items()) + ".")
    warnings = [
        f"{name}: {w}" if len(variants) > 1 else w for name, m in variants.items() for w in m["warnings"]
    ]
    units = sorted({m["settings"]["unit"] for m in variants.values()})
    settings = [
        f"{name}: threshold {_SOURCES[s['threshold_source']].format(target=s['target_fmr'] or 0)}; "
        f"{s['n_bootstrap']} bootstrap resamples of {s['unit']}s (seed {s['seed']}, {s['level']:.0%} "
        f"percentile intervals, fixed threshold); differential floor {s['floor']}."
        for name, s in ((n, m["settings"]) for n, m in variants.items())
    ]
    body = [
        f'<p class="meta">{esc(" ".join(meta))}</p>' if meta else "",
        _list(notes),
        "<h2>Summary</h2>",
        "".join(f"<h3>{esc(name)}</h3>{_summary(m)}" for name, m in variants.items()),
        f'<h2>Warnings</h2><div class="warn">{_list(warnings)}</div>' if warnings else "",
        "<h2>Overall</h2>",
        _overall_table(variants),
        "<h2>Variants compared</h2>" + _comparison_table(variants) if len(variants) > 1 else "",
        "<h2>Per group</h2><p>FMR uses impostor pairs whose two sides are both in the group; cross-group "
        "impostor pairs are counted apart (and in the overall FMR).</p>",
        "".join(f"<h3>{esc(name)}</h3>{_group_table(m)}" for name, m in variants.items()),
        "<h2>Demographic differentials</h2>",
        _differential_table(variants),
        "<h2>FNMR at fixed FMR</h2><p>Values only where the impostor count supports the target "
        "(n ≥ 3/target).</p>",
        _fnmr_at_fmr_table(variants),
        "<h2>Plots</h2>",
        _figures(variants, _det, "DET curves (dots: operating point)"),
        _figures(variants, _hist, "Genuine and impostor scores"),
        _figures(variants, _bars("fmr"), "FMR per group (bars: 95% CI; ticks: rule-of-three bound)"),
        _figures(variants, _bars("fnmr"), "FNMR per group (bars: 95% CI; ticks: rule-of-three bound)"),
        _identification(variants),
        "<h2>What these numbers mean, and what they cannot show</h2>",
        _list([t.format(unit=" or ".join(units)) for t in _LIMITS]),
        "<h2>Method</h2>",
        _list(settings),
    ]
    return render_page(title, "\n".join(b for b in body if b))


def write_report(
    out_dir: str | Path,
    variants: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
    dataset: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    created: datetime | None = None,
) -> ReportFiles:
    """Write ``metrics.json`` and a self-contained ``report.html`` for one or more variants.

    ``variants`` maps a variant name (e.g. "raw", "normalised") to its :func:`build_metrics` dict; the
    first is the primary, mirrored at the top level of ``metrics.json`` for single-variant readers.
    """
    if not variants:
        raise ValueError("a report needs at least one variant")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = (created or datetime.now(UTC)).isoformat(timespec="seconds")
    primary = next(iter(variants))
    doc = {
        "schema": REPORT_SCHEMA,
        "title": title,
        "created": stamp,
        "dataset": dict(dataset or {}),
        "notes": list(notes),
        "primary": primary,
        **{k: variants[primary][k] for k in ("overall", "groups", "differentials")},
        "variants": dict(variants),
    }
    files = ReportFiles(out / "metrics.json", out / "report.html")
    files.json.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    files.html.write_text(
        render_html(variants, title=title, dataset=dataset, notes=notes, created=stamp), encoding="utf-8"
    )
    return files
