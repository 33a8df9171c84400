"""Germline het-SNP allele counts (one samtools mpileup pass in C) and per-segment allelic imbalance."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from erbbscreen.distributions import binom_logpmf, chi2_sf


def read_regions(path, flank: int = 0) -> dict:
    """BED-like file (CNVkit targets.bed) -> {chrom: [(start, end)]} merged after adding ``flank``."""
    df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], dtype={0: str}, comment="#")
    out = {}
    for chrom, sub in df.groupby(0, sort=False):
        iv = sorted(zip((sub[1] - flank).clip(lower=0), sub[2] + flank))
        merged = []
        for s, e in iv:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([int(s), int(e)])
        out[str(chrom)] = [tuple(x) for x in merged]
    return out


def allele_counts(bam: str, regions: dict, min_baseq: int = 20, fasta: str | None = None,
                  max_depth: int = 0, min_nonref: int = 0, reads_expr: str | None = None) -> pd.DataFrame:
    """A/C/G/T counts at every position of ``regions`` with depth > 0 (duplicates, secondary, QC-fail and unmapped
    reads excluded; base quality >= min_baseq): one ``samtools mpileup`` pass in C (:func:`erbbscreen.samtools.
    base_counts`, equal to pysam ``count_coverage(read_callback="all")``); ``max_depth`` > 0: at most that many reads
    per position (a first look at a very deep sample); ``min_nonref`` > 0 (with ``fasta``): only positions with at
    least that many non-reference bases (a het search: its minor allele needs snp.min_minor_reads reads there);
    ``reads_expr``: only the reads matching this ``samtools view -e`` expression are counted.
    Columns chrom, pos (1-based), A, C, G, T."""
    import pysam

    from erbbscreen.samtools import base_counts

    with pysam.AlignmentFile(bam, reference_filename=fasta) as fh:
        lengths = dict(zip(fh.references, fh.lengths))
    intervals = [(chrom, s, min(e, lengths[chrom])) for chrom, ivs in regions.items() if chrom in lengths
                 for s, e in ivs]
    counts = base_counts(bam, intervals, min_baseq=min_baseq, fasta=fasta, max_depth=max_depth,
                         min_nonref=min_nonref, reads_expr=reads_expr)
    return counts.astype({b: np.int32 for b in "ACGT"})


def nonref_counts(bam: str, regions: dict, min_baseq: int = 20, fasta: str | None = None,
                  min_nonref: int = 1) -> pd.DataFrame:
    """Full-depth A/C/G/T counts at every position of ``regions`` with at least ``min_nonref`` bases that differ
    from the reference: the table ``allele_counts(bam, regions, min_baseq, fasta, 0, min_nonref)`` returns, from
    two cheaper passes. Only a read with an edit distance (NM tag) other than 0 can hold such a base, so the
    positions are found in a pileup of those reads alone (:data:`erbbscreen.samtools.DIFFERING_READS`, a read
    without an NM tag included; ~40% of the test cohort's reads), then counted in all reads there. About 0.6x the
    CPU of one pileup of all reads on the test cohort; the same table (tests/test_purity.py). Needs ``fasta``,
    ``min_nonref`` > 0 and a samtools executable, else it is that one pileup."""
    from erbbscreen.samtools import DIFFERING_READS, executable

    if not fasta or min_nonref <= 0 or executable() is None:
        return allele_counts(bam, regions, min_baseq, fasta, 0, min_nonref)
    found = allele_counts(bam, regions, min_baseq, fasta, 0, min_nonref, reads_expr=DIFFERING_READS)
    if not len(found):
        return found
    return allele_counts(bam, position_regions(found), min_baseq, fasta)


def normal_het_candidates(normal_counts: pd.DataFrame, s: dict) -> pd.DataFrame:
    """Positions heterozygous in the matched normal (depth, minor fraction within snp.normal_het_range, minor reads):
    columns chrom, pos, b1, b2 (indexes of the two alleles in A, C, G, T). Only the sample's counts at these
    positions matter, so the sample is counted there only (:func:`position_regions`)."""
    sp = s["snp"]
    i1, i2, a1, a2 = _top_two(normal_counts)
    n = a1 + a2
    frac = np.divide(a2, n, out=np.zeros(len(n), dtype=float), where=n > 0)
    lo, hi = sp["normal_het_range"]
    ok = (n >= sp["min_depth"]) & (frac >= lo) & (frac <= hi) & (a2 >= sp["min_minor_reads"])
    return normal_counts.loc[ok, ["chrom", "pos"]].assign(b1=i1[ok], b2=i2[ok])


def sample_het_candidates(sample_counts: pd.DataFrame, s: dict) -> pd.DataFrame:
    """Positions that look heterozygous in a sample without a matched normal (the same filters :func:`het_snps`
    applies then): columns chrom, pos."""
    sp = s["snp"]
    _, _, a1, a2 = _top_two(sample_counts)
    n = a1 + a2
    frac = np.divide(a2, n, out=np.zeros(len(n), dtype=float), where=n > 0)
    ok = (n >= sp["min_depth"]) & (frac >= sp["min_minor_fraction"]) & (a2 >= sp["min_minor_reads"])
    return sample_counts.loc[ok, ["chrom", "pos"]]


def position_regions(positions: pd.DataFrame) -> dict:
    """1-based positions (columns chrom, pos) -> {chrom: [(start, end)]} 0-based half-open, adjacent positions
    merged: the regions :func:`allele_counts` reads (counts per position do not depend on the window)."""
    out = {}
    for chrom, sub in positions.groupby("chrom", sort=False):
        merged = []
        for p in sorted(int(x) for x in sub["pos"]):
            if merged and p - 1 <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], p)
            else:
                merged.append([p - 1, p])
        out[str(chrom)] = [tuple(x) for x in merged]
    return out


def _top_two(counts: pd.DataFrame) -> tuple:
    m = counts[["A", "C", "G", "T"]].to_numpy()
    order = np.argsort(-m, axis=1, kind="stable")
    a1 = m[np.arange(len(m)), order[:, 0]]
    a2 = m[np.arange(len(m)), order[:, 1]]
    return order[:, 0], order[:, 1], a1, a2


def het_snps(sample_counts: pd.DataFrame, normal_counts: pd.DataFrame | None, s: dict,
             exclude: set | None = None) -> pd.DataFrame:
    """Germline heterozygous SNPs and the sample's counts there: columns chrom, pos, depth, minor (count of the
    lower allele in the sample), found_in (normal / sample)."""
    sp = s["snp"]
    exclude = exclude or set()
    if normal_counts is not None:
        cand = normal_het_candidates(normal_counts, s)
        merged = cand.merge(sample_counts, on=["chrom", "pos"], how="inner")
        m = merged[["A", "C", "G", "T"]].to_numpy()
        c1 = m[np.arange(len(m)), merged["b1"].to_numpy()]
        c2 = m[np.arange(len(m)), merged["b2"].to_numpy()]
        out = pd.DataFrame({"chrom": merged["chrom"], "pos": merged["pos"], "depth": c1 + c2,
                            "allele1": c1, "allele2": c2, "found_in": "normal"})
        out = out[out["depth"] >= sp["min_depth"]]
    else:
        i1, i2, a1, a2 = _top_two(sample_counts)
        n = a1 + a2
        frac = np.divide(a2, n, out=np.zeros(len(n), dtype=float), where=n > 0)
        ok = (n >= sp["min_depth"]) & (frac >= sp["min_minor_fraction"]) & (a2 >= sp["min_minor_reads"])
        out = pd.DataFrame({"chrom": sample_counts.loc[ok, "chrom"], "pos": sample_counts.loc[ok, "pos"],
                            "depth": n[ok], "allele1": a1[ok], "allele2": a2[ok], "found_in": "sample"})
    if exclude and len(out):
        keys = list(zip(out["chrom"], out["pos"]))
        out = out[[k not in exclude for k in keys]]
    out = out.reset_index(drop=True)
    out["minor"] = np.minimum(out["allele1"], out["allele2"]) if len(out) else []
    return out


# ---------------------------------------------------------------------------------------------------------------
# per-segment allelic imbalance
# ---------------------------------------------------------------------------------------------------------------

_B_GRID = np.linspace(0.0, 0.5, 201)


def overdispersion(k: np.ndarray, n: np.ndarray) -> float:
    """Allele-count over-dispersion of the sample's het SNPs (capture, mapping and reference bias on top of the
    binomial): median of (k - n/2)^2 / (n/4) over all SNPs divided by the chi-square(1) median 0.455, at least 1.
    Robust because most SNPs sit in balanced regions; it deflates the imbalance test of every segment."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if k.size < 10:
        return 1.0
    return max(1.0, float(np.median((k - n / 2) ** 2 / (n / 4))) / 0.455)


