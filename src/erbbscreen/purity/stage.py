"""Stage drivers (workflow script, CLI) of the purity stage."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from erbbscreen.errors import InputError
from erbbscreen.purity.combine import PurityResult, clonal_power, combine, result_row, tumor_fraction_row
from erbbscreen.purity.common import PLASMA, TISSUE, purity_settings
from erbbscreen.purity.estimators import (amplification_bound, detection_limit, estimate_segment_fit,
                                          estimate_snp_imbalance, estimate_somatic_vaf, read_hotspot_rows)
from erbbscreen.purity.snps import (allele_counts, het_snps, nonref_counts, normal_het_candidates, position_regions,
                                    read_regions, sample_het_candidates, segment_table)
from erbbscreen.tables import parse_float, read_qc_row, read_table, write_table

log = logging.getLogger("erbbscreen.purity")


def _read_cnvkit(path) -> pd.DataFrame | None:
    if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None
    try:
        df = pd.read_csv(path, sep="\t", dtype={"chromosome": str, "gene": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError([f"{path}: cannot read as a CNVkit table ({exc}); fix: pass a CNVkit .cnr/.cns"])
    missing = [c for c in ("chromosome", "start", "end", "log2") if c not in df.columns]
    if missing:
        raise InputError([f"{path}: missing column(s) {', '.join(missing)}; expected a CNVkit .cnr/.cns"])
    return df


def _hotspot_exclusion(hs: pd.DataFrame, bp: int) -> set:
    out = set()
    if hs is None or not len(hs) or "positions" not in hs.columns:
        return out
    for chrom, poss in zip(hs["chrom"], hs["positions"]):
        for q in str(poss).split(","):
            if q.strip().isdigit():
                out.update((str(chrom), x) for x in range(int(q) - bp, int(q) + bp + 1))
    return out


_NORMAL_COUNTS: dict = {}

#: a het search in an alignment whose QC mean target depth is at most max_search_depth / this ratio reads no depth
#: cap: the counts it returns (:func:`~erbbscreen.purity.snps.nonref_counts`) are then already the full-depth
#: counts, so a sample without a matched normal needs no second pass (~0.1 s), and the search costs ~0.6x a pileup
#: of all reads. The ratio only bounds the cost at coverage peaks of several times the mean; whatever the depth,
#: an uncapped search counts every read (project choice, issue #10).
UNCAPPED_SEARCH_DEPTH_RATIO = 8


def _shallow(mean_depth: float | None, cap: int) -> bool:
    """A het search without a depth cap (:data:`UNCAPPED_SEARCH_DEPTH_RATIO`); ``cap`` <= 0: never capped."""
    return cap <= 0 or (mean_depth is not None and mean_depth * UNCAPPED_SEARCH_DEPTH_RATIO <= cap)


def het_search_counts(bam: str, regions: dict, min_baseq: int, fasta: str | None, cap: int, min_nonref: int,
                      mean_depth: float | None = None) -> pd.DataFrame:
    """Counts at the positions with at least ``min_nonref`` non-reference bases, where a het SNP can be: at full
    depth for a shallow alignment (:func:`_shallow`), else with at most ``cap`` reads per position."""
    if _shallow(mean_depth, cap):
        return nonref_counts(bam, regions, min_baseq, fasta, min_nonref)
    return allele_counts(bam, regions, min_baseq, fasta, cap, min_nonref)


def normal_allele_counts(normal_bam: str, regions: dict, min_baseq: int, fasta: str | None,
                         max_depth: int = 0, min_nonref: int = 0, mean_depth: float | None = None) -> pd.DataFrame:
    """:func:`het_search_counts` of a matched normal, kept for the process: a batch job reads a normal once for
    all of its patient's tumour and plasma samples (the last two normals are kept)."""
    key = (str(normal_bam), tuple((c, tuple(iv)) for c, iv in sorted(regions.items())), int(min_baseq), fasta,
           int(max_depth), int(min_nonref), _shallow(mean_depth, int(max_depth)))
    if key not in _NORMAL_COUNTS:
        while len(_NORMAL_COUNTS) >= 2:
            _NORMAL_COUNTS.pop(next(iter(_NORMAL_COUNTS)))
        _NORMAL_COUNTS[key] = het_search_counts(normal_bam, regions, min_baseq, fasta, max_depth, min_nonref,
                                                mean_depth)
    return _NORMAL_COUNTS[key]


