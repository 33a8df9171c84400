"""Copy-number stage: CNVkit (used as a library, ``cnvlib``) plus gene-level ERBB2/ERBB3 calls.

Method and thresholds: docs/copy-number.md. In short, per sample:

1. ``coverage`` of target and antitarget bins: the files ``cnvlib.coverage.do_coverage`` writes, by
   :mod:`erbbscreen.cnv_coverage` without importing CNVkit (its import is most of a coverage job's CPU),
2. one cohort reference (``cnvlib.reference``): the configured ``.cnn``, else pooled from the sheet's
   normal samples, else flat,
3. ``fix`` -> ``segment`` -> ``segmetrics`` -> ``call`` exactly as ``cnvkit.py batch`` chains them
   (``cnvlib/batch.py::batch_run_sample``), all in one process,
4. gene level: the weighted median log2 of the bins inside the gene with a bootstrap confidence
   interval, and the log2 of the segment covering the gene; the segment value is used when it lies
   inside the bins' interval, otherwise the bin value (a focal change diluted by segmentation),
5. absolute copy number with CNVkit's purity formula ``n = (r*2^v - x*(1-p))/p``
   (``cnvlib.call._log2_ratio_to_absolute``), plasma pCN (p = 1) and ApCN (UNVERIFIED analogy),
6. calls ``amplification / gain / neutral / loss / not_evaluable`` and ERBB2_CN / ERBB3_CN biomarker rows.

Command line (registered in ``erbbscreen.cli`` as ``copy-number``)::

    erbb-screen copy-number --cnr X.cnr [--cns X.cns] [--purity P] [--sample-type tumor|plasma]
        [--genes ERBB2,ERBB3] [--transcripts genes.bed12] [--out genes.tsv] [--biomarkers biomarkers.tsv]

works on existing CNVkit files (any build or contig naming; without ``--transcripts`` the gene's bins
are found from the ``.cnr`` ``gene`` column).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from erbbscreen.errors import InputError
from erbbscreen.tables import atomic_output, parse_float, read_qc_row, read_table, write_table, write_text

os.environ.setdefault("MPLBACKEND", "Agg")  # cnvlib imports pyplot; never open a display

log = logging.getLogger("erbbscreen.copynumber")

#: contract value of ``sample_type`` per sample kind
TISSUE, PLASMA, NORMAL = "tumor", "plasma", "normal"
#: biomarker row written per gene (other genes are co-alteration flags in genes.tsv only)
BIOMARKER_OF_GENE = {"ERBB2": "ERBB2_CN", "ERBB3": "ERBB3_CN"}
#: CNVkit's names for off-target bins (cnvlib.params.ANTITARGET_ALIASES)
ANTITARGET_NAMES = ("Antitarget", "Background")
#: label of the ApCN formula in every output (domain-spec §2.2: the published formula was not found)
APCN_LABEL = {
    "purity_analogy": "UNVERIFIED: ApCN = (pCN - 2*(1-f))/f, CNVkit purity formula with p = ctDNA fraction "
                      "(analogy; not validated against Siravegna 2019 / Nakamura 2021)",
    "divide_by_fraction": "UNVERIFIED: ApCN = pCN/f (naive scaling; not validated against Siravegna 2019 / "
                          "Nakamura 2021)",
}
DEFAULT_PURITY_SOURCE = "default (UNVERIFIED)"
REFERENCE_TYPES = ("cnn", "pooled_normals", "flat")


# ---------------------------------------------------------------------------------------------
# settings: the defaults live in the config schema (one source of truth), config.yaml repeats them
# ---------------------------------------------------------------------------------------------


def _schema_defaults(node: dict) -> dict:
    """Nested ``default:`` values of an object schema node."""
    out = {}
    for key, sub in node.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            out[key] = _schema_defaults(sub)
        elif "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
    return out


def cnv_defaults() -> dict:
    """The ``cnv:`` defaults from workflow/schemas/config.schema.yaml."""
    from erbbscreen.settings import load_schema

    return _schema_defaults(load_schema()["properties"]["cnv"])


def _deep_update(base: dict, over: dict) -> dict:
    for key, val in (over or {}).items():
        if isinstance(val, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], val)
        else:
            base[key] = val
    return base


def cnv_settings(cnv: dict | None = None) -> dict:
    """Schema defaults overlaid with a (possibly partial) ``cnv:`` config section."""
    return _deep_update(cnv_defaults(), copy.deepcopy(cnv or {}))


# ---------------------------------------------------------------------------------------------
# formulas
# ---------------------------------------------------------------------------------------------

def log2_to_copies(log2: float, purity: float | None = None, ploidy: int = 2) -> float:
    """Absolute copy number from a log2 ratio: CNVkit's ``n = (r*2^v - x*(1-p))/p`` (r = x = ploidy,
    autosomes), clamped at 0 as CNVkit does; ``purity`` None or 1 gives ``n = r*2^v``.

    The same expression, in the same operation order, as ``cnvlib.call._log2_ratio_to_absolute`` (CNVkit 0.9.14;
    tests/test_copynumber.py checks bit-for-bit equality): written out here because importing cnvlib costs a
    cohort job about 1.5 s of CPU for one line of arithmetic (issue #10)."""
    if log2 is None or not math.isfinite(float(log2)):
        return float("nan")
    if purity is not None and not 0 < purity <= 1:
        raise ValueError(f"purity must be in (0, 1], got {purity}")
    log2 = float(log2)
    if purity and purity < 1.0:
        return max(0.0, (ploidy * 2**log2 - ploidy * (1 - purity)) / purity)
    return float(ploidy * 2**log2)


def adjusted_plasma_cn(pcn: float, fraction: float, method: str = "purity_analogy", ploidy: int = 2) -> float:
    """ApCN from plasma copy number and ctDNA fraction. UNVERIFIED (domain-spec §2.2): the published
    definition was not found; ``purity_analogy`` = (pCN - ploidy*(1-f))/f (clamped at 0),
    ``divide_by_fraction`` = pCN/f."""
    if not 0 < fraction <= 1:
        raise ValueError(f"ctDNA fraction must be in (0, 1], got {fraction}")
    if method == "purity_analogy":
        return max(0.0, (pcn - ploidy * (1 - fraction)) / fraction)
    if method == "divide_by_fraction":
        return pcn / fraction
    raise ValueError(f"unknown ApCN method {method!r}; use purity_analogy or divide_by_fraction")


# ---------------------------------------------------------------------------------------------
# bin-level statistics
# ---------------------------------------------------------------------------------------------


def weighted_median(values, weights=None) -> float:
    """Weighted median (lower median at an exact half); unweighted when weights are absent or all zero."""
    values = np.asarray(values, dtype=float)
    if weights is None:
        weights = np.ones_like(values)
    weights = np.asarray(weights, dtype=float)
    ok = np.isfinite(values) & np.isfinite(weights) & (weights >= 0)
    values, weights = values[ok], weights[ok]
    if not len(values):
        return float("nan")
    if weights.sum() <= 0:
        weights = np.ones_like(values)
    order = np.argsort(values, kind="mergesort")
    values, weights = values[order], weights[order]
    cum = np.cumsum(weights)
    return float(values[np.searchsorted(cum, 0.5 * cum[-1])])


def _weighted_medians(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`weighted_median` of every row of ``values`` (finite) with ``weights`` (finite, >= 0), all rows at
    once in numpy: the same stable sort, running sums and first crossing of half the total per row, so each value
    equals the row's :func:`weighted_median` exactly (tests/test_copynumber.py)."""
    weights = np.where(weights.sum(axis=1, keepdims=True) > 0, weights, 1.0)  # all-zero row: unweighted
    order = np.argsort(values, axis=1, kind="mergesort")
    values = np.take_along_axis(values, order, axis=1)
    cum = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)
    first = (cum >= 0.5 * cum[:, -1:]).argmax(axis=1)
    return values[np.arange(len(values)), first]


def bootstrap_ci(values, weights=None, alpha: float = 0.05, n_boot: int = 1000, seed: int = 0) -> tuple:
    """Percentile bootstrap interval of the weighted median, resampling bins with replacement.

    Deterministic (seeded). With one bin the interval is that bin's value (no spread to measure)."""
    values = np.asarray(values, dtype=float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(values) & np.isfinite(weights)
    values, weights = values[ok], weights[ok]
    k = len(values)
    if k == 0:
        return float("nan"), float("nan")
    if k == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(n_boot, k))
    if (weights < 0).any():  # weighted_median drops negative weights per resample: the general path
        stats = np.fromiter((weighted_median(values[i], weights[i]) for i in idx), float, n_boot)
    else:
        stats = _weighted_medians(values[idx], weights[idx])
    lo, hi = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def is_antitarget(genes: pd.Series) -> pd.Series:
    return genes.astype(str).isin(ANTITARGET_NAMES)


def bin_mapd(cnr: pd.DataFrame) -> float:
    """Median absolute pairwise difference of consecutive on-target bins' log2 (within a chromosome).

    A sample-noise measure robust to real copy-number changes (only breakpoints add large differences).
    Antitarget bins are left out (their depth, hence noise, differs) unless there are no target bins."""
    df = cnr
    if "gene" in df.columns:
        tgt = df[~is_antitarget(df["gene"])]
        df = tgt if len(tgt) >= 2 else df
    df = df[~_uncovered(df)]
    diffs = []
    for _, grp in df.groupby("chromosome", sort=False):
        vals = grp.sort_values("start")["log2"].to_numpy(dtype=float)
        if len(vals) > 1:
            diffs.append(np.abs(np.diff(vals)))
    if not diffs:
        return float("nan")
    return float(np.median(np.concatenate(diffs)))


# ---------------------------------------------------------------------------------------------
# gene regions and gene-level measurement
# ---------------------------------------------------------------------------------------------


@dataclass
class GeneRegion:
    gene: str
    chrom: str | None = None
    start: int | None = None  # 0-based half-open
    end: int | None = None


def gene_regions(genes, transcripts: str | None = None) -> dict:
    """{gene: GeneRegion}. With a BED12 of canonical transcripts, the transcript span; without one the
    region is left empty and bins are found by the .cnr ``gene`` column (:func:`gene_bins`)."""
    out = {g: GeneRegion(g) for g in genes}
    if transcripts:
        from erbbscreen.annotation import read_transcripts

        tx = read_transcripts(transcripts)
        for g in genes:
            if g in tx:
                out[g] = GeneRegion(g, tx[g].chrom, int(tx[g].start), int(tx[g].end))
    return out


def _gene_column_has(genes: pd.Series, gene: str) -> np.ndarray:
    return genes.astype(str).map(lambda s: gene in s.split(",")).to_numpy(dtype=bool)


#: CNVkit writes log2 = -20 (cnvlib.params.NULL_LOG2_COVERAGE) for a bin without reads; after reference
#: normalisation it can reach about -31. Such a bin has no measurement, so it never enters a gene's log2.
NULL_LOG2 = -20.0


def region_contig(cnr: pd.DataFrame, region: GeneRegion):
    """The .cnr's name for the gene's contig (``chr7`` vs ``7`` matched), or None when no bin lies on it."""
    from erbbscreen.annotation import contig_alias

    return contig_alias(str(region.chrom), set(cnr["chromosome"].astype(str))) if region.chrom is not None else None


def _uncovered(bins: pd.DataFrame) -> np.ndarray:
    log2 = bins["log2"].astype(float).to_numpy()
    zero = bins["depth"].astype(float).to_numpy() <= 0 if "depth" in bins.columns else np.zeros(len(bins), bool)
    return zero | (log2 <= NULL_LOG2) | ~np.isfinite(log2)


def gene_bins(cnr: pd.DataFrame, region: GeneRegion, covered: bool = True) -> pd.DataFrame:
    """On-target bins of a gene: overlapping the gene's span when known, else labelled with the gene in
    the ``gene`` column (comma-separated labels such as ``ERBB2,MIR4728`` count). With ``covered`` only bins
    with reads (no CNVkit null log2, depth > 0)."""
    if region.chrom is not None:
        sel = ((cnr["chromosome"].astype(str) == region_contig(cnr, region)) & (cnr["end"] > region.start)
               & (cnr["start"] < region.end)).to_numpy()
    else:
        sel = _gene_column_has(cnr["gene"], region.gene) if "gene" in cnr.columns else np.zeros(len(cnr), bool)
    out = cnr[sel]
    if "gene" in out.columns:
        out = out[~is_antitarget(out["gene"])]
    return out[~_uncovered(out)] if covered else out


@dataclass
class GeneMeasure:
    """Gene-level log2 from one sample's bins and segments (log2 values, before any purity model)."""
    gene: str
    chrom: str | None = None
    start: int | None = None
    end: int | None = None
    bins: int = 0
    log2_bins: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    log2_segment: float = float("nan")
    segments: int = 0
    log2: float = float("nan")
    log2_source: str = ""
    problem: str = ""  # non-empty: the gene cannot be measured (reason)


def measure_gene(cnr: pd.DataFrame, cns: pd.DataFrame | None, region: GeneRegion, min_bins: int = 3,
                 alpha: float = 0.05, n_boot: int = 1000) -> GeneMeasure:
    """Gene-level log2 with a confidence interval.

    * ``log2_bins``: weighted median (CNVkit bin weights) of the gene's on-target bins; ``ci_low/ci_high``:
      percentile bootstrap of that median over bins (``alpha``).
    * ``log2_segment``: the segment holding most of the gene's bins (``segments`` = how many overlap).
    * ``log2``: the segment value when it lies inside the bins' interval (it then agrees with the gene and
      averages more bins); otherwise the bin value (``log2_source = bins``): a focal change diluted or
      split by segmentation (cnvkit#644, #486). The interval always comes from the gene's own bins.
    """
    m = GeneMeasure(region.gene, region.chrom, region.start, region.end)
    bins = gene_bins(cnr, region)
    m.bins = int(len(bins))
    if len(bins):
        m.chrom = m.chrom or str(bins["chromosome"].iloc[0])
        m.start = int(bins["start"].min()) if m.start is None else m.start
        m.end = int(bins["end"].max()) if m.end is None else m.end
    if m.bins == 0:
        if region.chrom is not None and len(cnr) and region_contig(cnr, region) is None:
            m.problem = (f"{region.gene} is not in the reference: no bin on its contig {region.chrom} (a reference "
                         f"holding only some chromosomes, or a contig of N)")
        elif len(all_bins := gene_bins(cnr, region, covered=False)):
            m.problem = (f"no coverage in the gene's {len(all_bins)} bin(s) (depth 0 / CNVkit null log2): no copy "
                         f"number where there is no coverage")
        else:
            m.problem = "no bins in the gene (not covered by the panel / bins)"
        return m
    vals = bins["log2"].to_numpy(dtype=float)
    wts = bins["weight"].to_numpy(dtype=float) if "weight" in bins.columns else None
    m.log2_bins = weighted_median(vals, wts)
    seed = int.from_bytes(region.gene.encode()[:4].ljust(4, b"\0"), "little")
    m.ci_low, m.ci_high = bootstrap_ci(vals, wts, alpha, n_boot, seed)
    if m.bins < min_bins:
        m.problem = f"{m.bins} bin(s) in the gene, fewer than the {min_bins} required (cnv.min_gene_bins)"
    if cns is not None and len(cns):
        seg = cns[(cns["chromosome"].astype(str) == str(bins["chromosome"].iloc[0]))]
        counts = []
        for _, s in seg.iterrows():
            n = int(((bins["start"] < s["end"]) & (bins["end"] > s["start"])).sum())
            if n:
                counts.append((n, float(s["log2"])))
        m.segments = len(counts)
        if counts:
            m.log2_segment = max(counts, key=lambda t: t[0])[1]
    if math.isfinite(m.log2_segment) and m.ci_low <= m.log2_segment <= m.ci_high:
        m.log2, m.log2_source = m.log2_segment, "segment"
    else:
        m.log2 = m.log2_bins
        m.log2_source = "bins" if not math.isfinite(m.log2_segment) else "bins (segment outside gene CI)"
    return m


# ---------------------------------------------------------------------------------------------
# purity / tumour fraction
# ---------------------------------------------------------------------------------------------


@dataclass
class Purity:
    """Tumour purity (tissue) or ctDNA fraction (plasma) used for one sample."""
    value: float | None  # None: unknown (plasma without a fraction)
    source: str  # sample_sheet | estimated:<method> | default (UNVERIFIED) | unknown | normal (p = 1)
    known: bool  # measured for this sample (sheet or estimate), not a default
    note: str = ""
    low: float | None = None  # interval of an estimated purity (purity stage); None = a point value
    high: float | None = None
    states: tuple = ()  # purity-stage states (LOW_PURITY, NO_TUMOR_EVIDENCE, UNRESOLVED)

    @property
    def interval(self) -> tuple:
        """(low, high) the calls must hold across: the estimate's interval, else the point value."""
        if self.value is None:
            return (None, None)
        return (self.low if self.low is not None else self.value, self.high if self.high is not None else self.value)


_float_or_none = parse_float  # erbbscreen.tables.parse_float


def read_tumor_fraction(path) -> dict | None:
    """The TUMOR_FRACTION row of a published biomarkers.tsv (the purity stage owns it) as dict(status, value,
    method, evidence, low, high, states)."""
    if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None
    df = read_table(path)
    if "biomarker" not in df.columns:
        return None
    rows = df[df["biomarker"] == "TUMOR_FRACTION"]
    if not len(rows):
        return None
    row = rows.iloc[0].to_dict()
    try:
        details = json.loads(row.get("details") or "{}")
    except json.JSONDecodeError:
        details = {}
    return {"status": row.get("status", ""), "value": _float_or_none(row.get("value")),
            "method": details.get("method", "unknown"), "evidence": row.get("evidence", ""), "details": details,
            "low": _float_or_none(details.get("purity_low")), "high": _float_or_none(details.get("purity_high")),
            "states": tuple(details.get("states") or ()), "lower_bound_only": bool(details.get("lower_bound_only"))}


def resolve_purity(sample_type: str, sheet_purity=None, tumor_fraction: dict | None = None,
                   settings: dict | None = None) -> Purity:
    """Purity for tissue / ctDNA fraction for plasma, in order: sample sheet, the purity stage's TUMOR_FRACTION
    estimate (value + interval), then (tissue only) the configured default, flagged UNVERIFIED."""
    s = settings or cnv_settings()
    if sample_type == NORMAL:
        return Purity(1.0, "normal (p = 1)", True)
    p = _float_or_none(sheet_purity)
    if p is not None:
        return Purity(p, "sample_sheet", True)
    note = ""
    if tumor_fraction:
        if tumor_fraction.get("status") == "positive" and tumor_fraction.get("value"):
            method = tumor_fraction.get("method") or "unknown"
            if method == "sample_sheet":
                return Purity(tumor_fraction["value"], "sample_sheet", True)
            if tumor_fraction.get("lower_bound_only"):      # e.g. implied by an amplification: no ApCN from it
                note = f"fraction known only as >= {tumor_fraction['value']:g} ({method})"
                if sample_type == PLASMA:
                    return Purity(None, "unknown", False, note)
                return Purity(float(s["default_purity"]), DEFAULT_PURITY_SOURCE, False, note)
            return Purity(float(tumor_fraction["value"]), f"estimated:{method}", True, low=tumor_fraction.get("low"),
                          high=tumor_fraction.get("high"), states=tuple(tumor_fraction.get("states") or ()))
        note = f"tumour fraction not estimated: {tumor_fraction.get('evidence') or tumor_fraction.get('status')}"
    else:
        note = "no tumour-fraction estimate available"
    if sample_type == PLASMA:
        return Purity(None, "unknown", False, note)
    return Purity(float(s["default_purity"]), DEFAULT_PURITY_SOURCE, False, note)


# ---------------------------------------------------------------------------------------------
# calls
# ---------------------------------------------------------------------------------------------


def classify_cn(cn: float, settings: dict, cn_ci: tuple | None = None) -> str:
    """gain / neutral / loss from copy number rounded to the nearest integer (CNVkit's integer ``cn``).

    With ``cn_ci`` (copy number at the gene's log2 interval ends) the whole interval must round into the
    class: a gain needs CN(ci_low) >= gain_min_cn - 0.5, a loss CN(ci_high) <= loss_max_cn + 0.5. A change the
    bins cannot confirm is ``neutral`` (amplification has already been excluded; at a low purity / ctDNA
    fraction the correction magnifies small log2 wobbles into whole copies)."""
    n = int(round(cn))
    lo, hi = cn_ci if cn_ci is not None else (cn, cn)
    if n >= settings["gain_min_cn"] and lo >= settings["gain_min_cn"] - 0.5:
        return "gain"
    if n <= settings["loss_max_cn"] and hi <= settings["loss_max_cn"] + 0.5:
        return "loss"
    return "neutral"


def _fmt(x, nd=2):
    return "NA" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def decide_amplification(m: GeneMeasure, cn_at, p: float | None, p_trusted: bool, floor: float | None,
                         amp_min: float, amp_ci_low_min: float, p_range: tuple | None = None) -> tuple[str, str, dict]:
    """Amplification decision under uncertainty of the gene log2 (CI) and of purity.

    ``cn_at(log2, purity)`` maps to copy number. With a trusted purity (measured and >= floor) every
    quantity uses it; otherwise the decision must hold for any purity in [floor, 1]: amplification at
    p = 1 (the smallest correction) and 'not amplified' at p = floor (the largest) - with no floor
    (``floor`` None) a negative is impossible.

    Returns (verdict, reason, numbers): verdict ``amplified``, ``not_amplified`` or ``undecided``.
    Amplified: round(CN) >= amp_min and the CN at the CI's lower bound >= amp_ci_low_min.
    Not amplified: round(CN at the CI's upper bound) < amp_min (the larger over both purity ends).
    ``p_range`` (low, high): an estimated purity's interval; a trusted purity's decision must then hold across it
    (amplification at the high end, the smallest correction; not amplified at the low end).
    """
    lo, hi = p_range if p_range is not None and None not in p_range else (p, p)
    p_cons = hi if p_trusted else 1.0
    p_lib = lo if p_trusted else floor
    cn_cons = cn_at(m.log2, p_cons)
    cn_lo = cn_at(min(m.ci_low, m.log2), p_cons)
    nums = {"cn_conservative": cn_cons, "cn_ci_low_conservative": cn_lo, "purity_conservative": p_cons}
    if round(cn_cons) >= amp_min and cn_lo >= amp_ci_low_min:
        across = f" across the purity interval [{lo:g}, {hi:g}]" if p_trusted and lo != hi else ""
        return "amplified", (f"CN {_fmt(cn_cons)} >= {amp_min:g} with CI lower bound CN {_fmt(cn_lo)} >= "
                             f"{amp_ci_low_min:g}" + ("" if p_trusted else " even at purity 1") + across), nums
    if p_lib is None:
        return "undecided", "", nums
    v_hi = max(m.ci_high, m.log2)
    cn_hi = max(cn_at(v_hi, p_lib), cn_at(v_hi, p_cons))  # correction moves CN away from the ploidy
    nums.update(cn_ci_high_liberal=cn_hi, purity_liberal=p_lib)
    if round(cn_hi) < amp_min:
        return "not_amplified", (f"CI upper bound CN {_fmt(cn_hi)} < {amp_min:g}"
                                 + (f" for every purity in [{p_lib:g}, {p_cons:g}]" if p_lib != p_cons else "")), nums
    if round(cn_cons) >= amp_min:
        why = f"CN {_fmt(cn_cons)} reaches {amp_min:g} but the CI lower bound CN {_fmt(cn_lo)} < {amp_ci_low_min:g}"
    else:
        why = f"CN {_fmt(cn_cons)} < {amp_min:g} but the CI upper bound CN {_fmt(cn_hi)} reaches {amp_min:g}"
    return "undecided", why, nums


@dataclass
class GeneCall:
    """One row of genes.tsv (contract copy_number columns first, extras after)."""
    sample_id: str
    patient_id: str
    sample_type: str
    gene: str
    log2: float = float("nan")
    copy_number: float = float("nan")
    purity: float | None = None
    call: str = "not_evaluable"
    reason: str = ""
    status: str = "not_evaluable"  # biomarker status: positive / negative / not_evaluable
    chrom: str | None = None
    start: int | None = None
    end: int | None = None
    bins: int = 0
    log2_bins: float = float("nan")
    log2_segment: float = float("nan")
    log2_source: str = ""
    segments: int = 0
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    cn_ci_low: float = float("nan")
    cn_ci_high: float = float("nan")
    cn_int: int | None = None
    pcn: float = float("nan")
    apcn: float = float("nan")
    apcn_ci_low: float = float("nan")
    apcn_ci_high: float = float("nan")
    apcn_status: str = ""
    apcn_method: str = ""
    tumor_fraction: float | None = None
    purity_source: str = ""
    purity_low: float | None = None
    purity_high: float | None = None
    fraction_free_z: float = float("nan")  # plasma: gene log2 / its noise (reference spread + sample bins)
    fraction_free_p: float = float("nan")
    reference_type: str = ""
    mapd: float = float("nan")
    segment_method: str = ""
    thresholds: str = ""


def fraction_free_test(m: GeneMeasure, mapd: float, ref_spread: float | None, settings: dict) -> tuple:
    """Plasma amplification without the ctDNA fraction: the gene's log2 against that gene's noise, i.e. the
    reference's per-bin spread across the normals (CNVkit .cnn ``spread``) combined with this sample's bin noise
    (MAPD / 0.954 = SD for Gaussian noise), over the gene's n >= min_bins bins; the weighted median costs a factor
    1.2533 in efficiency. One-sided z-test (PureCN's purity-independent amplification test is the model,
    docs/purity.md). Returns (z, p, significant)."""
    t = settings["plasma"]["amplification_test"]
    if m.bins < int(t["min_bins"]) or not math.isfinite(m.log2) or not math.isfinite(mapd):
        return float("nan"), float("nan"), False
    from scipy.special import ndtr  # norm.sf(z) == ndtr(-z) exactly, without scipy.stats' ~1 s import

    sd_sample = mapd / 0.954
    sd = math.sqrt(sd_sample ** 2 + (ref_spread or 0.0) ** 2)
    se = 1.2533 * sd / math.sqrt(m.bins)
    z = m.log2 / se
    pval = float(ndtr(-z))
    return z, pval, bool(pval < float(t["p_value"]) and m.log2 >= float(t["min_log2"]))


def call_gene(m: GeneMeasure, sample: dict, purity: Purity, settings: dict, mapd: float = float("nan"),
              reference_type: str = "", segment_method: str = "", ref_spread: float | None = None) -> GeneCall:
    """Copy number and call for one measured gene of one sample (see docs/copy-number.md, "Calls")."""
    s = settings
    ploidy = int(s["ploidy"])
    stype = sample["sample_type"]
    plasma = stype == PLASMA
    pl = s["plasma"]
    row = GeneCall(sample["sample_id"], sample.get("patient_id", ""), stype, m.gene, chrom=m.chrom, start=m.start,
                   end=m.end, bins=m.bins, log2_bins=m.log2_bins, log2_segment=m.log2_segment,
                   log2_source=m.log2_source, segments=m.segments, ci_low=m.ci_low, ci_high=m.ci_high, log2=m.log2,
                   purity=purity.value, purity_source=purity.source, reference_type=reference_type, mapd=mapd,
                   segment_method=segment_method, purity_low=purity.low, purity_high=purity.high)
    if plasma:
        row.tumor_fraction = purity.value
        row.apcn_method = APCN_LABEL[pl["apcn_method"]]
        amp_min, ci_min, floor = pl["amplification_min_apcn"], pl["amplification_min_ci_low_apcn"], pl["min_fraction"]
        row.thresholds = (f"plasma amplification ApCN >= {amp_min:g} (UNVERIFIED analogy to tissue) with CI lower "
                          f"bound >= {ci_min:g}; ctDNA fraction floor {floor:g} (UNVERIFIED)")
    else:
        amp_min, ci_min, floor = s["amplification_min_cn"], s["amplification_min_ci_low_cn"], s["min_purity"]
        row.thresholds = (f"amplification CN >= {amp_min:g} [TWIST amp_cn_limit; NCT05356897] with CI lower bound "
                          f">= {ci_min:g}; purity floor {floor:g}")
    if m.problem and not math.isfinite(m.log2):
        row.reason = m.problem
        row.apcn_status = "not_evaluable" if plasma else ""
        return row
    # plasma copy number (no correction) is reported for every sample with a value
    row.pcn = log2_to_copies(m.log2, None, ploidy)
    if m.problem:
        row.reason = m.problem
        row.apcn_status = "not_evaluable" if plasma else ""
        row.copy_number = row.pcn if plasma else log2_to_copies(m.log2, purity.value, ploidy)
        return row

    if plasma:
        method = pl["apcn_method"]

        def cn_at(v, p):
            pcn = log2_to_copies(v, None, ploidy)
            return pcn if p is None or p >= 1 else adjusted_plasma_cn(pcn, p, method, ploidy)

        f = purity.value
        trusted = f is not None and f >= floor and purity.interval[0] >= floor
        if f is not None:
            row.apcn = cn_at(m.log2, f)
            row.apcn_status = "ok" if trusted else "not_evaluable"
        else:
            row.apcn_status = "not_evaluable"
        row.copy_number = row.pcn
        row.cn_ci_low, row.cn_ci_high = cn_at(m.ci_low, None), cn_at(m.ci_high, None)  # pCN interval
        if f is not None:
            row.apcn_ci_low, row.apcn_ci_high = cn_at(m.ci_low, f), cn_at(m.ci_high, f)
        point, point_ci = ((row.apcn, (row.apcn_ci_low, row.apcn_ci_high)) if trusted
                           else (row.pcn, (row.cn_ci_low, row.cn_ci_high)))
        # no fraction (or below the floor): nothing can be excluded, only a pCN-level amplification stands
        lib_floor = floor if trusted else None
    else:
        def cn_at(v, p):
            return log2_to_copies(v, p, ploidy)

        p = purity.value
        trusted = purity.known and p is not None and p >= floor and purity.interval[0] >= floor
        row.copy_number = cn_at(m.log2, p)
        row.cn_ci_low, row.cn_ci_high = cn_at(m.ci_low, p), cn_at(m.ci_high, p)
        point, point_ci = row.copy_number, (row.cn_ci_low, row.cn_ci_high)
        # tissue purity unknown (default): decide only what holds for every purity in [floor, 1];
        # a measured purity below the floor: positive only if it holds at p = 1, never negative
        lib_floor = floor if (trusted or not purity.known) else None
    verdict, why, _ = decide_amplification(m, cn_at, purity.value, trusted, lib_floor, amp_min, ci_min,
                                           purity.interval if purity.known else None)
    row.cn_int = int(round(point))
    if plasma:
        z, pv, ff = fraction_free_test(m, mapd, ref_spread, s)
        row.fraction_free_z, row.fraction_free_p = z, pv
        if ff and verdict != "amplified":
            t = s["plasma"]["amplification_test"]
            verdict = "amplified"
            why = (f"fraction-free test: gene log2 {m.log2:.3f} over {m.bins} bins vs the gene's noise (reference "
                   f"spread {_fmt(ref_spread, 3)}, sample MAPD {mapd:.3f}): z {z:.1f}, one-sided p {pv:.2g} < "
                   f"{t['p_value']:g} (cnv.plasma.amplification_test), log2 >= {t['min_log2']:g}; pCN "
                   f"{_fmt(row.pcn)}; ApCN " + (f"{_fmt(row.apcn)} (fraction {f:.3g} from {purity.source})"
                                                if trusted else "not evaluable (fraction unknown or below the floor)"))

    if math.isfinite(mapd) and mapd > s["max_mapd"]:
        row.call = "not_evaluable"
        row.reason = (f"sample too noisy: bin-level MAPD {mapd:.3f} > {s['max_mapd']:g} (cnv.max_mapd); "
                      f"gene log2 {m.log2:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]")
        return row
    if verdict == "amplified":
        row.call, row.status = "amplification", "positive"
        row.reason = why
    elif verdict == "not_amplified":
        row.call, row.status = classify_cn(point, s, point_ci), "negative"
        row.reason = why
    else:
        row.call = "not_evaluable"
        parts = []
        if plasma and purity.value is None:
            parts.append(f"ctDNA fraction unknown ({purity.note or 'no estimate'}): ApCN not evaluable and no "
                         "confident negative from plasma")
        elif plasma and not trusted:
            parts.append(f"ctDNA fraction {purity.value:g} below the floor {floor:g} (cnv.plasma.min_fraction, "
                         "UNVERIFIED): no confident negative from plasma")
        elif not plasma and purity.known and not trusted:
            parts.append(f"purity {purity.value:g} below the floor {floor:g} (cnv.min_purity)")
        elif not plasma and not purity.known:
            parts.append(f"purity unknown (default {purity.value:g} UNVERIFIED; {purity.note}); the call is not the "
                         f"same for every purity in [{floor:g}, 1]")
        if why:
            parts.append(why)
        row.reason = "; ".join(parts) or "amplification neither confirmed nor excluded"
    return row


# ---------------------------------------------------------------------------------------------
# output rows
# ---------------------------------------------------------------------------------------------

_ROUND = {"log2": 4, "copy_number": 3, "log2_bins": 4, "log2_segment": 4, "ci_low": 4, "ci_high": 4,
          "cn_ci_low": 3, "cn_ci_high": 3, "pcn": 3, "apcn": 3, "apcn_ci_low": 3, "apcn_ci_high": 3, "mapd": 4, "purity": 4, "tumor_fraction": 4,
          "purity_low": 4, "purity_high": 4, "fraction_free_z": 2, "fraction_free_p": 4}


def _clean(x, nd=None):
    if x is None:
        return None
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(x):
            return None
        return round(float(x), nd) if nd is not None else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def genes_frame(calls: list) -> pd.DataFrame:
    """genes.tsv rows (the ``status`` helper column is left out; it lives in biomarkers.tsv)."""
    rows = []
    for c in calls:
        d = asdict(c)
        d.pop("status")
        rows.append({k: _clean(v, _ROUND.get(k)) for k, v in d.items()})
    cols = [f.name for f in GeneCall.__dataclass_fields__.values() if f.name != "status"]
    df = pd.DataFrame(rows, columns=cols)
    for col in ("start", "end", "bins", "segments", "cn_int"):
        df[col] = pd.array([None if v is None or v != v else int(v) for v in df[col]], dtype="Int64")
    return df


def biomarker_rows(calls: list) -> pd.DataFrame:
    """ERBB2_CN / ERBB3_CN rows (docs/biomarkers.md): value = tissue purity-corrected CN, plasma pCN."""
    rows = []
    for c in calls:
        if c.gene not in BIOMARKER_OF_GENE:
            continue
        value = c.pcn if c.sample_type == PLASMA else c.copy_number
        details = {
            "call": c.call, "log2": _clean(c.log2, 4), "copy_number": _clean(c.copy_number, 3),
            "ci_low": _clean(c.cn_ci_low, 3), "ci_high": _clean(c.cn_ci_high, 3),
            "log2_ci_low": _clean(c.ci_low, 4), "log2_ci_high": _clean(c.ci_high, 4),
            "purity": _clean(c.purity, 4), "purity_source": c.purity_source, "pcn": _clean(c.pcn, 3),
            "purity_low": _clean(c.purity_low, 4), "purity_high": _clean(c.purity_high, 4),
            "fraction_free_z": _clean(c.fraction_free_z, 2), "fraction_free_p": _clean(c.fraction_free_p, 6),
            "apcn": _clean(c.apcn, 3), "apcn_ci_low": _clean(c.apcn_ci_low, 3), "apcn_ci_high": _clean(c.apcn_ci_high, 3),
            "apcn_status": c.apcn_status or None, "apcn_method": c.apcn_method or None,
            "tumor_fraction": _clean(c.tumor_fraction, 4), "bins": c.bins, "log2_source": c.log2_source,
            "log2_bins": _clean(c.log2_bins, 4), "log2_segment": _clean(c.log2_segment, 4),
            "reference": c.reference_type, "mapd": _clean(c.mapd, 4), "segment_method": c.segment_method,
            "thresholds": c.thresholds, "reason": c.reason,
        }
        details = {k: v for k, v in details.items() if v is not None and v != ""}
        if c.call == "not_evaluable" and not math.isfinite(c.log2):
            evidence = f"{c.gene} copy number not evaluable: {c.reason}"
        else:
            what = "pCN" if c.sample_type == PLASMA else "CN"
            extra = ""
            if c.sample_type == PLASMA:
                extra = (f", ApCN {_fmt(c.apcn)} ({c.apcn_status}; UNVERIFIED formula), ctDNA fraction "
                         f"{_fmt(c.tumor_fraction, 3)} ({c.purity_source})")
            else:
                extra = f", purity {_fmt(c.purity, 2)} ({c.purity_source})"
            evidence = (f"{c.gene} {c.call}: log2 {_fmt(c.log2, 3)} [{_fmt(c.ci_low, 3)}, {_fmt(c.ci_high, 3)}] from "
                        f"{c.bins} bins ({c.log2_source}), {what} {_fmt(value)}{extra}; {c.reason}; reference "
                        f"{c.reference_type or 'NA'}")
        rows.append({"patient_id": c.patient_id, "sample_id": c.sample_id, "sample_type": c.sample_type,
                     "biomarker": BIOMARKER_OF_GENE[c.gene], "status": c.status,
                     "value": "" if _clean(value) is None else f"{value:.3f}", "evidence": evidence,
                     "details": json.dumps(details, sort_keys=True)})
    return pd.DataFrame(rows, columns=["patient_id", "sample_id", "sample_type", "biomarker", "status", "value",
                                       "evidence", "details"])


def not_evaluable_calls(sample: dict, genes, reason: str, purity: Purity | None = None,
                        reference_type: str = "") -> list:
    """Every gene not_evaluable with one reason (QC failure, unreadable input)."""
    out = []
    for g in genes:
        c = GeneCall(sample["sample_id"], sample.get("patient_id", ""), sample["sample_type"], g, reason=reason,
                     reference_type=reference_type)
        if purity is not None:
            c.purity, c.purity_source = purity.value, purity.source
            if sample["sample_type"] == PLASMA:
                c.tumor_fraction, c.apcn_status = purity.value, "not_evaluable"
        out.append(c)
    return out


def evaluate_sample(cnr: pd.DataFrame, cns: pd.DataFrame | None, sample: dict, purity: Purity, settings: dict,
                    regions: dict, reference_type: str = "", segment_method: str = "",
                    spread: dict | None = None) -> list:
    """GeneCall per configured gene from a sample's bins and segments (``spread``: the reference's per-gene noise
    for the plasma fraction-free amplification test)."""
    s = settings
    mapd = bin_mapd(cnr)
    calls = []
    for gene in s["genes"]:
        region = regions.get(gene) or GeneRegion(gene)
        m = measure_gene(cnr, cns, region, s["min_gene_bins"], s["ci_alpha"], s["bootstrap"])
        calls.append(call_gene(m, sample, purity, s, mapd, reference_type, segment_method,
                               (spread or {}).get(gene)))
    return calls


# ---------------------------------------------------------------------------------------------
# CNVkit steps (in-process)
# ---------------------------------------------------------------------------------------------


def empty_cnarr(kind: str = "cnr"):
    """An empty CNVkit table (header only) - the output for a sample that cannot be analysed."""
    from cnvlib.cnary import CopyNumArray as CNA

    cols = {"cnn": ["chromosome", "start", "end", "gene", "log2", "depth"],
            "cnr": ["chromosome", "start", "end", "gene", "log2", "depth", "weight"],
            "cns": ["chromosome", "start", "end", "gene", "log2", "depth", "probes", "weight"]}[kind]
    return CNA(pd.DataFrame({c: pd.Series(dtype=object if c in ("chromosome", "gene") else float) for c in cols}))


def write_cnarr(arr, path) -> None:
    from skgenome import tabio

    with atomic_output(path) as tmp:
        if len(arr):
            tabio.write(arr, str(tmp))
        else:  # header-only file that CNVkit reads back as an empty table
            arr.data.to_csv(tmp, sep="\t", index=False)


def read_cnarr(path):
    from cnvlib import read

    if Path(path).stat().st_size == 0:
        return empty_cnarr()
    return read(str(path))


def read_regions(path):
    """Panel regions from a BED (3+ columns) or a Picard interval_list (1-based, with @ header)."""
    from skgenome import tabio

    arr = tabio.read_auto(str(path))
    if not len(arr):
        raise InputError([f"{path}: no regions found (expected BED or Picard interval_list)"])
    return arr


def _label_bins(arr, transcripts: str | None):
    """Name bins by the gene(s) whose transcript span they overlap (BED12). A bin whose label already
    names one of those genes keeps it; bins outside every transcript keep their label."""
    if not transcripts or not len(arr):
        return arr
    from erbbscreen.annotation import read_transcripts

    tx = read_transcripts(transcripts)
    labels = (arr["gene"].astype(str).to_numpy() if "gene" in arr else np.full(len(arr), "-")).astype(object)
    hits = [[] for _ in range(len(arr))]
    chroms = arr["chromosome"].astype(str).to_numpy()
    starts, ends = arr["start"].to_numpy(), arr["end"].to_numpy()
    from erbbscreen.annotation import contig_alias

    names = set(chroms)
    for t in tx.values():
        for i in np.flatnonzero((chroms == contig_alias(t.chrom, names)) & (ends > t.start) & (starts < t.end)):
            hits[i].append(t.gene)
    for i, genes in enumerate(hits):
        if genes and not any(g in str(labels[i]).split(",") for g in genes):
            labels[i] = ",".join(genes)
    arr["gene"] = labels
    return arr


def _on_reference(baits, fasta: str, panel: str):
    """The panel regions on contigs the reference FASTA holds, named as there (``7`` = ``chr7``, as preflight's QC
    targets). A partial reference (some chromosomes only) leaves the rest of a panel without sequence: CNVkit
    cannot bin it (GC, repeats), and the genes there come out not_evaluable ('not in the reference')."""
    import pysam

    from erbbscreen.annotation import contig_alias

    with pysam.FastaFile(str(fasta)) as fa:
        contigs = set(fa.references)
    chroms = baits["chromosome"].astype(str)
    renamed = np.array([contig_alias(c, contigs) or "" for c in chroms], dtype=object)
    keep = renamed != ""
    baits["chromosome"] = np.where(keep, renamed, chroms.to_numpy(dtype=object))
    if not keep.all():
        dropped = sorted(set(chroms[~keep]))
        log.warning("panel %s: %d of %d regions lie on contigs absent from the reference %s (%s): not binned",
                    panel, int((~keep).sum()), len(baits), fasta, ", ".join(dropped))
    return baits[keep]


def make_bins(fasta: str, panel: str | None = None, transcripts: str | None = None,
              reference_cnn: str | None = None, settings: dict | None = None, access: str | None = None):
    """Target and antitarget bins as ``cnvkit.py target --split`` / ``antitarget`` make them.

    * ``reference_cnn``: the bins of that reference (``cnvlib.reference.reference2regions``), so coverage
      matches it bin for bin;
    * ``panel`` (BED or interval_list): targets split to ``target_avg_size``, antitargets from the
      accessible genome (``access`` BED or ``cnvlib.access.do_access(fasta)``); for a BED panel computed by
      :mod:`erbbscreen.cnv_bins` (CNVkit's bins, byte for byte, without importing CNVkit: pandas tables), else
      (interval_list, inputs that module does not reproduce) by CNVkit itself (GenomicArrays);
    * neither: whole-genome mode, the accessible genome split into ``wgs_bin_size`` bins, no antitargets.
    """
    s = settings or cnv_settings()
    if panel and not reference_cnn:
        from erbbscreen import cnv_bins

        try:
            acc = cnv_bins.read_bed_regions(str(access)) if access else cnv_bins.access_regions(str(fasta))
            baits = cnv_bins.read_bed_regions(str(panel))
            if not len(baits):
                raise InputError([f"{panel}: no regions found (expected BED or Picard interval_list)"])
            tgt = cnv_bins.targets(_on_reference(baits, fasta, panel), s["target_avg_size"])
            tgt = _label_bins(tgt, transcripts)
            return tgt, cnv_bins.antitargets(tgt, acc, s["antitarget_avg_size"])
        except cnv_bins.Unsupported as exc:
            log.info("bins: %s; using CNVkit's own target/access/antitarget", exc)
    return cnvkit_bins(fasta, panel, transcripts, reference_cnn, s, access)


def cnvkit_bins(fasta: str, panel: str | None, transcripts: str | None, reference_cnn: str | None, settings: dict,
                access: str | None = None):
    """:func:`make_bins` by CNVkit's own functions (cnvlib imported here): the whole-genome and reference .cnn
    modes, and the panel inputs :mod:`erbbscreen.cnv_bins` does not reproduce (tests compare both on the rest)."""
    s = settings
    from cnvlib import access as cn_access
    from cnvlib import antitarget, target
    from skgenome import GenomicArray as GA
    from skgenome import tabio

    if reference_cnn:
        from cnvlib import read
        from cnvlib.reference import reference2regions

        tgt, anti = reference2regions(read(str(reference_cnn)))
        return tgt, anti
    acc = tabio.read_auto(str(access)) if access else cn_access.do_access(fasta)
    if panel:
        baits = _on_reference(read_regions(panel), fasta, panel)
        tgt = target.do_target(baits, None, False, True, avg_size=s["target_avg_size"])
        tgt = _label_bins(tgt, transcripts)
        anti = antitarget.do_antitarget(tgt, access=acc, avg_bin_size=s["antitarget_avg_size"])
    else:
        if "gene" not in acc:
            acc["gene"] = "-"
        tgt = target.do_target(acc, None, False, True, avg_size=s["wgs_bin_size"])
        tgt["gene"] = "-"
        tgt = _label_bins(tgt, transcripts)
        anti = GA([])
    return tgt, anti


def write_bed4(arr, path) -> None:
    """Bins (a CNVkit GenomicArray or a :mod:`erbbscreen.cnv_bins` table) as ``skgenome.tabio.write(arr, path,
    "bed4")`` writes them (:func:`erbbscreen.cnv_bins.write_bed4`); no bins: an empty file."""
    from erbbscreen import cnv_bins

    cnv_bins.write_bed4(getattr(arr, "data", arr), path)


def build_reference(normal_pairs: list, targets_bed: str, antitargets_bed: str, fasta: str, wgs: bool,
                    user_cnn: str | None = None, excluded: dict | None = None) -> tuple:
    """The cohort reference and a record of the choice: user .cnn > pooled normals > flat.

    ``normal_pairs``: [(sample_id, targetcoverage.cnn, antitargetcoverage.cnn)] of usable normals."""
    from cnvlib import read, reference

    excluded = dict(excluded or {})
    choice = {"normals": [], "excluded_normals": excluded, "mode": "wgs" if wgs else "panel"}
    if user_cnn:
        ref = read(str(user_cnn))
        choice.update(type="cnn", path=str(user_cnn),
                      reason=f"cnv.reference given in the config ({user_cnn})")
        return ref, choice
    usable = [(sid, t, a) for sid, t, a in normal_pairs if Path(t).stat().st_size > 0 and len(read(str(t)))]
    for sid, t, _ in normal_pairs:
        if (sid, t) not in [(u[0], u[1]) for u in usable]:
            excluded.setdefault(sid, "empty coverage (sample not analysed)")
    if usable:
        tfiles = [t for _, t, _ in usable]
        afiles = [a for _, _, a in usable] if not wgs else None
        ref = reference.do_reference(tfiles, afiles, fasta, do_gc=True, do_edge=not wgs, do_rmask=True)
        choice.update(type="pooled_normals", normals=[u[0] for u in usable],
                      reason=f"pooled from {len(usable)} normal sample(s) in the sheet "
                             f"(cnvlib.reference.do_reference)")
    else:
        ref = reference.do_reference_flat(targets_bed, antitargets_bed if not wgs else None, fasta)
        why = "no normal sample in the sheet" if not normal_pairs else "no normal sample passed QC"
        choice.update(type="flat", reason=f"{why}: flat reference (log2 0), CNVkit 'not quite as accurate' "
                                          "(doc/pipeline.rst)")
    return ref, choice


#: seed of CNVkit's smoothed segment bootstrap (``segmetrics --ci --smooth-bootstrap``, as cnvkit.py batch runs it).
#: CNVkit 0.9.14 draws it from ``np.random.default_rng()`` without a seed (cnvlib/segmetrics.py
#: ``smooth_samples``), so the .cns CI columns, and through the ``ci`` filter the segments of the .call.cns, changed
#: from run to run and with a sample's place in its batch. CNVkit's own seed for its other random steps (the
#: unsmoothed bootstrap, fix's shuffle, CBS's set.seed) makes them reproducible, per sample.
SEGMETRICS_SEED = 0xA5EED


@contextlib.contextmanager
def _seeded_default_rng(seed: int):
    """Within the block, ``np.random.default_rng()`` called without a seed returns a generator seeded with
    ``seed`` (CNVkit looks the function up at call time); a call with a seed is left as it is."""
    original = np.random.default_rng

    def default_rng(given=None):
        return original(seed if given is None else given)

    np.random.default_rng = default_rng
    try:
        yield
    finally:
        np.random.default_rng = original


def fix_segment_call(tgt_cnn, anti_cnn, ref, wgs: bool, method: str = "haar", purity: float | None = None,
                     ploidy: int = 2, rscript: str = "Rscript", processes: int = 1) -> tuple:
    """``fix`` -> ``segment`` -> ``segmetrics`` -> ``call``, chained as ``cnvlib/batch.py::batch_run_sample``.

    WGS uses ``fix`` without edge correction and ``segment -t 1e-6`` (toolchain.md §3). The .call.cns uses
    ``call -m clonal --purity`` when a purity is given (doc/tumor.rst), else the threshold method.
    Returns (cnr, cns, call_cns) CNVkit arrays."""
    from cnvlib import call, fix, segmentation, segmetrics

    cnarr = fix.do_fix(tgt_cnn, anti_cnn, ref, do_gc=True, do_edge=not wgs, do_rmask=True)
    kwargs = {"threshold": 1e-6} if wgs else {}
    try:
        segments = segmentation.do_segmentation(cnarr, method, rscript_path=rscript, processes=processes, **kwargs)
    except (RuntimeError, OSError) as exc:
        check_segment_method(method, rscript)  # raises the actionable message when R / DNAcopy is the cause
        raise exc
    with _seeded_default_rng(SEGMETRICS_SEED):
        seg_metrics = segmetrics.do_segmetrics(cnarr, segments, interval_stats=["ci"], alpha=0.5, smoothed=True)
    seg_call = call.do_call(seg_metrics, method="none", filters=["ci"])
    seg_alltest = segmetrics.do_segmetrics(cnarr, seg_call, location_stats=["p_ttest"])
    seg_alltest.center_all("median")
    if purity is not None and purity < 1:
        seg_final = call.do_call(seg_alltest, method="clonal", purity=purity, ploidy=ploidy)
    else:
        seg_final = call.do_call(seg_alltest, method="threshold", ploidy=ploidy)
    return cnarr, seg_metrics, seg_final


def check_segment_method(method: str, rscript: str = "Rscript") -> None:
    """Raise an InputError naming the fix when cbs is chosen but R / DNAcopy are missing (called when
    CNVkit's segmentation failed, so a working setup pays nothing for the check)."""
    if method != "cbs":
        return
    import shutil
    import subprocess

    exe = shutil.which(rscript)
    if not exe:
        raise InputError([f"cnv.segment_method is 'cbs' but '{rscript}' was not found; fix: install R and "
                          "Bioconductor DNAcopy (envs/cnvkit.yaml, or run with --sdm conda) or set "
                          "cnv.segment_method: haar"])
    res = subprocess.run([exe, "-e", "suppressMessages(library(DNAcopy))"], capture_output=True, text=True)
    if res.returncode != 0:
        raise InputError([f"cnv.segment_method is 'cbs' but the R package DNAcopy is not installed ({exe}); fix: "
                          "install bioconductor-dnacopy or set cnv.segment_method: haar"])


# ---------------------------------------------------------------------------------------------
# stage drivers (called by workflow/scripts/copy_number*.py)
# ---------------------------------------------------------------------------------------------


def run_bins(fasta: str, out_targets: str, out_antitargets: str, panel: str | None = None,
             transcripts: str | None = None, reference_cnn: str | None = None, settings: dict | None = None) -> dict:
    s = settings or cnv_settings()
    tgt, anti = make_bins(fasta, panel, transcripts, reference_cnn, s, s.get("access"))
    write_bed4(tgt, out_targets)
    write_bed4(anti, out_antitargets)
    info = {"targets": len(tgt), "antitargets": len(anti),
            "mode": "reference_cnn" if reference_cnn else ("panel" if panel else "wgs")}
    log.info("bins: %s", info)
    return info


def _qc_failed(qc_tsv) -> str | None:
    if not qc_tsv:
        return None
    row = read_qc_row(qc_tsv)
    if str(row.get("status", "")).lower() != "pass":
        return row.get("reasons") or "QC status fail"
    return None


def _no_coverage(target_cnn) -> str | None:
    """Reason when a QC-passed sample has a header-only target .cnn: its coverage step could not read the
    alignment (erbbscreen.guard wrote the empty files; the job log has the error)."""
    with open(target_cnn) as fh:
        if sum(1 for _ in zip(range(2), fh)) < 2:
            return (f"the coverage step could not read the alignment ({Path(target_cnn).name} is empty; see the "
                    "coverage job log)")
    return None


def run_coverage(bam: str, qc_tsv: str | None, targets_bed: str, antitargets_bed: str, out_target: str,
                 out_antitarget: str, fasta: str | None = None, settings: dict | None = None,
                 processes: int = 1) -> bool:
    """Coverage of one sample (:mod:`erbbscreen.cnv_coverage`: CNVkit's files without importing CNVkit); a QC-failed
    sample gets header-only .cnn files and its BAM is not opened."""
    from erbbscreen import cnv_coverage

    s = settings or cnv_settings()
    failed = _qc_failed(qc_tsv)
    if failed:
        log.warning("sample failed QC (%s): alignment not opened, empty coverage written", failed)
        cnv_coverage.write_empty_cnn(out_target)
        cnv_coverage.write_empty_cnn(out_antitarget)
        return False
    tgt, anti = cnv_coverage.sample_coverage(bam, targets_bed, antitargets_bed, fasta, int(s["min_mapq"]), processes)
    cnv_coverage.write_cnn(tgt, out_target)
    cnv_coverage.write_cnn(anti, out_antitarget)
    return True


def run_reference(normals: list, targets_bed: str, antitargets_bed: str, fasta: str, out_cnn: str,
                  out_json: str, wgs: bool, user_cnn: str | None = None) -> dict:
    """``normals``: [dict(sample_id, target, antitarget, qc)]; QC-failed normals are left out."""
    pairs, excluded = [], {}
    for n in normals:
        failed = _qc_failed(n.get("qc"))
        if failed:
            excluded[n["sample_id"]] = f"failed QC: {failed}"
        elif _no_coverage(n["target"]):
            excluded[n["sample_id"]] = _no_coverage(n["target"])
        else:
            pairs.append((n["sample_id"], n["target"], n["antitarget"]))
    ref, choice = build_reference(pairs, targets_bed, antitargets_bed, fasta, wgs, user_cnn, excluded)
    choice["bins"] = int(len(ref))
    write_cnarr(ref, out_cnn)
    write_text(out_json, json.dumps(choice, indent=2, sort_keys=True) + "\n")
    log.info("reference: %s", choice)
    return choice


def run_segment(sample: dict, qc_tsv: str | None, target_cnn: str, antitarget_cnn: str, reference_cnn: str,
                reference_json: str | None, outputs: dict, settings: dict | None = None, wgs: bool = False,
                processes: int = 1, transcripts: str | None = None) -> bool:
    """fix + segment + call (+ plots) for one sample (the CNVkit part, before purity); writes ``outputs`` (keys cnr,
    cns, call_cns; the PNGs only when ``outputs`` also names scatter and zoom: ``cnv.plots``). The .call.cns uses ``call -m clonal`` only with a sheet purity (an estimated
    purity needs these segments first); genes.tsv (:func:`run_calls`) uses the purity stage's value and interval."""
    s = settings or cnv_settings()
    plots = "scatter" in outputs and "zoom" in outputs
    ref_type = _reference_type(reference_json)
    failed = _qc_failed(qc_tsv) or _no_coverage(target_cnn)
    zoom_gene = s["plot_gene"]
    if failed:
        reason = f"sample failed QC: {failed}"
        for key, kind in (("cnr", "cnr"), ("cns", "cns"), ("call_cns", "cns")):
            write_cnarr(empty_cnarr(kind), outputs[key])
        if not plots:
            return False
        from erbbscreen import cnv_plots

        cnv_plots.message_png(outputs["scatter"], f"{sample['sample_id']}: no copy-number profile\n{reason}")
        cnv_plots.message_png(outputs["zoom"], f"{sample['sample_id']} {zoom_gene}: not evaluable\n{reason}")
        return False
    from cnvlib import read

    purity = resolve_purity(sample["sample_type"], sample.get("purity"), None, s)
    tgt, anti, ref = read(str(target_cnn)), read_cnarr(antitarget_cnn), read(str(reference_cnn))
    call_purity = purity.value if (purity.known and sample["sample_type"] == TISSUE
                                   and purity.value >= s["min_purity"]) else None
    cnr, cns, call_cns = fix_segment_call(tgt, anti, ref, wgs, s["segment_method"], call_purity,
                                          int(s["ploidy"]), s["rscript"], processes)
    write_cnarr(cnr, outputs["cnr"])
    write_cnarr(cns, outputs["cns"])
    write_cnarr(call_cns, outputs["call_cns"])
    if not plots:
        return True
    from erbbscreen import cnv_plots

    cnv_plots.genome_scatter(cnr, cns, outputs["scatter"], title=f"{sample['sample_id']} ({ref_type} reference)")
    region = gene_regions([zoom_gene], transcripts).get(zoom_gene) or GeneRegion(zoom_gene)
    cnv_plots.gene_zoom(cnr, cns, region, outputs["zoom"], padding=int(s["plot_padding"]), call=None)
    return True


def _reference_type(reference_json) -> str:
    if reference_json and Path(reference_json).is_file():
        return json.loads(Path(reference_json).read_text()).get("type", "")
    return ""


def gene_spread(reference_cnn: str | None, regions: dict) -> dict:
    """{gene: RMS of the reference's per-bin ``spread`` over the gene's bins} (the gene's noise across the normals
    pooled into the CNVkit reference; None when the reference has no spread column, e.g. a flat reference)."""
    out = {}
    if not reference_cnn or not Path(reference_cnn).is_file():
        return out
    ref = pd.read_csv(reference_cnn, sep="\t", dtype={"chromosome": str, "gene": str})
    if "spread" not in ref.columns:
        return out
    for gene, region in regions.items():
        b = gene_bins(ref, region) if "log2" in ref.columns else ref.iloc[0:0]
        sp = b["spread"].to_numpy(dtype=float) if len(b) else np.array([])
        sp = sp[np.isfinite(sp)]
        out[gene] = float(np.sqrt(np.mean(sp ** 2))) if sp.size else None
    return out


def run_calls(samples: list, reference_cnn: str | None, reference_json: str | None, out_table: str,
              settings: dict | None = None, transcripts: str | None = None) -> pd.DataFrame:
    """Gene-level calls of every tumour/plasma sample (one process for the cohort: pandas only, no CNVkit import).

    ``samples``: [dict(sample, qc, cnr, cns, tumor_fraction, genes, biomarkers)] where ``tumor_fraction`` is the
    purity stage's biomarkers.tsv (TUMOR_FRACTION row with the interval). One sample's bad input becomes that
    sample's not_evaluable rows; the cohort continues."""
    s = settings or cnv_settings()
    ref_type = _reference_type(reference_json)
    regions = gene_regions(s["genes"], transcripts)
    spread = gene_spread(reference_cnn, regions)
    frames = [genes_frame(_sample_calls(item, s, regions, spread, ref_type)) for item in samples]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out_table:
        write_table(df, out_table, "copy_number")
    return df


def _sample_calls(item: dict, s: dict, regions: dict, spread: dict, ref_type: str) -> list:
    """GeneCalls of one sample (see :func:`run_calls`); writes its genes.tsv and biomarkers.tsv."""
    sample = item["sample"]
    tf = read_tumor_fraction(item.get("tumor_fraction")) if sample["sample_type"] in (TISSUE, PLASMA) else None
    purity = resolve_purity(sample["sample_type"], sample.get("purity"), tf, s)
    log.info("sample %s (%s): purity %s [%s, %s] from %s %s", sample["sample_id"], sample["sample_type"],
             purity.value, purity.low, purity.high, purity.source, purity.note)
    failed = _qc_failed(item.get("qc"))
    try:
        if failed:
            calls = not_evaluable_calls(sample, s["genes"], f"sample failed QC: {failed}", purity, ref_type)
        else:
            cnr = pd.read_csv(item["cnr"], sep="\t", dtype={"chromosome": str, "gene": str})
            cns = pd.read_csv(item["cns"], sep="\t", dtype={"chromosome": str, "gene": str})
            calls = evaluate_sample(cnr, cns, sample, purity, s, regions, ref_type, s["segment_method"],
                                    spread)
    except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        log.error("%s: copy-number calls failed: %s", sample["sample_id"], exc)
        calls = not_evaluable_calls(sample, s["genes"], f"copy-number input unreadable: {exc}", purity, ref_type)
    write_table(genes_frame(calls), item["genes"], "copy_number")
    write_table(biomarker_rows(calls), item["biomarkers"], "biomarkers")
    return calls


def run_sample(sample: dict, qc_tsv: str | None, target_cnn: str, antitarget_cnn: str, reference_cnn: str,
               reference_json: str | None, outputs: dict, settings: dict | None = None,
               transcripts: str | None = None, tumor_fraction_tsv: str | None = None, wgs: bool = False,
               processes: int = 1) -> list:
    """One sample end to end outside the workflow: :func:`run_segment` then its gene calls (``outputs`` keys cnr,
    cns, call_cns, scatter, zoom, genes, biomarkers; ``tumor_fraction_tsv``: a TUMOR_FRACTION biomarkers.tsv)."""
    s = settings or cnv_settings()
    run_segment(sample, qc_tsv, target_cnn, antitarget_cnn, reference_cnn, reference_json, outputs, s, wgs,
                processes, transcripts)
    regions = gene_regions(s["genes"], transcripts)
    item = dict(sample=sample, qc=qc_tsv, cnr=outputs["cnr"], cns=outputs["cns"], tumor_fraction=tumor_fraction_tsv,
                genes=outputs["genes"], biomarkers=outputs["biomarkers"])
    return _sample_calls(item, s, regions, gene_spread(reference_cnn, regions), _reference_type(reference_json))


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _read_cnvkit_table(path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype={"chromosome": str, "gene": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError([f"{path}: cannot read as a CNVkit table ({exc})"])
    missing = [c for c in ("chromosome", "start", "end", "log2") if c not in df.columns]
    if missing:
        raise InputError([f"{path}: missing column(s) {', '.join(missing)}; expected a CNVkit .cnr/.cns "
                          "(chromosome, start, end, gene, log2, ...)"])
    if "gene" not in df.columns:
        df["gene"] = "-"
    df["gene"] = df["gene"].fillna("-")
    return df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen copy-number",
        description="Gene-level ERBB2/ERBB3 (and co-alteration) copy-number calls from existing CNVkit files: "
                    "weighted-median log2 of the gene's bins with a bootstrap CI, the covering segment, "
                    "purity-corrected CN (CNVkit formula), plasma pCN/ApCN (ApCN UNVERIFIED). "
                    "Method: docs/copy-number.md.")
    ap.add_argument("--cnr", required=True, help="CNVkit bin-level .cnr")
    ap.add_argument("--cns", help="CNVkit segments .cns (optional; without it the gene's bins alone are used)")
    ap.add_argument("--purity", type=float, help="tumour purity (tumor) or ctDNA fraction (plasma), 0 < p <= 1")
    ap.add_argument("--sample-type", choices=[TISSUE, PLASMA, NORMAL], default=TISSUE)
    ap.add_argument("--sample-id", help="sample id for the output rows (default: .cnr file name)")
    ap.add_argument("--patient-id", help="patient id for the output rows (default: the sample id)")
    ap.add_argument("--genes", help="comma-separated genes (default: cnv.genes from the config)")
    ap.add_argument("--transcripts", help="BED12 of canonical transcripts (name = gene symbol); without it the "
                                          ".cnr gene column locates the genes")
    ap.add_argument("--config", help="config YAML whose cnv: section overrides the defaults")
    ap.add_argument("--out", help="genes table (TSV; default: stdout)")
    ap.add_argument("--biomarkers", help="also write ERBB2_CN/ERBB3_CN biomarker rows here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        from erbbscreen.settings import config_section

        s = cnv_settings(config_section(args.config, "cnv"))
        if args.genes:
            s["genes"] = [g.strip() for g in args.genes.split(",") if g.strip()]
        if args.purity is not None and not 0 < args.purity <= 1:
            raise InputError([f"--purity {args.purity}: must be in (0, 1]"])
        cnr = _read_cnvkit_table(args.cnr)
        cns = _read_cnvkit_table(args.cns) if args.cns else None
        regions = gene_regions(s["genes"], args.transcripts)
    except InputError as exc:
        print(f"erbb-screen copy-number: {exc}", file=sys.stderr)
        return 1
    sid = args.sample_id or Path(args.cnr).name.split(".")[0]
    sample = {"sample_id": sid, "patient_id": args.patient_id or sid, "sample_type": args.sample_type,
              "purity": args.purity}
    purity = resolve_purity(args.sample_type, args.purity, None, s)
    if purity.source == DEFAULT_PURITY_SOURCE:
        purity.note = "no --purity given"
    calls = evaluate_sample(cnr, cns, sample, purity, s, regions, "", "")
    df = genes_frame(calls)
    if args.out:
        write_table(df, args.out, "copy_number")
    else:
        from erbbscreen.tables import order_columns

        order_columns(df, "copy_number").to_csv(sys.stdout, sep="\t", index=False, na_rep="")
    if args.biomarkers:
        write_table(biomarker_rows(calls), args.biomarkers, "biomarkers")
    for c in calls:
        print(f"{c.gene}: {c.call} (log2 {_fmt(c.log2, 3)}, CN {_fmt(c.copy_number)}, {c.bins} bins) - {c.reason}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
