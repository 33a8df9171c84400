"""Figures of the report, returned inline (PNG as a data: URI, or SVG markup) so every page is self-contained.

* :func:`region_plot`: CNVkit bins around ERBB2 and ERBB3 of one sample, the gene's own bins highlighted, the
  segments, and the gene estimate with its bootstrap CI (copy_number.tsv ``log2``, ``ci_low``, ``ci_high``);
* :func:`vaf_lod_plot`: VAF per hotspot codon against the codon's detection limit;
* :func:`fusion_svg`: an NRG1 fusion junction (partner exons kept, NRG1 exons kept, EGF-like domain, support);
* :func:`funnel_svg`: the cohort funnel as horizontal bars.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
from matplotlib.transforms import Bbox

from erbbscreen.report.fmt import STATUS_COLOURS, fnum, num

GENE_COLOUR = "#b2182b"
OTHER_BIN = "#9e9e9e"
DPI = 90


#: figures kept for the next plot of the same kind and size (per process): creating the axes and their tick
#: objects is about a third of a figure's cost, so a plot clears the previous plot's artists instead
_FIGURES: dict = {}
#: False: a new figure for every plot (the reference the reused figures are tested against)
REUSE_FIGURES = True


def _figure(kind: str, width: float, height: float, columns: int = 1) -> tuple:
    """``(figure, axes)`` for a plot of ``kind``: on its own Agg canvas (no pyplot: no global figure registry to
    manage or to leak); the figure of the previous plot of the same kind and size, emptied, when there is one.
    A returned figure is valid until the next plot of its kind (one process, one plot at a time)."""
    key = (kind, round(width, 3), round(height, 3), columns)
    if REUSE_FIGURES and key in _FIGURES:
        fig = _FIGURES[key]
        _clear(fig)
        return fig, fig.axes
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(1, columns, squeeze=False)[0])
    if REUSE_FIGURES:
        _FIGURES[key] = fig
    return fig, axes


def _clear(fig) -> None:
    """Remove what the last plot drew and reset what it set, keeping the axes and their tick objects; every plot
    sets its own limits, ticks, scale and texts afterwards (as on a new figure)."""
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
            artist.remove()
        ax.containers.clear()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.set_title("")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_axis_on()
        ax.dataLim = Bbox.null()  # the next artists set the data limits afresh (as Axes.clear does)
        ax.ignore_existing_data_limits = True
        ax.set_autoscale_on(True)
    for text in list(fig.texts):
        text.set_text("")


def _text_inches(fig, texts, size: float) -> float:
    """Width in inches of the widest of ``texts`` at font ``size`` (measured once, for the margins)."""
    renderer, prop = fig.canvas.get_renderer(), FontProperties(size=size)
    return max((renderer.get_text_width_height_descent(str(t), prop, ismath=False)[0] for t in texts),
               default=0.0) / fig.dpi


def _margins(fig, left: float, right: float, bottom: float, top: float, gap: float = 0.0, columns: int = 1):
    """Place the axes with fixed margins in inches (``gap``: between columns) instead of ``tight_layout`` and
    ``bbox_inches="tight"``, which measure every text of the figure again on each call; the margins are sized
    for the fonts used here (axis labels 10 pt, tick labels 10 pt, titles 8-10 pt)."""
    w, h = fig.get_size_inches()
    axes_w = (w - left - right - gap * (columns - 1)) / columns
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=gap / axes_w if columns > 1 else None)


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# ---------------------------------------------------------------------------------------------
# copy number
# ---------------------------------------------------------------------------------------------


def _gene_mask(bins, gene, chrom, start, end):
    labels = bins["gene"].astype(str).map(lambda s: gene in s.split(","))
    if chrom and start is not None and end is not None:
        labels |= (bins["chromosome"] == chrom) & (bins["end"] > start) & (bins["start"] < end)
    return labels


def region_plot(cnr, cns, gene_rows: dict, title: str, padding: int = 1_000_000) -> str | None:
    """PNG data URI of :func:`region_figure`; None when there are no bins to draw (the page then says why)."""
    fig = region_figure(cnr, cns, gene_rows, title, padding)
    return _png_uri(fig) if fig is not None else None


def region_figure(cnr, cns, gene_rows: dict, title: str, padding: int = 1_000_000) -> Figure | None:
    """One panel per gene (ERBB2, ERBB3) with bins, segments and the gene estimate + CI.

    ``cnr``/``cns``: frames of the sample's CNVkit files; ``gene_rows``: gene -> copy_number.tsv row (dict).
    The figure is reused by the next region figure of the same size (see :func:`_figure`).
    """
    if cnr is None or cnr.empty:
        return None
    genes = [g for g in gene_rows if g in ("ERBB2", "ERBB3")] or list(gene_rows)[:2]
    if not genes:
        return None
    fig, axes = _figure("region", 5.2 * len(genes), 3.1, columns=len(genes))
    drawn = False
    for ax, gene in zip(axes, genes):
        row = gene_rows[gene]
        chrom, start, end = row.get("chrom") or None, num(row.get("start")), num(row.get("end"))
        own = _gene_mask(cnr, gene, chrom, start, end)
        if chrom is None and own.any():
            chrom = str(cnr.loc[own, "chromosome"].iloc[0])
            start, end = float(cnr.loc[own, "start"].min()), float(cnr.loc[own, "end"].max())
        if chrom is None or start is None:
            ax.text(0.5, 0.5, f"{gene}: no bins", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        lo, hi = start - padding, end + padding
        sel = (cnr["chromosome"] == chrom) & (cnr["end"] > lo) & (cnr["start"] < hi)
        window = cnr[sel]
        in_gene = own[sel]
        mid = (window["start"] + window["end"]) / 2 / 1e6
        ax.scatter(mid[~in_gene], window.loc[~in_gene, "log2"], s=6, c=OTHER_BIN, label="bins", zorder=2)
        ax.scatter(mid[in_gene], window.loc[in_gene, "log2"], s=14, c=GENE_COLOUR, label=f"{gene} bins", zorder=3)
        if cns is not None and not cns.empty:
            seg = cns[(cns["chromosome"] == chrom) & (cns["end"] > lo) & (cns["start"] < hi)]
            for s in seg.itertuples():
                ax.plot([max(s.start, lo) / 1e6, min(s.end, hi) / 1e6], [s.log2, s.log2], c="#ff7f00", lw=2,
                        zorder=4, label="segment" if s.Index == seg.index[0] else None)
        log2, ci_lo, ci_hi = num(row.get("log2")), num(row.get("ci_low")), num(row.get("ci_high"))
        if ci_lo is not None and ci_hi is not None:
            ax.fill_between([start / 1e6, end / 1e6], ci_lo, ci_hi, color="#2166ac", alpha=0.25, zorder=1,
                            label="gene log2 95% CI")
        if log2 is not None:
            ax.plot([start / 1e6, end / 1e6], [log2, log2], c="#2166ac", lw=2.5, zorder=5, label="gene log2")
        ax.axvspan(start / 1e6, end / 1e6, color="#fddbc7", alpha=0.5, zorder=0)
        ax.axhline(0, c="#444", lw=0.6)
        cn_word = "pCN" if row.get("sample_type") == "plasma" else "CN"
        ci = ""
        if num(row.get("cn_ci_low")) is not None and num(row.get("cn_ci_high")) is not None:
            ci = f" [{float(row['cn_ci_low']):.1f}-{float(row['cn_ci_high']):.1f}]"
        ax.set_title(f"{gene}: {row.get('call') or 'NA'}, {cn_word} {fnum(row.get('copy_number'), 3)}{ci}",
                     fontsize=10, y=1.0)  # a fixed y: no search for tick labels above the axes at each draw
        ax.set_xlabel(f"{chrom} position (Mb)")
        ax.set_ylabel("log2 ratio")
        ax.legend(fontsize=7, loc="upper left", framealpha=0.8)
        drawn = True
    if not drawn:
        return None
    fig.suptitle(title, fontsize=10)
    _margins(fig, left=0.75, right=0.15, bottom=0.5, top=0.62, gap=0.85, columns=len(genes))
    return fig


# ---------------------------------------------------------------------------------------------
# hotspots
# ---------------------------------------------------------------------------------------------

VAF_FLOOR = 1e-4
DECADES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _power_of_ten(value: float) -> str:
    """1e-4 -> '10⁻⁴' (the text of matplotlib's log-axis labels, without mathtext)."""
    return "10" + str(round(math.log10(value))).translate(SUPERSCRIPT)


def vaf_lod_plot(codons: list, title: str, lod_config=None) -> str | None:
    """PNG data URI of :func:`vaf_lod_figure`; None without codons."""
    fig = vaf_lod_figure(codons, title, lod_config)
    return _png_uri(fig) if fig is not None else None


def vaf_lod_figure(codons: list, title: str, lod_config=None) -> Figure | None:
    """Observed VAF per codon (dot) against its detection limit (bar top), log scale.

    ``codons``: dicts with label, status, vaf, lod. A not_evaluable codon without a limit is marked 'NE' at the
    top; a VAF of 0 sits on the floor line. ``lod_config``: the stage's configured LOD, drawn as a line.
    The figure is reused by the next VAF figure of the same size (see :func:`_figure`).
    """
    if not codons:
        return None
    fig, (ax,) = _figure("vaf_lod", max(6.0, 0.38 * len(codons) + 1.5), 3.3)
    xs = range(len(codons))
    top = 1.0
    bars, points = [], {}  # one bar call and one scatter call per marker style, not one artist per codon
    for x, c in zip(xs, codons):
        lod, vaf = num(c.get("lod")), num(c.get("vaf"))
        status = c.get("status")
        if lod is not None:
            bars.append((x, lod - VAF_FLOOR))
        if status == "not_evaluable" and lod is None:
            ax.text(x, 0.5, "NE", ha="center", va="center", fontsize=7, color=STATUS_COLOURS["not_evaluable"],
                    fontweight="bold", rotation=90)
            continue
        if vaf is None:
            continue
        style = (36 if status == "detected" else 18, STATUS_COLOURS.get(status, "#555"),
                 "o" if status != "not_evaluable" else "x")
        points.setdefault(style, []).append((x, max(vaf, VAF_FLOOR)))
    if bars:
        ax.bar([x for x, _ in bars], [h for _, h in bars], bottom=VAF_FLOOR, width=0.6, color="#d9d9d9",
               edgecolor="#8c8c8c", zorder=1)
    for (size, col, marker), xy in points.items():
        ax.scatter([x for x, _ in xy], [y for _, y in xy], s=size, c=col, marker=marker, zorder=3)
    if lod_config is not None:
        ax.axhline(lod_config, ls="--", c="#2166ac", lw=1, label=f"configured LOD {lod_config:g}")
        ax.legend(fontsize=7, loc="upper right")
    ax.set_yscale("log")
    ax.set_ylim(VAF_FLOOR * 0.8, top)
    # decade labels as plain text with superscripts (10⁻⁴): the default mathtext labels are parsed anew for
    # every figure (the parser's cache belongs to the figure's renderer)
    ax.yaxis.set_major_locator(FixedLocator(DECADES))
    ax.yaxis.set_major_formatter(FixedFormatter([_power_of_ten(d) for d in DECADES]))
    ax.yaxis.set_minor_locator(NullLocator())  # decades suffice to read a VAF against its limit
    ax.set_xlim(-0.6, len(codons) - 0.4)  # room for the first and last codon's marks (NE text, dots)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([c["label"] for c in codons], rotation=90, fontsize=7)
    ax.set_ylabel("VAF (log)")
    ax.set_title(title + "  (bar: detection limit at the stage's power; dot: observed VAF; NE: not evaluable)",
                 fontsize=8, y=1.0)
    # bottom margin: the longest codon label (rotated) plus tick and padding
    _margins(fig, left=0.75, right=0.15, bottom=_text_inches(fig, (c["label"] for c in codons), 7) + 0.15,
             top=0.3)
    return fig


# ---------------------------------------------------------------------------------------------
# fusions (hand-written SVG: a schematic, exons not to scale)
# ---------------------------------------------------------------------------------------------

LOCATION_RE = re.compile(r"\b(exon|intron)\s+(\d+)\b")


def parse_location(text) -> tuple:
    """'CD74 intron 6' -> ('intron', 6); anything else -> (None, None)."""
    m = LOCATION_RE.search(str(text or ""))
    return (m.group(1), int(m.group(2))) if m else (None, None)


def _exon_boxes(x0, y, n_exons, first, last, colour, w=16, gap=6, highlight=()):
    parts = []
    x = x0
    for i in range(first, last + 1):
        fill = "#fdae61" if i in highlight else colour
        parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="22" rx="2" fill="{fill}" stroke="#333"/>'
                     f'<text x="{x + w / 2}" y="{y + 35}" font-size="9" text-anchor="middle">{i}</text>')
        x += w + gap
    return "".join(parts), x