def estimate_sample(sample: dict, bam: str | None, regions: dict | None, cnr=None, cns=None,
                    hs: pd.DataFrame | None = None, normal_bam: str | None = None, fasta: str | None = None,
                    settings: dict | None = None, mean_depth: float | None = None,
                    normal_mean_depth: float | None = None) -> tuple:
    """Run every estimator for one sample; returns (PurityResult, segments table, SNP table). ``mean_depth``,
    ``normal_mean_depth``: the QC mean target depths of the sample and its normal (:data:`UNCAPPED_SEARCH_DEPTH_RATIO`)."""
    s = settings or purity_settings()
    snps = pd.DataFrame(columns=["chrom", "pos", "depth", "allele1", "allele2", "found_in", "minor"])
    if bam and regions:
        baseq, cap = s["snp"]["min_baseq"], int(s["snp"]["max_search_depth"])
        # a het position has >= min_minor_reads reads of a non-reference allele: the search reads only those
        # positions back from samtools (erbbscreen.samtools.base_counts, filtered in C; same candidates)
        nonref = int(s["snp"]["min_minor_reads"])
        nc = (normal_allele_counts(normal_bam, regions, baseq, fasta, cap, nonref, normal_mean_depth)
              if normal_bam else None)
        # het positions are searched over all target regions with at most max_search_depth reads per position
        # (the matched normal's, which passed QC, else the sample's own), then the sample is counted at full depth
        # at those positions only: the same counts where depth <= max_search_depth, and a bounded cost on deep
        # samples. A shallow search is uncapped (het_search_counts): its counts are the full-depth ones already.
        if nc is None and _shallow(mean_depth, cap):
            sc = het_search_counts(bam, regions, baseq, fasta, cap, nonref, mean_depth)
        else:
            if nc is None:
                candidates = sample_het_candidates(allele_counts(bam, regions, baseq, fasta, cap, nonref), s)
            else:
                candidates = normal_het_candidates(nc, s)
            sc = allele_counts(bam, position_regions(candidates), baseq, fasta)
        snps = het_snps(sc, nc, s, _hotspot_exclusion(hs, int(s["snp"]["hotspot_exclusion"])))
    segs = segment_table(cns, cnr, snps, s) if cns is not None and len(cns) else None
    ests = {"snp_imbalance": estimate_snp_imbalance(segs, s), "segment_fit": estimate_segment_fit(segs, s),
            "somatic_vaf": estimate_somatic_vaf(hs)}
    if sample["sample_type"] == PLASMA:
        ests["amplification_bound"] = amplification_bound(segs, s)
    ests["snp_imbalance"].counts["het_snps"] = int(len(snps))
    lod = detection_limit(hs, float(s["clonal_power"]["min_power"]))
    res = combine(sample, ests, s, lod)
    res.clonal_power = clonal_power(hs, res, segs, s)
    return res, segs, snps


def qc_failed_result(sample: dict, reason: str) -> PurityResult:
    res = PurityResult(sample["sample_id"], sample.get("patient_id", ""), sample["sample_type"])
    sheet = parse_float(sample.get("purity"))
    if sheet is not None:
        res.purity = res.low = res.high = sheet
        res.source = "sheet"
        res.reason = f"purity from the sample sheet; data not measured (sample failed QC: {reason})"
    else:
        res.states = ["UNRESOLVED"]
        res.source = "none"
        res.reason = f"sample failed QC: {reason}"
    return res


def run_sample(sample: dict, bam: str, qc_tsv: str | None, targets_bed: str | None, cnr_path: str | None,
               cns_path: str | None, hotspots_tsv: str | None, out_table: str, out_biomarkers: str,
               out_snps: str | None = None, normal_bams: list | None = None, fasta: str | None = None,
               settings: dict | None = None, normal_qcs: list | None = None) -> PurityResult:
    """Every estimator for one sample -> purity.tsv row, TUMOR_FRACTION biomarker row, het-SNP table. Het SNPs are
    found in the first matched normal that passed QC (``normal_qcs`` parallel to ``normal_bams``), else in the
    sample itself."""
    s = settings or purity_settings()
    failed, mean_depth = None, None
    if qc_tsv:
        row = read_qc_row(qc_tsv)
        mean_depth = parse_float(row.get("mean_target_depth"))
        if str(row.get("status", "")).lower() != "pass":
            failed = row.get("reasons") or "QC status fail"
    if failed:
        res = qc_failed_result(sample, failed)
        segs, snps = None, pd.DataFrame()
    else:
        regions = read_regions(targets_bed, int(s["snp"]["flank"])) if targets_bed else None
        qcs = [read_qc_row(q) if q else None for q in (normal_qcs or [None] * len(normal_bams or []))]
        normal, normal_qc = next(((b, q) for b, q in zip(normal_bams or [], qcs)
                                  if b and (q is None or str(q.get("status", "")).lower() == "pass")), (None, None))
        res, segs, snps = estimate_sample(sample, bam, regions, _read_cnvkit(cnr_path), _read_cnvkit(cns_path),
                                          read_hotspot_rows(hotspots_tsv), normal, fasta, s, mean_depth,
                                          parse_float((normal_qc or {}).get("mean_target_depth")))
    log.info("%s: purity %s [%s, %s] source %s states %s", res.sample_id, res.purity, res.low, res.high,
             res.source, res.states)
    write_table(pd.DataFrame([result_row(res)]), out_table, "purity")
    write_table(pd.DataFrame([tumor_fraction_row(res)]), out_biomarkers, "biomarkers")
    if out_snps:
        write_table(snps if len(snps) else pd.DataFrame(columns=["chrom", "pos", "depth"]), out_snps)
    return res


