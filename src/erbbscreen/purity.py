"""Tumour purity (tissue) and ctDNA fraction (plasma) measured from the reads (docs/purity.md).

Three estimators, each with its own value, interval and evidence counts:

(a) ``snp_imbalance``: germline heterozygous SNPs (found in the matched normal when there is one, else in the
    sample itself) counted by htslib (``pysam.AlignmentFile.count_coverage``, no Python loop over reads) over the
    CNVkit target bins +- a flank; per CNVkit segment the mirrored B-allele fraction ``b`` (minor-allele share) is
    fitted by maximum likelihood with the phase unknown. In a lost (LOH) segment ``p = (1 - 2b) / (1 - b)``, i.e.
    the Wyatt-lab ``TF = 2 - 1/HSAF`` with HSAF = 1 - b; copy-neutral LOH ``p = 1 - 2b``; single-copy gain
    ``p = 1/b - 2`` when the depth ratio agrees. Segments combined by inverse variance.
(b) ``segment_fit``: a PURPLE-style grid over purity (ploidy 2, CNVkit centres log2 on the median): each segment
    with >= ``min_bins`` bins takes the integer (major, minor) copy state that best explains its depth ratio and
    (when it has SNPs) its B-allele fraction; the purity minimising the summed squared deviations (plus a small
    penalty per changed copy, PURPLE's parsimony) wins; interval = chi-square profile (delta <= 3.84).
(c) ``somatic_vaf``: the highest somatic hotspot VAF of the hotspots stage's published table: ``p = 2 VAF``
    (clonal heterozygous, diploid) with a Clopper-Pearson interval whose lower end is taken as the Wyatt-lab
    ``2/(1 + 1/VAF)`` at the VAF's binomial lower bound (a conservative floor for plasma).

Plasma adds the lower bound a detected amplification implies (``f >= (pCN - 2)/(max_cn - 2)``) and, when no
estimator finds tumour DNA, "below detection" with the LoD of a clonal hotspot mutation from depth and the
hotspots stage's background-aware minimum alt count (WISP-style LoD). Never a silent zero.

Combination (docs/purity.md, "Combination rule"): sheet purity wins when given (warning when the data disagree by
> ``sheet_disagreement``); else the copy-number estimators (a, b) combined by inverse variance, (c) joining when it
agrees within ``disagreement``; a disagreement is flagged and the interval spans the disagreeing estimates.
States: ``LOW_PURITY`` (value < floor; PURPLE WARN_LOW_PURITY 0.20), ``NO_TUMOR_EVIDENCE`` (plasma: nothing
found), ``UNRESOLVED`` (tissue: copy-neutral without SNV: nothing to estimate from).

Command line (standalone on one BAM):
    erbb-screen purity --bam X.bam --sample-type tumor [--cnr X.cnr --cns X.cns] [--normal N.bam]
        [--hotspots-table hotspots.tsv] [--targets targets.bed] --out purity.tsv
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from erbbscreen.errors import InputError
from erbbscreen.tables import parse_float, read_qc_row, read_table, write_table

log = logging.getLogger(__name__)

TISSUE, PLASMA, NORMAL = "tumor", "plasma", "normal"
STATES = ("LOW_PURITY", "NO_TUMOR_EVIDENCE", "UNRESOLVED")
METHODS = ("snp_imbalance", "segment_fit", "somatic_vaf")
RAS_GENES = ("KRAS", "NRAS", "BRAF")

def purity_defaults() -> dict:
    """The ``purity:`` defaults from workflow/schemas/config.schema.yaml (config.yaml repeats them)."""
    from erbbscreen.copynumber import _schema_defaults
    from erbbscreen.settings import load_schema

    return _schema_defaults(load_schema()["properties"]["purity"])


def purity_settings(over: dict | None = None) -> dict:
    """Schema defaults overlaid with a (possibly partial) ``purity:`` config section."""
    from erbbscreen.copynumber import _deep_update

    return _deep_update(purity_defaults(), json.loads(json.dumps(over or {})))


# ---------------------------------------------------------------------------------------------------------------
# SNP allele counts (htslib pileup in C via count_coverage)
# ---------------------------------------------------------------------------------------------------------------

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


def allele_counts(bam: str, regions: dict, min_baseq: int = 20, fasta: str | None = None) -> pd.DataFrame:
    """A/C/G/T counts at every position of ``regions`` with depth > 0 (duplicates, secondary, QC-fail and unmapped
    reads excluded by htslib's 'all' filter; base quality >= min_baseq). Columns chrom, pos (1-based), A, C, G, T."""
    import pysam

    frames = []
    with pysam.AlignmentFile(bam, reference_filename=fasta) as fh:
        contigs = set(fh.references)
        for chrom, ivs in regions.items():
            if chrom not in contigs:
                continue
            length = fh.get_reference_length(chrom)
            for s, e in ivs:
                e = min(e, length)
                if e <= s:
                    continue
                cov = np.array(fh.count_coverage(chrom, s, e, quality_threshold=min_baseq, read_callback="all"),
                               dtype=np.int32)
                keep = cov.sum(axis=0) > 0
                if not keep.any():
                    continue
                pos = np.arange(s, e)[keep] + 1
                frames.append(pd.DataFrame({"chrom": chrom, "pos": pos, "A": cov[0, keep], "C": cov[1, keep],
                                            "G": cov[2, keep], "T": cov[3, keep]}))
    if not frames:
        return pd.DataFrame(columns=["chrom", "pos", "A", "C", "G", "T"])
    return pd.concat(frames, ignore_index=True)


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
    if normal_counts is not None and len(normal_counts):
        i1, i2, a1, a2 = _top_two(normal_counts)
        n = a1 + a2
        frac = np.divide(a2, n, out=np.zeros(len(n), dtype=float), where=n > 0)
        lo, hi = sp["normal_het_range"]
        ok = (n >= sp["min_depth"]) & (frac >= lo) & (frac <= hi) & (a2 >= sp["min_minor_reads"])
        cand = normal_counts.loc[ok, ["chrom", "pos"]].assign(b1=i1[ok], b2=i2[ok])
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


def mirrored_baf(k: np.ndarray, n: np.ndarray) -> tuple:
    """Maximum-likelihood minor-allele fraction b in [0, 0.5] of SNPs with unknown phase: each SNP's count k of one
    allele ~ 0.5 Bin(n, b) + 0.5 Bin(n, 1 - b). Returns (b, se, p-value of the likelihood-ratio test b = 0.5)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if k.size == 0:
        return float("nan"), float("nan"), 1.0
    b = np.clip(_B_GRID, 1e-4, 0.5)[:, None]
    l1 = stats.binom.logpmf(k[None, :], n[None, :], b)
    l2 = stats.binom.logpmf(k[None, :], n[None, :], 1 - b)
    ll = (np.logaddexp(l1, l2) + np.log(0.5)).sum(axis=1)
    i = int(np.argmax(ll))
    bhat = float(_B_GRID[i])
    lr = 2 * (ll[i] - ll[-1])
    pval = float(stats.chi2.sf(max(lr, 0.0), 1))
    inside = _B_GRID[ll >= ll[i] - 0.5]            # +- 1 SE from the profile (delta log-lik 0.5)
    se = max(float(inside.max() - inside.min()) / 2, 0.5 / math.sqrt(max(n.sum(), 1.0)))
    return bhat, se, pval


def segment_table(cns: pd.DataFrame, cnr: pd.DataFrame | None, snps: pd.DataFrame, s: dict) -> pd.DataFrame:
    """One row per CNVkit segment: log2, bins, log2 SE (bin spread), SNPs, mirrored BAF and its test."""
    rows = []
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
        b, bse, p = mirrored_baf(sub["allele2"].to_numpy(), sub["depth"].to_numpy()) if len(sub) else (
            float("nan"), float("nan"), 1.0)
        rows.append(dict(chrom=chrom, start=start, end=end, log2=v, bins=nb, log2_se=se, snps=len(sub),
                         snp_depth=int(sub["depth"].sum()) if len(sub) else 0, baf=b, baf_se=bse, imbalance_p=p))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# estimators
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Estimate:
    method: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    evidence: str = ""
    counts: dict = field(default_factory=dict)
    lower_bound_only: bool = False

    @property
    def ok(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    @property
    def se(self) -> float:
        return max((self.high - self.low) / (2 * 1.96), 0.01) if self.ok else float("inf")


def _clip01(x):
    return float(min(1.0, max(0.0, x)))


def estimate_snp_imbalance(segs: pd.DataFrame, s: dict) -> Estimate:
    """(a) purity from the B-allele fraction of imbalanced segments, the state read from the log2 sign."""
    sg = s["segment"]
    est = Estimate("snp_imbalance")
    if segs is None or not len(segs):
        est.evidence = "no segments"
        return est
    used, vals, ws = [], [], []
    usable = segs[(segs["snps"] >= sg["min_snps"]) & (segs["bins"] >= sg["min_bins"])]
    for _, r in usable.iterrows():
        if not (r["imbalance_p"] < sg["imbalance_p"] and 0.5 - r["baf"] >= sg["min_imbalance"]):
            continue
        b, bse, v = r["baf"], r["baf_se"], r["log2"]
        bse = math.hypot(bse, sg["baf_sd_floor"])
        if v < -sg["neutral_log2"]:
            state, f = "loss (LOH)", lambda x: (1 - 2 * x) / (1 - x)
        elif abs(v) <= sg["neutral_log2"]:
            state, f = "copy-neutral LOH", lambda x: 1 - 2 * x
        else:
            ratio = 2 ** v
            p_gain = 1 / b - 2 if b > 0 else float("inf")
            if not (0 < p_gain <= 1 and abs((2 * ratio - 2) - p_gain) <= max(0.1, 3 * r["log2_se"] * 2 * ratio)):
                continue       # amplification or multi-copy gain: the B-allele share alone does not fix purity
            state, f = "single-copy gain", lambda x: 1 / x - 2
        p = _clip01(f(b))
        dp = abs(f(min(0.5, b + bse)) - f(max(1e-3, b - bse))) / 2
        if not 0 < p <= 1:
            continue
        used.append(f"{r['chrom']}:{r['start'] + 1}-{r['end']} {state} b={b:.3f} ({r['snps']} SNPs) -> {p:.3f}")
        vals.append(p)
        ws.append(1 / max(dp, 0.01) ** 2)
    est.counts = {"segments": len(used), "snps": int(usable["snps"].sum()) if len(usable) else 0,
                  "segments_with_snps": int(len(usable))}
    if not vals:
        est.evidence = (f"no segment with significant allelic imbalance ({len(usable)} segment(s) with >= "
                        f"{sg['min_snps']} SNPs)")
        return est
    vals, ws = np.array(vals), np.array(ws)
    mean = float((vals * ws).sum() / ws.sum())
    se = math.sqrt(1 / ws.sum())
    if len(vals) > 1:            # over-dispersion between segments widens the interval
        chi = float((ws * (vals - mean) ** 2).sum()) / (len(vals) - 1)
        se *= math.sqrt(max(1.0, chi))
    est.value, est.low, est.high = mean, _clip01(mean - 1.96 * se), _clip01(mean + 1.96 * se)
    est.evidence = "; ".join(used)
    return est


def _states(max_cn: int):
    st = [(a, b) for a in range(0, max_cn + 1) for b in range(0, a + 1) if a + b <= max_cn]
    return np.array(st, dtype=float)


def estimate_segment_fit(segs: pd.DataFrame, s: dict, grid=None) -> Estimate:
    """(b) joint integer-state fit of depth ratio + BAF over a purity grid (ploidy 2)."""
    sg = s["segment"]
    est = Estimate("segment_fit")
    if segs is None or not len(segs):
        est.evidence = "no segments"
        return est
    use = segs[segs["bins"] >= sg["min_bins"]].reset_index(drop=True)
    grid = np.round(np.arange(0.05, 1.0001, 0.01), 2) if grid is None else grid
    states = _states(int(sg["max_cn"]))
    tot, minor = states[:, 0] + states[:, 1], states[:, 1]
    ratio_obs = 2 ** use["log2"].to_numpy()
    r_se = np.maximum(use["log2_se"].to_numpy(), 1e-3) * np.log(2) * ratio_obs
    has_b = (use["snps"].to_numpy() >= sg["min_snps"])
    b_obs = np.where(has_b, use["baf"].to_numpy(), np.nan)
    b_se = np.hypot(np.where(has_b, use["baf_se"].to_numpy(), 1.0), sg["baf_sd_floor"])
    pen = float(sg["copy_penalty"])
    # informative: a segment departing from diploid heterozygous (1, 1) in depth or in allelic balance
    dev_neutral = ((ratio_obs - 1) / r_se) ** 2 + np.where(has_b, ((b_obs - 0.5) / b_se) ** 2, 0)
    informative = dev_neutral > 9 + 2 * has_b
    informative &= (np.abs(use["log2"].to_numpy()) > sg["neutral_log2"]) | (
        has_b & (use["imbalance_p"].to_numpy() < sg["imbalance_p"]))
    est.counts = {"segments": int(informative.sum()), "segments_total": int(len(use))}
    if informative.sum() < sg["min_segments"]:
        est.evidence = f"no segment departs from copy-neutral heterozygous ({len(use)} segment(s))"
        return est
    # raw: the fit itself (its profile decides identifiability and the interval); penalised: PURPLE-style
    # parsimony (per copy away from 2) only picks the value inside that interval
    raw, score = np.zeros(grid.size), np.zeros(grid.size)
    for gi, p in enumerate(grid):
        r_mod = ((1 - p) * 2 + p * tot) / 2
        b_mod = ((1 - p) + p * minor) / np.maximum((1 - p) * 2 + p * tot, 1e-9)
        d = ((ratio_obs[informative, None] - r_mod[None, :]) / r_se[informative, None]) ** 2
        bb = np.where(has_b[informative, None], ((b_obs[informative, None] - b_mod[None, :]) /
                                                 b_se[informative, None]) ** 2, 0.0)
        raw[gi] = (d + bb).min(axis=1).sum()
        score[gi] = (d + bb + pen * np.abs(tot - 2)[None, :]).min(axis=1).sum()
    inside = grid[raw <= raw.min() + 3.84]
    within = (grid >= inside.min()) & (grid <= inside.max())
    i = int(np.flatnonzero(within)[np.argmin(score[within])])
    est.value, est.low, est.high = float(grid[i]), float(inside.min()), float(inside.max())
    # the interval touching both grid ends: the fit has no purity information (e.g. a lone amplification)
    if est.high - est.low > 0.5 or (est.low <= grid[0] + 1e-9 and est.high >= grid[-1] - 1e-9):
        est.evidence = (f"fit not identifiable: purities [{est.low:.2f}, {est.high:.2f}] explain the "
                        f"{int(informative.sum())} informative segment(s) equally well (e.g. an amplification or a "
                        f"gain alone, whose copy number is unknown)")
        est.counts["unidentifiable"] = True
        est.value = est.low = est.high = None
        return est
    p = grid[i]
    r_mod = ((1 - p) * 2 + p * tot) / 2
    b_mod = ((1 - p) + p * minor) / np.maximum((1 - p) * 2 + p * tot, 1e-9)
    parts, anchors = [], 0
    for j in np.flatnonzero(informative):
        d = ((ratio_obs[j] - r_mod) / r_se[j]) ** 2 + (((b_obs[j] - b_mod) / b_se[j]) ** 2 if has_b[j] else 0) \
            + pen * np.abs(tot - 2)
        k = int(np.argmin(d))
        r = use.iloc[j]
        parts.append(f"{r['chrom']}:{r['start'] + 1}-{r['end']} {int(states[k, 0])}+{int(states[k, 1])}")
        anchors += int(states[k, 1] == 0 and has_b[j])
    # only a segment that lost an allele (measured by its SNPs) pins purity: with the minor allele kept at one
    # copy, (n + 1, 1) at purity p and (m + 1, 1) at p n / m give the same depth and B-allele fraction
    est.counts["allele_loss_segments"] = anchors
    if not anchors:
        est.evidence = (f"fit not identifiable: no segment with a lost allele among {int(informative.sum())} "
                        f"informative segment(s) ({'; '.join(parts[:6])}); gains/amplifications keeping one minor "
                        "copy fit every purity (copy number unknown)")
        est.counts["unidentifiable"] = True
        est.value = est.low = est.high = None
        return est
    est.evidence = (f"best purity {p:.2f} (chi-square profile interval [{est.low:.2f}, {est.high:.2f}]) over "
                    f"{int(informative.sum())} segment(s): " + "; ".join(parts[:12]))
    return est


def _clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple:
    lo = stats.beta.ppf(alpha / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def read_hotspot_rows(path) -> pd.DataFrame:
    if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return pd.DataFrame()
    df = read_table(path)
    return df


def estimate_somatic_vaf(hs: pd.DataFrame) -> Estimate:
    """(c) the highest somatic (not germline-like) detected hotspot VAF: p = 2 VAF (clonal het, diploid)."""
    est = Estimate("somatic_vaf")
    if hs is None or not len(hs) or "status" not in hs.columns:
        est.evidence = "no hotspot table"
        return est
    det = hs[(hs["status"] == "detected") & (hs.get("germline_like", pd.Series("no", index=hs.index)) != "yes")]
    est.counts = {"somatic_variants": int(len(det))}
    if not len(det):
        est.evidence = "no somatic hotspot variant detected"
        return est
    vaf = det["vaf"].map(parse_float)
    top = det.loc[vaf.idxmax()]
    k, n = int(float(top["alt_reads"])), int(float(top["depth"]))
    v = k / n
    lo, hi = _clopper_pearson(k, n)
    est.value = _clip01(2 * v)
    est.low = _clip01(2 * lo / (1 + lo))        # Wyatt: TF = 2/(1 + 1/VAF) at the binomial lower bound
    est.high = _clip01(2 * hi)
    est.evidence = (f"{top['gene']} {top['protein_change']} VAF {v:.4f} ({k}/{n}); 2 x VAF = {2 * v:.3f}, interval "
                    f"[2/(1+1/VAF_low) = {est.low:.3f}, 2 x VAF_high = {est.high:.3f}] (Clopper-Pearson 95%); "
                    f"assumes a clonal heterozygous variant in a diploid region (a subclone gives a lower value)")
    est.counts.update(alt_reads=k, depth=n)
    return est


def amplification_bound(segs: pd.DataFrame, s: dict) -> Estimate:
    """Plasma: lower bound on f implied by the strongest significant gain: pCN = 2(1-f) + f C with C <= max_cn."""
    pl = s["plasma"]
    est = Estimate("amplification_bound", lower_bound_only=True)
    if segs is None or not len(segs):
        return est
    ok = segs[(segs["bins"] >= 3) & (segs["log2"] >= pl["amplification_min_log2"])
              & (segs["log2"] / segs["log2_se"] >= pl["amplification_z"])]
    if not len(ok):
        est.evidence = "no significant amplification"
        return est
    r = ok.loc[ok["log2"].idxmax()]
    pcn = 2 * 2 ** float(r["log2"])
    cmax = float(pl["amplification_max_cn"])
    est.value = est.low = _clip01((pcn - 2) / (cmax - 2))
    est.high = 1.0
    est.evidence = (f"{r['chrom']}:{int(r['start']) + 1}-{int(r['end'])} pCN {pcn:.2f}: f >= (pCN - 2)/({cmax:g} - 2) "
                    f"= {est.value:.3f} (tumour CN <= {cmax:g}, ASSUMED)")
    est.counts = {"segments": 1}
    return est


def detection_limit(hs: pd.DataFrame, min_power: float = 0.8) -> tuple:
    """LoD of tumour DNA from the hotspot codons: the smallest f at which a clonal heterozygous mutation (VAF f/2)
    at the median-depth codon reaches ``min_power`` given the hotspots stage's background-aware minimum alt count."""
    if hs is None or not len(hs) or "min_alt_detectable" not in hs.columns:
        return None, "no hotspot table"
    d = hs[hs["min_alt_detectable"].map(parse_float).notna() & hs["depth"].map(parse_float).notna()]
    if not len(d):
        return None, "no codon with a detection threshold"
    depth = d["depth"].map(parse_float).to_numpy()
    kreq = d["min_alt_detectable"].map(parse_float).to_numpy()
    j = int(np.argsort(depth)[len(depth) // 2])
    n, k = int(depth[j]), int(kreq[j])
    grid = np.linspace(0.0005, 0.5, 1000)
    pw = stats.binom.sf(k - 1, n, grid)
    v = float(grid[np.argmax(pw >= min_power)]) if (pw >= min_power).any() else 0.5
    return _clip01(2 * v), (f"LoD f = {2 * v:.4f}: a clonal heterozygous mutation (VAF {v:.4f}) at the median codon "
                            f"depth {n} needs >= {k} alt fragments (background-aware) for power {min_power:g}")


# ---------------------------------------------------------------------------------------------------------------
# combination
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class PurityResult:
    sample_id: str
    patient_id: str
    sample_type: str
    purity: float | None = None
    low: float | None = None
    high: float | None = None
    source: str = ""
    states: list = field(default_factory=list)
    reason: str = ""
    warnings: list = field(default_factory=list)
    estimates: dict = field(default_factory=dict)
    data_estimate: float | None = None
    lod: float | None = None
    clonal_power: dict = field(default_factory=dict)


def _ivw(ests: list) -> tuple:
    w = np.array([1 / e.se ** 2 for e in ests])
    v = np.array([e.value for e in ests])
    m = float((w * v).sum() / w.sum())
    return m, math.sqrt(1 / w.sum())


def combine(sample: dict, ests: dict, s: dict, lod: tuple = (None, "")) -> PurityResult:
    st = sample["sample_type"]
    res = PurityResult(sample["sample_id"], sample.get("patient_id", ""), st, estimates=ests)
    tol = float(s["disagreement"])
    cn = [e for k, e in ests.items() if k in ("snp_imbalance", "segment_fit") and e.ok]
    vaf = ests.get("somatic_vaf")
    data = None
    used = []
    if cn:
        m, se = _ivw(cn)
        used = list(cn)
        widen = []
        if vaf is not None and vaf.ok:
            if abs(vaf.value - m) <= tol:
                used.append(vaf)
            elif vaf.value < m:     # the expected direction for a subclonal SNV: flagged, not averaged in
                res.warnings.append(f"DISAGREEMENT: somatic_vaf {vaf.value:.3f} vs copy-number estimate {m:.3f} "
                                    f"(> {tol:g}); the SNV may be subclonal")
            else:                   # a clonal SNV cannot exceed the purity: the interval must include it
                widen.append(vaf)
                res.warnings.append(f"DISAGREEMENT: somatic_vaf {vaf.value:.3f} above the copy-number estimate "
                                    f"{m:.3f} (> {tol:g})")
        if len(cn) == 2 and abs(cn[0].value - cn[1].value) > tol:
            res.warnings.append(f"DISAGREEMENT: {cn[0].method} {cn[0].value:.3f} vs {cn[1].method} "
                                f"{cn[1].value:.3f} (> {tol:g})")
        m, se = _ivw(used)
        lo, hi = _clip01(m - 1.96 * se), _clip01(m + 1.96 * se)
        if len(cn) == 2 and abs(cn[0].value - cn[1].value) > tol or widen:   # honest interval: span them all
            lo = min([lo] + [e.low for e in used + widen])
            hi = max([hi] + [e.high for e in used + widen])
        data = (m, lo, hi, "+".join(e.method for e in used))
    elif vaf is not None and vaf.ok:
        data = (vaf.value, vaf.low, vaf.high, vaf.method)
        used = [vaf]
    amp = ests.get("amplification_bound")
    if data is None and amp is not None and amp.ok and st == PLASMA:
        data = (amp.value, amp.low, 1.0, "amplification_bound (lower bound only)")
        used = [amp]
    if data is not None and amp is not None and amp.ok and data[0] < amp.low - tol:
        res.warnings.append(f"DISAGREEMENT: estimate {data[0]:.3f} below the amplification bound {amp.low:.3f}")
    res.data_estimate = data[0] if data else None
    floor = float(s["min_purity"][st if st in (TISSUE, PLASMA) else TISSUE])
    sheet = parse_float(sample.get("purity"))
    if sheet is not None:
        res.purity, res.low, res.high, res.source = sheet, sheet, sheet, "sheet"
        res.reason = "purity from the sample sheet"
        if data is not None and abs(data[0] - sheet) > float(s["sheet_disagreement"]):
            res.warnings.append(f"SHEET_DISAGREEMENT: data estimate {data[0]:.3f} [{data[1]:.3f}, {data[2]:.3f}] "
                                f"({data[3]}) differs from the sheet's {sheet:g} by > {s['sheet_disagreement']:g}")
    elif data is not None:
        res.purity, res.low, res.high, res.source = round(data[0], 4), round(data[1], 4), round(data[2], 4), data[3]
        res.reason = "; ".join(f"{e.method}: {e.evidence}" for e in used)
    else:
        why = "; ".join(f"{k}: {e.evidence}" for k, e in ests.items() if e.evidence)
        res.lod = lod[0]
        if st == PLASMA:
            res.states.append("NO_TUMOR_EVIDENCE")
            res.source = "below_detection"
            res.low = 0.0
            res.high = lod[0]
            res.reason = (f"ctDNA below detection (LoD {lod[0]:.3g}: {lod[1]}); " if lod[0] is not None else
                          "ctDNA below detection (LoD unknown); ") + why
        else:
            res.states.append("UNRESOLVED")
            res.source = "none"
            res.reason = "nothing to estimate from (copy-neutral, no allelic imbalance, no somatic SNV): " + why
    if res.purity is not None and res.purity < floor:
        res.states.append("LOW_PURITY")
        res.reason += f"; below the floor {floor:g} (purity.min_purity; PURPLE WARN_LOW_PURITY 0.20)"
    return res


# ---------------------------------------------------------------------------------------------------------------
# purity-aware absence: power to see a clonal heterozygous mutation
# ---------------------------------------------------------------------------------------------------------------

def local_cn(segs: pd.DataFrame | None, chrom: str, pos: int, p: float) -> float:
    """Tumour copy number at a position from its segment's log2 at purity p (2 when unknown)."""
    if segs is None or not len(segs) or not p:
        return 2.0
    sel = segs[(segs["chrom"] == str(chrom)) & (segs["start"] < pos) & (segs["end"] >= pos)]
    if not len(sel):
        return 2.0
    ratio = 2 ** float(sel.iloc[0]["log2"])
    return max(1.0, (2 * ratio - 2 * (1 - p)) / p)


def clonal_power(hs: pd.DataFrame, res: PurityResult, segs: pd.DataFrame | None, s: dict) -> dict:
    """Per not_detected / not_evaluable hotspot codon: power to detect a clonal heterozygous mutation at the lower
    end of the purity interval (VAF = p / (2(1-p) + p C), C the local tumour CN, one mutated copy)."""
    out = {}
    if hs is None or not len(hs) or res.purity is None or "min_alt_detectable" not in hs.columns:
        return out
    p = res.low if res.low is not None else res.purity
    if not p or p <= 0:
        return out
    for _, r in hs.iterrows():
        if r["status"] not in ("not_detected", "not_evaluable"):
            continue
        n, k = parse_float(r["depth"]), parse_float(r["min_alt_detectable"])
        if n is None or k is None or n <= 0:
            continue
        pos = int(str(r.get("positions", "0")).split(",")[0] or 0)
        c = local_cn(segs, r.get("chrom", ""), pos, res.purity)
        v = p / (2 * (1 - p) + p * c)
        pw = float(stats.binom.sf(int(k) - 1, int(n), v))
        out.setdefault(r["gene"], {})[str(r["codon"])] = {
            "depth": int(n), "min_alt": int(k), "local_cn": round(c, 2), "clonal_vaf": round(v, 4),
            "power_clonal": round(pw, 3), "power_at_lod": parse_float(r.get("power_at_lod")),
            "status": r["status"]}
    return out


# ---------------------------------------------------------------------------------------------------------------
# output rows
# ---------------------------------------------------------------------------------------------------------------

def _r(x, nd=4):
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), nd)


def result_row(res: PurityResult) -> dict:
    row = dict(sample_id=res.sample_id, patient_id=res.patient_id, sample_type=res.sample_type,
               purity=_r(res.purity), purity_low=_r(res.low), purity_high=_r(res.high), source=res.source,
               states=",".join(res.states), reason=res.reason, warnings="; ".join(res.warnings),
               data_estimate=_r(res.data_estimate), lod=_r(res.lod))
    for m in METHODS + ("amplification_bound",):
        e = res.estimates.get(m)
        row[f"{m}"] = _r(e.value) if e is not None and e.ok else ""
        row[f"{m}_low"] = _r(e.low) if e is not None and e.ok else ""
        row[f"{m}_high"] = _r(e.high) if e is not None and e.ok else ""
        row[f"{m}_counts"] = json.dumps(e.counts, sort_keys=True) if e is not None else ""
        row[f"{m}_evidence"] = e.evidence if e is not None else ""
    return row


def tumor_fraction_row(res: PurityResult) -> dict:
    """The TUMOR_FRACTION biomarker row (docs/biomarkers.md); this stage is its one owner."""
    base = dict(patient_id=res.patient_id, sample_id=res.sample_id, sample_type=res.sample_type,
                biomarker="TUMOR_FRACTION")
    vaf = res.estimates.get("somatic_vaf")
    max_vaf = None
    if vaf is not None and vaf.ok and vaf.counts.get("depth"):
        max_vaf = vaf.counts["alt_reads"] / vaf.counts["depth"]
    details = {"method": "sample_sheet" if res.source == "sheet" else res.source, "purity_low": res.low,
               "purity_high": res.high, "states": res.states, "warnings": res.warnings, "max_vaf": max_vaf,
               "data_estimate": res.data_estimate, "lod": res.lod, "clonal_power": res.clonal_power}
    if res.purity is not None:
        ev = (f"{'tumour purity' if res.sample_type == TISSUE else 'ctDNA fraction'} {res.purity:.3g} "
              f"[{res.low:.3g}-{res.high:.3g}] ({res.source})")
        if res.states:
            ev += f"; states {','.join(res.states)}"
        if res.warnings:
            ev += "; " + "; ".join(res.warnings)
        return dict(base, status="positive", value=f"{res.purity:.4g}", evidence=ev, details=json.dumps(details))
    if "NO_TUMOR_EVIDENCE" in res.states:
        return dict(base, status="negative", value="",
                    evidence=f"below detection: {res.reason}", details=json.dumps(details))
    return dict(base, status="not_evaluable", value="", evidence=res.reason, details=json.dumps(details))


# ---------------------------------------------------------------------------------------------------------------
# drivers
# ---------------------------------------------------------------------------------------------------------------

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


def estimate_sample(sample: dict, bam: str | None, regions: dict | None, cnr=None, cns=None,
                    hs: pd.DataFrame | None = None, normal_bam: str | None = None, fasta: str | None = None,
                    settings: dict | None = None) -> tuple:
    """Run every estimator for one sample; returns (PurityResult, segments table, SNP table)."""
    s = settings or purity_settings()
    snps = pd.DataFrame(columns=["chrom", "pos", "depth", "allele1", "allele2", "found_in", "minor"])
    if bam and regions:
        sc = allele_counts(bam, regions, s["snp"]["min_baseq"], fasta)
        nc = allele_counts(normal_bam, regions, s["snp"]["min_baseq"], fasta) if normal_bam else None
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
    failed = None
    if qc_tsv:
        row = read_qc_row(qc_tsv)
        if str(row.get("status", "")).lower() != "pass":
            failed = row.get("reasons") or "QC status fail"
    if failed:
        res = qc_failed_result(sample, failed)
        segs, snps = None, pd.DataFrame()
    else:
        regions = read_regions(targets_bed, int(s["snp"]["flank"])) if targets_bed else None
        qcs = list(normal_qcs or [None] * len(normal_bams or []))
        normal = next((b for b, q in zip(normal_bams or [], qcs)
                       if b and (q is None or str(read_qc_row(q).get("status", "")).lower() == "pass")), None)
        res, segs, snps = estimate_sample(sample, bam, regions, _read_cnvkit(cnr_path), _read_cnvkit(cns_path),
                                          read_hotspot_rows(hotspots_tsv), normal, fasta, s)
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
        over = {}
        if a.config:
            import yaml

            over = (yaml.safe_load(Path(a.config).read_text()) or {}).get("purity") or {}
        s = purity_settings(over)
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