def fusion_svg(f: dict, exon_counts: dict | None = None, egf_exons=()) -> str:
    """SVG of one fusion row (fusions.tsv): partner 5' exons kept | junction | NRG1 3' exons kept."""
    exon_counts = exon_counts or {}
    p, g = f.get("gene_5p") or "partner", f.get("gene_3p") or "NRG1"
    kind5, n5 = parse_location(f.get("location_5p"))
    kind3, n3 = parse_location(f.get("location_3p"))
    esc = html.escape
    parts = []
    # partner keeps exons 1..n5 (breakpoint in intron n5 or exon n5)
    last5 = n5 or 1
    box5, x = _exon_boxes(20, 40, exon_counts.get(p), 1, min(last5, 14), "#92c5de")
    parts.append(box5)
    if last5 > 14:
        parts.append(f'<text x="{x}" y="56" font-size="10">... {last5}</text>')
        x += 30
    jx = x + 4
    parts.append(f'<line x1="{jx}" y1="25" x2="{jx}" y2="80" stroke="#b2182b" stroke-width="2" '
                 f'stroke-dasharray="4 3"/>')
    first3 = (n3 + 1) if kind3 == "intron" and n3 else (n3 or 1)
    total3 = exon_counts.get(g) or max(first3 + 5, first3)
    box3, x_end = _exon_boxes(jx + 10, 40, total3, first3, min(total3, first3 + 13), "#a6dba0",
                              highlight=set(egf_exons))
    parts.append(box3)
    if total3 > first3 + 13:
        parts.append(f'<text x="{x_end}" y="56" font-size="10">... {total3}</text>')
        x_end += 34
    width = max(x_end + 20, 800)
    egf = str(f.get("egf_domain_retained") or "unknown")
    egf_text = {"yes": "EGF-like domain KEPT", "true": "EGF-like domain KEPT", "no": "EGF-like domain LOST",
                "false": "EGF-like domain LOST"}.get(egf.lower(), "EGF-like domain: unknown")
    egf_col = "#1b7837" if "KEPT" in egf_text else ("#b2182b" if "LOST" in egf_text else "#c46a00")
    parts.append(f'<text x="20" y="18" font-size="12" font-weight="bold">{esc(p)} 5\u2032 (exons 1-{last5}, '
                 f'break in {esc(str(kind5 or "?"))} {n5 or "?"})</text>')
    parts.append(f'<text x="{jx + 10}" y="32" font-size="12" font-weight="bold">{esc(g)} 3\u2032 (break in '
                 f'{esc(str(kind3 or "?"))} {n3 or "?"}, exons {first3}-{total3})</text>')
    parts.append(f'<text x="20" y="100" font-size="12" fill="{egf_col}" font-weight="bold">{esc(egf_text)}</text>'
                 f'<text x="230" y="100" font-size="12">frame: {esc(str(f.get("frame") or "unknown"))} \u00b7 '
                 f'split reads {esc(str(f.get("split_reads", "")))} \u00b7 discordant pairs '
                 f'{esc(str(f.get("discordant_pairs", "")))}</text>')
    parts.append(f'<text x="20" y="118" font-size="10" fill="#555">junction {esc(str(f.get("chrom_5p")))}:'
                 f'{esc(str(f.get("pos_5p")))} / {esc(str(f.get("chrom_3p")))}:{esc(str(f.get("pos_3p")))} \u00b7 '
                 f'exons numbered on the annotation transcripts; orange: exons coding the EGF-like domain; not to '
                 f'scale</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="fusion" width="{width}" height="128" '
            f'viewBox="0 0 {width} 128" aria-label="{esc(p)}-{esc(g)} fusion junction">{"".join(parts)}</svg>')


# ---------------------------------------------------------------------------------------------
# cohort funnel
# ---------------------------------------------------------------------------------------------


def funnel_svg(steps: list) -> str:
    """SVG bars: ``steps`` = [(label, n, of_n or None, colour)]."""
    if not steps:
        return ""
    top = max(max(n for _, n, _, _ in steps), 1)
    bar_w, label_w, h = 420, 230, 24
    rows = []
    for i, (label, n, of_n, col) in enumerate(steps):
        y = 8 + i * (h + 6)
        w = max(2, bar_w * n / top)
        pct = f" ({100 * n / of_n:.0f}% of {of_n})" if of_n else ""
        rows.append(f'<text x="{label_w - 8}" y="{y + 16}" font-size="12" text-anchor="end">{html.escape(label)}'
                    f'</text><rect x="{label_w}" y="{y}" width="{w:.1f}" height="{h}" fill="{col}" rx="3"/>'
                    f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="12">{n}{pct}</text>')
    height = 16 + len(steps) * (h + 6)
    width = label_w + bar_w + 140
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="funnel" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" aria-label="cohort funnel">{"".join(rows)}</svg>')