def read_purity_row(path) -> dict | None:
    """One sample's purity.tsv row as dict(value, low, high, source, states, reason) (None if absent)."""
    if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None
    df = read_table(path)
    if not len(df):
        return None
    r = df.iloc[0].to_dict()
    return {"value": parse_float(r.get("purity")), "low": parse_float(r.get("purity_low")),
            "high": parse_float(r.get("purity_high")), "source": r.get("source", ""),
            "states": [x for x in str(r.get("states", "")).split(",") if x], "reason": r.get("reason", ""),
            "lod": parse_float(r.get("lod"))}


# ---------------------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen purity",
        description="Tumour purity / ctDNA fraction of one BAM from germline-SNP allelic imbalance within CNVkit "
                    "segments, a segment-level integer-state fit and somatic hotspot VAFs (docs/purity.md).")
    ap.add_argument("--bam", required=True, help="coordinate-sorted, indexed BAM/CRAM")
    ap.add_argument("--sample-type", choices=[TISSUE, PLASMA], default=TISSUE)
    ap.add_argument("--sample-id")
    ap.add_argument("--patient-id")
    ap.add_argument("--targets", help="BED of regions to scan for het SNPs (panel targets / CNVkit target bins); "
                                      "default: the bins of --cnr")
    ap.add_argument("--cnr", help="CNVkit .cnr of this sample")
    ap.add_argument("--cns", help="CNVkit .cns of this sample (segments; needed for estimators a and b)")
    ap.add_argument("--normal", help="matched normal BAM (het SNPs are then found there)")
    ap.add_argument("--hotspots-table", help="erbb-screen hotspots table of this sample (estimator c)")
    ap.add_argument("--purity", type=float, help="sheet purity / known ctDNA fraction (reported as source 'sheet')")
    ap.add_argument("--fasta", help="reference FASTA (CRAM input)")
    ap.add_argument("--config", help="config YAML whose purity: section overrides the defaults")
    ap.add_argument("--out", required=True, help="purity table (TSV)")
    ap.add_argument("--biomarkers", help="also write the TUMOR_FRACTION biomarker row here")
    ap.add_argument("--snps", help="also write the het-SNP counts here")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        from erbbscreen.settings import config_section

        s = purity_settings(config_section(a.config, "purity"))
        for p in (a.bam, a.cnr, a.cns, a.normal, a.hotspots_table, a.targets):
            if p and not Path(p).is_file():
                raise InputError([f"{p}: file not found"])
        if a.purity is not None and not 0 < a.purity <= 1:
            raise InputError([f"--purity {a.purity}: must be in (0, 1]"])
        targets = a.targets
        if not targets and a.cnr:
            cnr = _read_cnvkit(a.cnr)
            tmp = Path(a.out).with_suffix(".targets.bed")
            cnr[cnr["gene"].fillna("-") != "Antitarget"][["chromosome", "start", "end"]].to_csv(
                tmp, sep="\t", header=False, index=False)
            targets = str(tmp)
        if not targets:
            raise InputError(["give --targets (panel BED) or --cnr: the SNP scan needs regions"])
    except InputError as exc:
        print(f"erbb-screen purity: {exc}", file=sys.stderr)
        return 1
    sid = a.sample_id or Path(a.bam).name.split(".")[0]
    sample = {"sample_id": sid, "patient_id": a.patient_id or sid, "sample_type": a.sample_type,
              "purity": a.purity}
    res = run_sample(sample, a.bam, None, targets, a.cnr, a.cns, a.hotspots_table, a.out,
                     a.biomarkers or str(Path(a.out).with_suffix(".biomarkers.tsv")), a.snps,
                     [a.normal] if a.normal else None, a.fasta, s)
    print(f"{sid}: purity {res.purity} [{res.low}, {res.high}] source {res.source} states "
          f"{','.join(res.states) or '-'}; {res.reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
