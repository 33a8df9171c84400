"""Copy number from a lab's files: CNVkit .cnr(/.cns) or PURPLE ``purple.cnv.gene.tsv``.

CNVkit files go through the copy-number stage's own file path (``erbbscreen.copynumber``: the gene's bins
by the .cnr ``gene`` column, weighted median + bootstrap CI, the covering segment, purity correction,
amplification call); nothing is re-implemented here.

PURPLE already reports purity- and ploidy-adjusted absolute copy numbers per gene (``minCopyNumber`` /
``maxCopyNumber`` over the gene). Amplification = ``minCopyNumber`` >= ``cnv.amplification_min_cn`` (the whole
gene is amplified; [TWIST] amp_cn_limit 6.0); not amplified = ``maxCopyNumber`` below it; a gene whose
copy number straddles the cut-off (min < 6 <= max) is ``not_evaluable`` (partially amplified gene, review).

A gene absent from the file is ``not_evaluable`` (never negative): "not in the copy-number file".
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from erbbscreen import copynumber as cn
from erbbscreen.errors import InputError

PURPLE_REQUIRED = ("chromosome", "start", "end", "gene", "mincopynumber", "maxcopynumber")


def from_cnvkit(cnr_path, cns_path, sample: dict, settings: dict | None = None):
    """(genes rows DataFrame in copy_number.tsv layout, biomarker rows DataFrame) from CNVkit files."""
    s = cn.cnv_settings(settings)
    cnr = cn._read_cnvkit_table(cnr_path)
    cns = cn._read_cnvkit_table(cns_path) if cns_path else None
    regions = cn.gene_regions(s["genes"], None)  # the .cnr gene column places the genes (any build)
    purity = cn.resolve_purity(sample["sample_type"], sample.get("purity"), None, s)
    if purity.source == cn.DEFAULT_PURITY_SOURCE:
        purity.note = "no purity given to the import"
    calls = cn.evaluate_sample(cnr, cns, sample, purity, s, regions, reference_type="imported CNVkit",
                               segment_method="imported" if cns_path else "")
    for c in calls:
        if c.bins == 0:
            c.reason = (f"not in the copy-number file: no bin of {Path(cnr_path).name} is labelled {c.gene} "
                        "(gene column); not_evaluable, never negative")
    genes = cn.genes_frame(calls)
    genes["source"] = f"imported CNVkit {Path(cnr_path).name}"
    return genes, cn.biomarker_rows(calls)


def _purple_call(min_cn, max_cn, s):
    amp = float(s["amplification_min_cn"])
    if min_cn >= amp:
        return "amplification", "positive", f"minCopyNumber {min_cn:.2f} >= {amp:g} over the whole gene"
    if max_cn < amp:
        n = int(round(min_cn))
        call = "gain" if n >= s["gain_min_cn"] else ("loss" if n <= s["loss_max_cn"] else "neutral")
        return call, "negative", f"maxCopyNumber {max_cn:.2f} < {amp:g}"
    return "not_evaluable", "not_evaluable", (f"copy number straddles the cut-off within the gene (min {min_cn:.2f}, "
                                              f"max {max_cn:.2f}, cut-off {amp:g}): partial amplification, review")


def from_purple(path, sample: dict, settings: dict | None = None):
    """(genes rows, biomarker rows) from a PURPLE purple.cnv.gene.tsv."""
    s = cn.cnv_settings(settings)
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError([f"{path}: cannot read as PURPLE gene copy-number TSV ({exc})"])
    cols = {c.lower(): c for c in df.columns}
    missing = [c for c in PURPLE_REQUIRED if c not in cols]
    if missing:
        raise InputError([f"{path}: missing column(s) {', '.join(missing)} (case-insensitive); expected PURPLE "
                          "purple.cnv.gene.tsv (chromosome, start, end, gene, minCopyNumber, maxCopyNumber, ...)"])
    genes_rows, bm_rows = [], []
    canon = cols.get("iscanonical")
    for gene in s["genes"]:
        rows = df[df[cols["gene"]] == gene]
        if canon is not None and len(rows) > 1:
            rows = rows[rows[canon].str.lower() == "true"] if (rows[canon].str.lower() == "true").any() else rows
        base = dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"], sample_type=sample["sample_type"],
                    gene=gene)
        if rows.empty:
            call, status, why = "not_evaluable", "not_evaluable", f"not in the copy-number file {path.name}"
            min_cn = max_cn = float("nan")
        else:
            r = rows.iloc[0]
            try:
                min_cn, max_cn = float(r[cols["mincopynumber"]]), float(r[cols["maxcopynumber"]])
            except ValueError:
                raise InputError([f"{path}: gene {gene}: minCopyNumber/maxCopyNumber "
                                  f"{r[cols['mincopynumber']]!r}/{r[cols['maxcopynumber']]!r} are not numbers"])
            call, status, why = _purple_call(min_cn, max_cn, s)
        purity = sample.get("purity")
        finite = math.isfinite(min_cn)
        genes_rows.append(dict(base, log2="", copy_number=round(min_cn, 3) if finite else "",
                               purity="" if purity is None else purity, call=call, reason=why,
                               max_copy_number=round(max_cn, 3) if finite else "",
                               source=f"imported PURPLE {path.name}"))
        if gene not in cn.BIOMARKER_OF_GENE:
            continue
        details = {"call": call, "copy_number": round(min_cn, 3) if finite else None,
                   "ci_low": round(min_cn, 3) if finite else None, "ci_high": round(max_cn, 3) if finite else None,
                   "purity_source": "estimated:purple", "source": "imported PURPLE", "reason": why,
                   "thresholds": f"amplification minCopyNumber >= {s['amplification_min_cn']:g} [TWIST amp_cn_limit]"}
        if sample.get("purity") is not None:
            details["purity"] = sample["purity"]
        if sample["sample_type"] == "plasma":
            details["pcn"] = details["copy_number"]
        evidence = (f"{gene} {call}: PURPLE gene copy number min {min_cn:.2f} / max {max_cn:.2f} (purity/ploidy-"
                    f"adjusted by PURPLE); {why}" if finite else f"{gene} copy number not evaluable: {why}")
        bm_rows.append(dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"],
                            sample_type=sample["sample_type"], biomarker=cn.BIOMARKER_OF_GENE[gene], status=status,
                            value=f"{min_cn:.3f}" if finite else "", evidence=evidence,
                            details=json.dumps({k: v for k, v in details.items() if v is not None}, sort_keys=True)))
    return pd.DataFrame(genes_rows), pd.DataFrame(bm_rows)