def mirrored_baf(k: np.ndarray, n: np.ndarray, phi: float = 1.0) -> tuple:
    """Maximum-likelihood minor-allele fraction b in [0, 0.5] of SNPs with unknown phase: each SNP's count k of one
    allele ~ 0.5 Bin(n, b) + 0.5 Bin(n, 1 - b). Returns (b, se, p-value of the likelihood-ratio test b = 0.5), the
    test statistic and SE scaled by the over-dispersion ``phi`` (quasi-likelihood)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if k.size == 0:
        return float("nan"), float("nan"), 1.0
    b = np.clip(_B_GRID, 1e-4, 0.5)[:, None]
    l1 = binom_logpmf(k[None, :], n[None, :], b)
    l2 = binom_logpmf(k[None, :], n[None, :], 1 - b)
    ll = (np.logaddexp(l1, l2) + np.log(0.5)).sum(axis=1)
    i = int(np.argmax(ll))
    bhat = float(_B_GRID[i])
    lr = 2 * (ll[i] - ll[-1]) / phi
    pval = float(chi2_sf(max(lr, 0.0), 1))
    inside = _B_GRID[ll >= ll[i] - 0.5 * phi]      # +- 1 SE from the profile (delta log-lik 0.5, x phi)
    se = max(float(inside.max() - inside.min()) / 2, 0.5 * math.sqrt(phi / max(n.sum(), 1.0)))
    return bhat, se, pval


def segment_table(cns: pd.DataFrame, cnr: pd.DataFrame | None, snps: pd.DataFrame, s: dict) -> pd.DataFrame:
    """One row per CNVkit segment: log2, bins, log2 SE (bin spread), SNPs, mirrored BAF and its test."""
    rows = []
    # over-dispersion from the SNPs of copy-neutral segments (imbalanced segments would inflate it)
    neutral = np.zeros(len(snps), dtype=bool)
    for _, seg in cns[cns["log2"].abs() <= s["segment"]["neutral_log2"]].iterrows():
        neutral |= ((snps["chrom"].astype(str) == str(seg["chromosome"])) & (snps["pos"] > int(seg["start"]))
                    & (snps["pos"] <= int(seg["end"]))).to_numpy()
    ref = snps[neutral] if neutral.sum() >= 10 else snps
    phi = overdispersion(ref["allele2"].to_numpy(), ref["depth"].to_numpy()) if len(ref) else 1.0
    for _, seg in cns.iterrows():
        chrom, start, end = str(seg["chromosome"]), int(seg["start"]), int(seg["end"])
        v = float(seg["log2"])
        nb = int(seg.get("probes", 0) or 0)
        sd = float("nan")
        if cnr is not None and len(cnr):
            sel = cnr[(cnr["chromosome"].astype(str) == chrom) & (cnr["start"] < end) & (cnr["end"] > start)]
            nb = nb or len(sel)
            if len(sel) > 1:
                x = sel["log2"].to_numpy(dtype=float)
                sd = 1.4826 * float(np.median(np.abs(x - np.median(x))))
        se = (sd / math.sqrt(max(nb, 1))) if math.isfinite(sd) else 0.1
        se = math.hypot(se, s["segment"]["log2_sd_floor"])
        sub = snps[(snps["chrom"].astype(str) == chrom) & (snps["pos"] > start) & (snps["pos"] <= end)]
        b, bse, p = mirrored_baf(sub["allele2"].to_numpy(), sub["depth"].to_numpy(), phi) if len(sub) else (
            float("nan"), float("nan"), 1.0)
        rows.append(dict(chrom=chrom, start=start, end=end, log2=v, bins=nb, log2_se=se, snps=len(sub),
                         snp_depth=int(sub["depth"].sum()) if len(sub) else 0, baf=b, baf_se=bse, imbalance_p=p,
                         overdispersion=phi))
    return pd.DataFrame(rows)
