"""Per-sample copy-number plots (PNG) drawn with CNVkit's own plotting (``cnvlib.scatter``), Agg backend.

* genome-wide scatter of bin log2 ratios with segments (``cnvkit.py scatter``),
* a zoom on one gene (ERBB2 by default) with its flanks, the gene's call in the title,
* a plain message figure when there is no profile to draw (sample failed QC) - the file then says why.
"""
from __future__ import annotations

import logging
import math

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib import pyplot  # noqa: E402

from erbbscreen.tables import atomic_output  # noqa: E402

log = logging.getLogger("erbbscreen.cnv_plots")


def _save(fig, out) -> None:
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    pyplot.close("all")


def message_png(out, text: str) -> None:
    """A small figure carrying only ``text`` (used when there is nothing to plot, and why)."""
    fig = pyplot.figure(figsize=(8, 2))
    fig.text(0.02, 0.5, text, va="center", ha="left", fontsize=11, wrap=True)
    _save(fig, out)


def genome_scatter(cnr, cns, out, title: str | None = None) -> None:
    """Genome-wide bin log2 ratios and segments (``cnvlib.scatter.do_scatter``)."""
    from cnvlib import scatter

    if not len(cnr):
        message_png(out, f"{title or ''}\nno bins to plot")
        return
    scatter.do_scatter(cnr, cns if cns is not None and len(cns) else None, title=title)
    _save(pyplot.gcf(), out)


def _fmt(x, nd=2):
    return "NA" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def gene_zoom(cnr, cns, region, out, padding: int = 500000, call=None) -> None:
    """Bins and segments around one gene (``region``: erbbscreen.copynumber.GeneRegion; ``call``: its
    GeneCall, shown in the title)."""
    from cnvlib import scatter

    gene = region.gene
    chrom, start, end = region.chrom, region.start, region.end
    if chrom is None and len(cnr):  # locate by the gene column (CNVkit files without an annotation)
        sel = cnr.data["gene"].astype(str).map(lambda s: gene in s.split(","))
        if sel.any():
            sub = cnr.data[sel]
            chrom, start, end = str(sub["chromosome"].iloc[0]), int(sub["start"].min()), int(sub["end"].max())
    if chrom is None or not len(cnr) or not (cnr.data["chromosome"].astype(str) == chrom).any():
        message_png(out, f"{gene}: no bins to plot")
        return
    lo, hi = max(0, start - padding), end + padding
    title = gene
    if call is not None:
        what = "pCN" if call.sample_type == "plasma" else "CN"
        title = (f"{call.sample_id} {gene}: {call.call}, log2 {_fmt(call.log2, 3)} [{_fmt(call.ci_low, 3)}, "
                 f"{_fmt(call.ci_high, 3)}], {what} {_fmt(call.copy_number)}, {call.bins} bins")
    shown = cnr.copy()  # label only the zoomed gene: CNVkit would print every bin label in the window
    labels = shown.data["gene"].astype(str)
    own = labels.map(lambda s: gene in s.split(","))
    if region.chrom is not None:
        own |= ((shown.data["chromosome"].astype(str) == chrom) & (shown.data["end"] > start)
                & (shown.data["start"] < end))
    shown["gene"] = np.where(own, gene, np.where(labels.isin(("Antitarget", "Background")), labels, "-"))
    try:
        scatter.do_scatter(shown, cns if cns is not None and len(cns) else None, show_range=f"{chrom}:{lo}-{hi}",
                           title=title)
    except (ValueError, KeyError, IndexError) as exc:  # CNVkit cannot draw this range: say so in the file
        log.warning("zoom plot of %s failed: %s", gene, exc)
        pyplot.close("all")
        message_png(out, f"{title}\n(plot failed: {exc})")
        return
    _save(pyplot.gcf(), out)
