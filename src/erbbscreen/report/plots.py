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
import re

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot  # noqa: E402

from erbbscreen.report.fmt import STATUS_COLOURS, fnum, num  # noqa: E402

GENE_COLOUR = "#b2182b"
OTHER_BIN = "#9e9e9e"


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    pyplot.close(fig)
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
    """PNG data URI: one panel per gene (ERBB2, ERBB3) with bins, segments and the gene estimate + CI.

    ``cnr``/``cns``: frames of the sample's CNVkit files; ``gene_rows``: gene -> copy_number.tsv row (dict).
    None when there are no bins to draw (the page then says why).
    """
    if cnr is None or cnr.empty:
        return None
    genes = [g for g in gene_rows if g in ("ERBB2", "ERBB3")] or list(gene_rows)[:2]
    if not genes:
        return None
    fig, axes = pyplot.subplots(1, len(genes), figsize=(5.2 * len(genes), 3.1), squeeze=False)
    drawn = False
    for ax, gene in zip(axes[0], genes):
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
                     fontsize=10)
        ax.set_xlabel(f"{chrom} position (Mb)")
        ax.set_ylabel("log2 ratio")
        ax.legend(fontsize=7, loc="upper left", framealpha=0.8)
        drawn = True
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if not drawn:
        pyplot.close(fig)
        return None
    return _png_uri(fig)


# ---------------------------------------------------------------------------------------------
# hotspots
# ---------------------------------------------------------------------------------------------

VAF_FLOOR = 1e-4


def vaf_lod_plot(codons: list, title: str, lod_config=None) -> str | None:
    """PNG data URI: observed VAF per codon (dot) against its detection limit (bar top), log scale.

    ``codons``: dicts with label, status, vaf, lod. A not_evaluable codon without a limit is marked 'NE' at the
    top; a VAF of 0 sits on the floor line. ``lod_config``: the stage's configured LOD, drawn as a line.
    """
    if not codons:
        return None
    fig, ax = pyplot.subplots(figsize=(max(6.0, 0.38 * len(codons) + 1.5), 3.3))
    xs = range(len(codons))
    top = 1.0
    for x, c in zip(xs, codons):
        lod, vaf = num(c.get("lod")), num(c.get("vaf"))
        status = c.get("status")
        if lod is not None:
            ax.bar(x, lod - VAF_FLOOR, bottom=VAF_FLOOR, width=0.6, color="#d9d9d9", edgecolor="#8c8c8c",
                   zorder=1)
        if status == "not_evaluable" and lod is None:
            ax.text(x, 0.5, "NE", ha="center", va="center", fontsize=7, color=STATUS_COLOURS["not_evaluable"],
                    fontweight="bold", rotation=90)
            continue
        y = max(vaf, VAF_FLOOR) if vaf is not None else None
        if y is None:
            continue
        ax.scatter([x], [y], s=36 if status == "detected" else 18, zorder=3,
                   c=STATUS_COLOURS.get(status, "#555"), marker="o" if status != "not_evaluable" else "x")
    if lod_config is not None:
        ax.axhline(lod_config, ls="--", c="#2166ac", lw=1, label=f"configured LOD {lod_config:g}")
        ax.legend(fontsize=7, loc="upper right")
    ax.set_yscale("log")
    ax.set_ylim(VAF_FLOOR * 0.8, top)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([c["label"] for c in codons], rotation=90, fontsize=7)
    ax.set_ylabel("VAF (log)")
    ax.set_title(title + "  (bar: detection limit at the stage's power; dot: observed VAF; NE: not evaluable)",
                 fontsize=8)
    fig.tight_layout()
    return _png_uri(fig)


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
