"""Copy-number stage (erbbscreen.copynumber): formula, gene-level aggregation, CI, calls, real CNVkit files,
the in-process CNVkit chain on small BAMs built here with pysam, and (when generated) the simulated cohort."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from erbbscreen import copynumber as cn
from erbbscreen.tables import COLUMNS, read_table, write_table

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
COHORT = Path(os.environ.get("ERBBSCREEN_COHORT_DATA", ROOT / "tests" / "cohort" / "data"))  # override: a copy
S = cn.cnv_settings()


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------


def test_config_yaml_cnv_section_matches_schema_defaults():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    section = cfg.get("cnv") or {}
    defaults = cn.cnv_defaults()

    def walk(sec, dflt, path):
        for key, val in sec.items():
            assert key in dflt, f"config cnv.{path}{key} has no schema default"
            if isinstance(val, dict):
                walk(val, dflt[key], f"{path}{key}.")
            else:
                assert val == dflt[key], f"cnv.{path}{key}: config.yaml {val!r} != schema default {dflt[key]!r}"

    walk(section, defaults, "")


def test_settings_overlay_keeps_nested_defaults():
    s = cn.cnv_settings({"plasma": {"min_fraction": 0.1}, "max_mapd": 0.3})
    assert s["plasma"]["min_fraction"] == 0.1
    assert s["plasma"]["apcn_method"] == "purity_analogy"
    assert s["max_mapd"] == 0.3 and s["amplification_min_cn"] == 6.0


# ---------------------------------------------------------------------------------------------
# formulas
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("log2,purity,expected", [
    (0.0, None, 2.0),
    (1.0, None, 4.0),
    (0.0, 0.3, 2.0),                               # neutral stays neutral at any purity
    (math.log2(3.0), 0.5, 10.0),                   # (0.5*10 + 0.5*2)/2 = 3
    (math.log2((0.25 * 6 + 0.75 * 2) / 2), 0.25, 6.0),
    (math.log2((0.7 * 3 + 0.3 * 2) / 2), 0.7, 3.0),
    (math.log2((0.3 * 8 + 0.7 * 2) / 2), 0.3, 8.0),
    (-5.0, 0.5, 0.0),                              # clamped at 0 like CNVkit (#503)
    (1.0, 1.0, 4.0),
])
def test_log2_to_copies(log2, purity, expected):
    assert cn.log2_to_copies(log2, purity) == pytest.approx(expected, abs=1e-9)


def test_log2_to_copies_is_cnvkits_formula():
    from cnvlib.call import _log2_ratio_to_absolute

    # bit-for-bit: copy_number.tsv must not change with the CNVkit helper written out (no cnvlib import)
    for v in (-20.0, -1.2, -0.3, 0.0, 0.1234567, 0.4, 1.7, 3.2):
        for p in (None, 0.1, 0.25, 0.33, 0.6, 0.99, 1.0):
            for ploidy in (2, 3):
                assert cn.log2_to_copies(v, p, ploidy) == float(_log2_ratio_to_absolute(v, ploidy, ploidy, p))


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_log2_to_copies_rejects_bad_purity(bad):
    with pytest.raises(ValueError):
        cn.log2_to_copies(0.5, bad)


@pytest.mark.parametrize("method,pcn,f,expected", [
    ("purity_analogy", 3.0, 0.10, 12.0),
    ("purity_analogy", 2.0, 0.05, 2.0),
    ("purity_analogy", 1.5, 0.10, 0.0),   # clamped
    ("purity_analogy", 3.0, 1.0, 3.0),
    ("divide_by_fraction", 3.0, 0.10, 30.0),
])
def test_adjusted_plasma_cn(method, pcn, f, expected):
    assert cn.adjusted_plasma_cn(pcn, f, method) == pytest.approx(expected)


def test_adjusted_plasma_cn_rejects_unknown_method_and_fraction():
    with pytest.raises(ValueError):
        cn.adjusted_plasma_cn(3.0, 0.1, "guess")
    with pytest.raises(ValueError):
        cn.adjusted_plasma_cn(3.0, 0.0)


# ---------------------------------------------------------------------------------------------
# bin statistics: weighted median, bootstrap CI, MAPD
# ---------------------------------------------------------------------------------------------


def test_weighted_median():
    assert cn.weighted_median([1, 2, 3]) == 2
    assert cn.weighted_median([1, 2, 3], [0, 0, 1]) == 3
    assert cn.weighted_median([0.0, 0.0, 5.0], [1, 1, 1]) == 0.0
    assert math.isnan(cn.weighted_median([]))
    assert cn.weighted_median([1, 2, 3], [0, 0, 0]) == 2  # all-zero weights: unweighted


def test_weighted_medians_of_rows_equal_weighted_median_of_each_row():
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(0, 1, size=(400, 9)), 1)  # rounding: ties, which the stable sort must keep
    weights = rng.choice([0.0, 0.2, 0.5, 1.0], size=(400, 9))
    weights[:20] = 0.0  # all-zero rows: unweighted
    want = np.array([cn.weighted_median(v, w) for v, w in zip(values, weights)])
    assert (cn._weighted_medians(values, weights) == want).all()


def test_bootstrap_ci_contains_median_and_widens_with_noise():
    rng = np.random.default_rng(1)
    tight = rng.normal(1.0, 0.05, 25)
    noisy = rng.normal(1.0, 0.8, 25)
    lo_t, hi_t = cn.bootstrap_ci(tight)
    lo_n, hi_n = cn.bootstrap_ci(noisy)
    assert lo_t <= cn.weighted_median(tight) <= hi_t
    assert lo_n <= cn.weighted_median(noisy) <= hi_n
    assert (hi_n - lo_n) > 5 * (hi_t - lo_t)
    assert cn.bootstrap_ci(tight) == (lo_t, hi_t)  # deterministic
    assert cn.bootstrap_ci([0.7]) == (0.7, 0.7)


def _cnr(rows):
    return pd.DataFrame(rows, columns=["chromosome", "start", "end", "gene", "log2", "depth", "weight"])


def _bins(chrom, start, n, size, gene, log2s, step=None):
    step = step or size
    return [(chrom, start + i * step, start + i * step + size, gene, float(v), 100.0, 1.0)
            for i, v in enumerate(log2s)]


def test_mapd_separates_clean_from_noisy_profiles():
    rng = np.random.default_rng(2)
    clean = _cnr(_bins("chr1", 0, 200, 100, "G", rng.normal(0, 0.1, 200), 1000))
    noisy = _cnr(_bins("chr1", 0, 200, 100, "G", rng.normal(0, 1.0, 200), 1000))
    step = _cnr(_bins("chr1", 0, 200, 100, "G", [0.0] * 100 + [2.0] * 100, 1000))
    assert cn.bin_mapd(clean) < 0.2 < S["max_mapd"] < cn.bin_mapd(noisy)
    assert cn.bin_mapd(step) == 0.0  # a real copy-number change adds one large difference, not noise


# ---------------------------------------------------------------------------------------------
# gene-level value: bins vs segment (dilution), single-bin robustness, gene lookup
# ---------------------------------------------------------------------------------------------


def _focal_case(focal_log2=1.5, seg_log2=None, noise=0.05, n_gene=8, seed=3):
    rng = np.random.default_rng(seed)
    left = _bins("chr17", 0, 40, 200, "BB", rng.normal(0, noise, 40), 1000)
    gene = _bins("chr17", 40_000, n_gene, 200, "ERBB2", rng.normal(focal_log2, noise, n_gene), 1000)
    right = _bins("chr17", 40_000 + n_gene * 1000, 40, 200, "BB", rng.normal(0, noise, 40), 1000)
    cnr = _cnr(left + gene + right)
    if seg_log2 is None:  # one segment over everything: the focal change diluted
        seg_log2 = float(cnr["log2"].mean())
    cns = pd.DataFrame([("chr17", 0, int(cnr["end"].max()), "-", seg_log2, len(cnr), 1.0)],
                       columns=["chromosome", "start", "end", "gene", "log2", "probes", "weight"])
    return cnr, cns


def test_diluted_segment_is_replaced_by_the_gene_bins():
    cnr, cns = _focal_case()
    m = cn.measure_gene(cnr, cns, cn.GeneRegion("ERBB2"))
    assert m.bins == 8
    assert m.log2_segment < 0.3  # the segment averages 8 amplified bins with 80 neutral ones
    assert m.log2_source.startswith("bins")
    assert m.log2 == pytest.approx(1.5, abs=0.1)
    assert m.ci_low <= m.log2 <= m.ci_high and m.ci_low > 1.3


def test_agreeing_segment_is_used():
    cnr, _ = _focal_case()
    gene = cnr[cnr["gene"] == "ERBB2"]
    cns = pd.DataFrame([("chr17", 0, 40_000, "-", 0.0, 40, 1.0),
                        ("chr17", 40_000, int(gene["end"].max()), "-", float(gene["log2"].mean()), 8, 1.0),
                        ("chr17", int(gene["end"].max()), 200_000, "-", 0.0, 40, 1.0)],
                       columns=["chromosome", "start", "end", "gene", "log2", "probes", "weight"])
    m = cn.measure_gene(cnr, cns, cn.GeneRegion("ERBB2"))
    assert m.log2_source == "segment" and m.segments == 1
    assert m.log2 == pytest.approx(float(gene["log2"].mean()))


def test_single_extreme_bin_does_not_drive_the_gene_value():
    rng = np.random.default_rng(4)
    vals = list(rng.normal(0.0, 0.1, 20)) + [4.0]
    cnr = _cnr(_bins("chr17", 0, 21, 200, "ERBB2", vals, 1000))
    m = cn.measure_gene(cnr, None, cn.GeneRegion("ERBB2"))
    assert abs(m.log2) < 0.1 and m.ci_high < 0.3


def test_gene_bins_by_region_by_label_and_without_antitargets():
    rows = (_bins("chr17", 1000, 3, 200, "ERBB2,MIR4728", [1.0, 1.0, 1.0], 500)
            + [("chr17", 3000, 9000, "Antitarget", 5.0, 1.0, 0.1)]
            + _bins("chr17", 9000, 2, 200, "ERBB2", [1.0, 1.0], 500))
    cnr = _cnr(rows)
    assert len(cn.gene_bins(cnr, cn.GeneRegion("ERBB2"))) == 5
    assert len(cn.gene_bins(cnr, cn.GeneRegion("ERBB2", "chr17", 0, 5000))) == 3
    assert len(cn.gene_bins(cnr, cn.GeneRegion("MIR4728"))) == 3
    assert len(cn.gene_bins(cnr, cn.GeneRegion("ERBB3"))) == 0


def test_zero_coverage_bins_give_no_number():
    """CNVkit's null log2 (-20, about -31 after normalisation) for bins without reads never reaches a gene value."""
    rows = _bins("chr17", 1000, 4, 200, "ERBB2", [0.1, 0.0, 0.05, 0.1], 500)
    rows += [("chr17", 5000, 5200, "ERBB2", -20.0, 0.0, 0.0001), ("chr17", 5500, 5700, "ERBB2", -31.2, 0.0, 0.0001)]
    m = cn.measure_gene(_cnr(rows), None, cn.GeneRegion("ERBB2", "chr17", 0, 9000))
    assert m.bins == 4 and -0.1 < m.log2 < 0.2 and m.ci_low > -1
    dead = [("chr17", 1000 + 500 * i, 1200 + 500 * i, "ERBB2", -20.0, 0.0, 0.0001) for i in range(5)]
    m = cn.measure_gene(_cnr(dead), None, cn.GeneRegion("ERBB2", "chr17", 0, 9000))
    assert m.bins == 0 and not np.isfinite(m.log2) and "no coverage" in m.problem
    assert np.isfinite(cn.bin_mapd(_cnr(rows))) and cn.bin_mapd(_cnr(rows)) < 0.2


def test_gene_absent_from_the_reference_and_contig_naming():
    cnr = _cnr(_bins("chr7", 1000, 5, 200, "EGFR", [0.0] * 5, 500))
    m = cn.measure_gene(cnr, None, cn.GeneRegion("ERBB2", "17", 0, 9000))
    assert m.bins == 0 and "ERBB2 is not in the reference" in m.problem and "contig 17" in m.problem
    # b37 '7' in the annotation, UCSC 'chr7' in the bins: the same contig
    m = cn.measure_gene(cnr, None, cn.GeneRegion("EGFR", "7", 0, 9000))
    assert m.bins == 5 and not m.problem


# ---------------------------------------------------------------------------------------------
# calls: every path, table-driven
# ---------------------------------------------------------------------------------------------


def _measure(log2, half_width=0.05, bins=20, problem="", gene="ERBB2"):
    return cn.GeneMeasure(gene, "chr17", 0, 1000, bins, log2, log2 - half_width, log2 + half_width, float("nan"),
                          0, log2, "bins", problem)


def _lg(cnum, p):
    return math.log2((p * cnum + (1 - p) * 2) / 2)


@dataclass
class CallCase:
    name: str
    log2: float
    sample_type: str = "tumor"
    purity: cn.Purity = field(default_factory=lambda: cn.Purity(0.5, "sample_sheet", True))
    half_width: float = 0.05
    bins: int = 20
    problem: str = ""
    mapd: float = 0.15
    settings: dict = field(default_factory=dict)
    call: str = ""
    status: str = ""
    reason_has: str = ""
    apcn_status: str = ""


SHEET = cn.Purity
CALL_CASES = [
    CallCase("CN10 p0.5", _lg(10, 0.5), call="amplification", status="positive"),
    CallCase("CN12 p0.6", _lg(12, 0.6), purity=SHEET(0.6, "sample_sheet", True), call="amplification",
             status="positive"),
    CallCase("CN6 p0.25 limit", _lg(6, 0.25), purity=SHEET(0.25, "sample_sheet", True), half_width=0.03,
             call="amplification", status="positive"),
    CallCase("CN5.7 rounds to 6", _lg(5.7, 0.25), purity=SHEET(0.25, "sample_sheet", True), half_width=0.02,
             call="amplification", status="positive"),
    CallCase("CN3 gain p0.7", _lg(3, 0.7), purity=SHEET(0.7, "sample_sheet", True), call="gain", status="negative"),
    CallCase("neutral", 0.01, call="neutral", status="negative"),
    CallCase("loss", _lg(1, 0.8), purity=SHEET(0.8, "sample_sheet", True), call="loss", status="negative"),
    CallCase("estimated purity", _lg(8, 0.4), purity=SHEET(0.4, "estimated:max_somatic_vaf", True),
             call="amplification", status="positive"),
    CallCase("amp point but wide CI", _lg(7, 0.5), half_width=0.6, call="not_evaluable", status="not_evaluable",
             reason_has="CI lower bound"),
    CallCase("CN5 whose CI reaches 6", _lg(5, 0.3), purity=SHEET(0.3, "sample_sheet", True), half_width=0.15,
             call="not_evaluable", status="not_evaluable", reason_has="CI upper bound"),
    CallCase("default purity, neutral", 0.0, purity=SHEET(1.0, "default (UNVERIFIED)", False), call="neutral",
             status="negative"),
    CallCase("default purity, moderate gain", 0.6, purity=SHEET(1.0, "default (UNVERIFIED)", False),
             call="not_evaluable", status="not_evaluable", reason_has="purity unknown"),
    CallCase("default purity, amplified even at p=1", 2.0, purity=SHEET(1.0, "default (UNVERIFIED)", False),
             call="amplification", status="positive"),
    CallCase("purity below floor", 0.1, purity=SHEET(0.1, "sample_sheet", True), call="not_evaluable",
             status="not_evaluable", reason_has="below the floor"),
    CallCase("too few bins", _lg(10, 0.5), bins=2, problem="2 bin(s) in the gene, fewer than the 3 required",
             call="not_evaluable", status="not_evaluable", reason_has="fewer than"),
    CallCase("noisy sample", _lg(10, 0.5), mapd=0.9, call="not_evaluable", status="not_evaluable",
             reason_has="MAPD"),
    CallCase("plasma CN12 f0.10", _lg(12, 0.10), "plasma", SHEET(0.10, "estimated:max_somatic_vaf", True),
             half_width=0.02, call="amplification", status="positive", apcn_status="ok"),
    CallCase("plasma neutral f0.2", 0.0, "plasma", SHEET(0.2, "sample_sheet", True), half_width=0.02,
             call="neutral", status="negative", apcn_status="ok"),
    CallCase("plasma fraction unknown", 0.0, "plasma", SHEET(None, "unknown", False, "no ctDNA detected"),
             call="not_evaluable", status="not_evaluable", reason_has="ctDNA fraction unknown",
             apcn_status="not_evaluable"),
    CallCase("plasma fraction below floor", 0.0, "plasma", SHEET(0.02, "estimated:max_somatic_vaf", True),
             call="not_evaluable", status="not_evaluable", reason_has="below the floor",
             apcn_status="not_evaluable"),
    CallCase("plasma unknown fraction, pCN amplified", 1.8, "plasma", SHEET(None, "unknown", False),
             half_width=0.05, call="amplification", status="positive", apcn_status="not_evaluable"),
    CallCase("plasma divide_by_fraction ApCN", _lg(12, 0.10), "plasma", SHEET(0.10, "sample_sheet", True),
             half_width=0.02, settings={"plasma": {"apcn_method": "divide_by_fraction"}}, call="amplification",
             status="positive", apcn_status="ok"),
    CallCase("normal sample", 0.02, "normal", SHEET(1.0, "normal (p = 1)", True), call="neutral", status="negative"),
]


@pytest.mark.parametrize("case", CALL_CASES, ids=lambda c: c.name)
def test_call_gene(case):
    s = cn.cnv_settings(case.settings)
    m = _measure(case.log2, case.half_width, case.bins, case.problem)
    sample = {"sample_id": "S1", "patient_id": "P", "sample_type": case.sample_type}
    c = cn.call_gene(m, sample, case.purity, s, case.mapd, "pooled_normals", "cbs")
    assert (c.call, c.status) == (case.call, case.status), c.reason
    assert c.reason, "every row carries a reason"
    if case.reason_has:
        assert case.reason_has in c.reason
    if case.apcn_status:
        assert c.apcn_status == case.apcn_status
    if case.sample_type == "plasma":
        assert c.copy_number == pytest.approx(c.pcn)
        assert "UNVERIFIED" in c.apcn_method


def test_plasma_values_pcn_and_apcn():
    m = _measure(_lg(12, 0.10), 0.02)
    c = cn.call_gene(m, {"sample_id": "L", "sample_type": "plasma"}, cn.Purity(0.1, "sample_sheet", True), S)
    assert c.pcn == pytest.approx(3.0, abs=1e-6) and c.apcn == pytest.approx(12.0, abs=1e-6)
    assert c.cn_ci_low < c.pcn < c.cn_ci_high < 4      # the CN interval belongs to the value (pCN)
    assert c.apcn_ci_low < c.apcn < c.apcn_ci_high     # ApCN has its own
    c2 = cn.call_gene(m, {"sample_id": "L", "sample_type": "plasma"}, cn.Purity(0.1, "sample_sheet", True),
                      cn.cnv_settings({"plasma": {"apcn_method": "divide_by_fraction"}}))
    assert c2.apcn == pytest.approx(30.0, abs=1e-6)


@pytest.mark.parametrize("cnum,ci,expected", [
    (3.2, (2.7, 3.6), "gain"),
    (3.2, (2.3, 3.6), "neutral"),     # the interval reaches 2 copies: not a confident gain
    (0.8, (0.4, 1.3), "loss"),
    (0.8, (0.4, 1.7), "neutral"),
    (2.2, (2.05, 2.4), "neutral"),    # significant but less than one copy
    (3.4, None, "gain"),              # no interval: the rounded point decides
])
def test_classify_cn_needs_the_interval_to_exclude_no_change(cnum, ci, expected):
    assert cn.classify_cn(cnum, S, ci) == expected


def test_low_fraction_plasma_noise_is_not_a_loss():
    m = _measure(-0.03, 0.025)  # ApCN 1.2 at f = 0.05 from a -0.03 log2 wobble whose CI excludes 0
    c = cn.call_gene(m, {"sample_id": "L", "sample_type": "plasma"}, cn.Purity(0.05, "sample_sheet", True), S)
    assert c.apcn < 1.5 and c.call == "neutral" and c.status == "negative"


def test_gain_is_never_amplification_across_purities():
    for p in (0.3, 0.5, 0.7, 0.9, 1.0):
        m = _measure(_lg(3, p), 0.05)
        c = cn.call_gene(m, {"sample_id": "T", "sample_type": "tumor"}, cn.Purity(p, "sample_sheet", True), S)
        assert c.call != "amplification" and c.status != "positive"


# ---------------------------------------------------------------------------------------------
# purity sources
# ---------------------------------------------------------------------------------------------


def _tf_file(tmp_path, status, value, method="max_somatic_vaf", evidence="max VAF 0.05"):
    df = pd.DataFrame([{"patient_id": "P", "sample_id": "S", "sample_type": "plasma", "biomarker": "KRAS",
                        "status": "negative", "value": "", "evidence": "x", "details": "{}"},
                       {"patient_id": "P", "sample_id": "S", "sample_type": "plasma", "biomarker": "TUMOR_FRACTION",
                        "status": status, "value": value, "evidence": evidence,
                        "details": json.dumps({"method": method})}])
    path = tmp_path / "hotspots_biomarkers.tsv"
    write_table(df, path, "biomarkers")
    return path


@pytest.mark.parametrize("stype,sheet,tf,expected_source,expected_value,known", [
    ("tumor", 0.6, None, "sample_sheet", 0.6, True),
    ("tumor", None, ("positive", "0.48"), "estimated:max_somatic_vaf", 0.48, True),
    ("tumor", None, ("not_evaluable", ""), "default (UNVERIFIED)", S["default_purity"], False),
    ("tumor", None, None, "default (UNVERIFIED)", S["default_purity"], False),
    ("plasma", 0.05, ("positive", "0.1"), "sample_sheet", 0.05, True),
    ("plasma", None, ("positive", "0.1"), "estimated:max_somatic_vaf", 0.1, True),
    ("plasma", None, ("not_evaluable", ""), "unknown", None, False),
    ("normal", None, None, "normal (p = 1)", 1.0, True),
])
def test_resolve_purity(tmp_path, stype, sheet, tf, expected_source, expected_value, known):
    tfd = cn.read_tumor_fraction(_tf_file(tmp_path, *tf)) if tf else None
    p = cn.resolve_purity(stype, sheet, tfd, S)
    assert (p.source, p.value, p.known) == (expected_source, expected_value, known)
    if tf and tf[0] == "not_evaluable" and stype != "normal":
        assert "max VAF" in p.note or "not estimated" in p.note


# ---------------------------------------------------------------------------------------------
# output rows
# ---------------------------------------------------------------------------------------------


def test_biomarker_rows_follow_biomarkers_md():
    m = _measure(_lg(10, 0.5))
    calls = [cn.call_gene(m, {"sample_id": "T", "patient_id": "P", "sample_type": "tumor"},
                          cn.Purity(0.5, "sample_sheet", True), S, 0.1, "flat", "cbs"),
             cn.call_gene(_measure(0.0, gene="ERBB3"), {"sample_id": "T", "patient_id": "P", "sample_type": "tumor"},
                          cn.Purity(0.5, "sample_sheet", True), S, 0.1, "flat", "cbs"),
             cn.call_gene(_measure(0.0, gene="KRAS"), {"sample_id": "T", "patient_id": "P", "sample_type": "tumor"},
                          cn.Purity(0.5, "sample_sheet", True), S, 0.1, "flat", "cbs")]
    df = cn.biomarker_rows(calls)
    assert list(df["biomarker"]) == ["ERBB2_CN", "ERBB3_CN"]  # KRAS CN is a co-alteration flag only
    assert list(df["status"]) == ["positive", "negative"]
    d = json.loads(df.iloc[0]["details"])
    for key in ("call", "log2", "copy_number", "ci_low", "ci_high", "purity", "purity_source", "pcn", "bins",
                "reference"):
        assert key in d, key
    assert d["reference"] == "flat" and d["call"] == "amplification"
    assert float(df.iloc[0]["value"]) == pytest.approx(10.0, abs=0.01)
    assert "ERBB2 amplification" in df.iloc[0]["evidence"]
    genes = cn.genes_frame(calls)
    assert list(genes.columns[:len(COLUMNS["copy_number"])]) == COLUMNS["copy_number"]


def test_not_evaluable_rows_have_reason_and_no_values():
    calls = cn.not_evaluable_calls({"sample_id": "T", "patient_id": "P", "sample_type": "plasma"},
                                   ["ERBB2", "ERBB3"], "sample failed QC: depth", cn.Purity(None, "unknown", False))
    df = cn.biomarker_rows(calls)
    assert set(df["status"]) == {"not_evaluable"} and (df["value"] == "").all()
    assert df["evidence"].str.contains("failed QC").all()


# ---------------------------------------------------------------------------------------------
# real CNVkit files (tests/data/real, see PROVENANCE.md)
# ---------------------------------------------------------------------------------------------


def _real_calls(name, cns=None, purity=None, stype="tumor", settings=None):
    cnr = cn._read_cnvkit_table(REAL / name)
    seg = cn._read_cnvkit_table(REAL / cns) if cns else None
    s = cn.cnv_settings(settings)
    p = cn.resolve_purity(stype, purity, None, s)
    calls = cn.evaluate_sample(cnr, seg, {"sample_id": name, "sample_type": stype}, p, s,
                               cn.gene_regions(s["genes"]))
    return {c.gene: c for c in calls}


@pytest.mark.parametrize("name", ["p2-20_1.cnr", "p2-20_2.cnr"])
def test_real_panel_is_near_copy_neutral(name):
    calls = _real_calls(name)
    e2, e3 = calls["ERBB2"], calls["ERBB3"]
    assert e2.bins >= 20 and e3.bins >= 20
    assert -0.3 < e2.log2 < 0.0
    assert e2.call == "neutral" and e2.status == "negative"
    assert e3.call != "amplification" and e3.status == "negative"
    assert cn.bin_mapd(cn._read_cnvkit_table(REAL / name)) < S["max_mapd"]


def test_real_p2_20_1_erbb2_log2_value():
    assert _real_calls("p2-20_1.cnr")["ERBB2"].log2 == pytest.approx(-0.15, abs=0.06)


@pytest.mark.parametrize("purity", [None, 0.2, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("max_mapd", [None, 1e9])
def test_real_noisy_amplicon_gives_no_confident_erbb2_amplification(purity, max_mapd):
    settings = {"max_mapd": max_mapd} if max_mapd else {}
    c = _real_calls("amplicon.cnr", "amplicon.cns", purity, settings=settings)["ERBB2"]
    assert c.status != "positive" and c.call != "amplification", c.reason
    assert c.call == "not_evaluable" or c.cn_ci_high - c.cn_ci_low > 0  # a value with a CI, never a bare point


def test_real_amplicon_gene_value_not_driven_by_single_bins():
    cnr = cn._read_cnvkit_table(REAL / "amplicon.cnr")
    region = cn.GeneRegion("ERBB2")
    bins = cn.gene_bins(cnr, region)
    full = cn.measure_gene(cnr, None, region)
    assert full.bins == len(bins) >= 20
    assert full.ci_high - full.ci_low > 0.5  # the noise shows in the interval
    for idx in (bins["log2"].idxmax(), bins["log2"].idxmin()):
        m = cn.measure_gene(cnr.drop(index=idx), None, region)
        assert abs(m.log2 - full.log2) < 0.25
    assert _real_calls("amplicon.cnr", "amplicon.cns")["ERBB2"].reason.startswith("sample too noisy")


def test_cli_on_real_files(tmp_path, capsys):
    out, bm = tmp_path / "genes.tsv", tmp_path / "bm.tsv"
    rc = cn.main(["--cnr", str(REAL / "p2-20_1.cnr"), "--genes", "ERBB2,ERBB3", "--out", str(out),
                  "--biomarkers", str(bm)])
    assert rc == 0
    df = read_table(out)
    assert list(df.columns[:9]) == COLUMNS["copy_number"] and list(df["gene"]) == ["ERBB2", "ERBB3"]
    assert set(df["call"]) <= {"neutral", "gain", "loss"}
    assert df.iloc[0]["purity_source"] == "default (UNVERIFIED)"
    b = read_table(bm)
    assert list(b["biomarker"]) == ["ERBB2_CN", "ERBB3_CN"] and set(b["status"]) == {"negative"}
    rc = cn.main(["--cnr", str(REAL / "amplicon.cnr"), "--cns", str(REAL / "amplicon.cns"), "--purity", "0.3",
                  "--sample-type", "tumor", "--out", str(out)])
    assert rc == 0 and read_table(out).set_index("gene").loc["ERBB2", "call"] == "not_evaluable"


def test_cli_reports_bad_input(tmp_path, capsys):
    bad = tmp_path / "x.cnr"
    bad.write_text("a\tb\n1\t2\n")
    assert cn.main(["--cnr", str(bad)]) == 1
    assert "missing column" in capsys.readouterr().err
    assert cn.main(["--cnr", str(REAL / "p2-20_1.cnr"), "--purity", "1.5"]) == 1


def test_panel_formats_interval_list_and_reference_bins():
    arr = cn.read_regions(REAL / "nv2_baits.interval_list")
    assert len(arr) > 6000 and arr.data["chromosome"].iloc[0] == "chr1"
    assert arr.data["start"].iloc[0] == 1508982  # Picard 1-based 1508983 -> 0-based
    tgt, anti = cn.make_bins(None, reference_cnn=str(REAL / "reference-tr.cnn"))
    ref = cn._read_cnvkit_table(REAL / "reference-tr.cnn")
    assert len(tgt) + len(anti) == len(ref) and len(anti) > 0


# ---------------------------------------------------------------------------------------------
# in-process CNVkit chain on small BAMs simulated here (pysam): SYNTHETIC, truth known by construction
# ---------------------------------------------------------------------------------------------

GENES = {"ERBB3": ("chr12", 100_000, 140_000), "ERBB2": ("chr17", 100_000, 140_000),
         "KRAS": ("chr12", 200_000, 212_000)}


def make_mini_cohort(d: Path, samples: dict, contigs=(("chr12", 300_000), ("chr17", 300_000)), step=4000,
                     tlen=200, depth=200, bg_depth=0.5, read_len=100, seed=1) -> dict:
    """Random genome, 200-bp targets every ``step`` bp, single-end reads at ``depth`` over targets (+-150 bp)
    and ``bg_depth`` elsewhere; ``samples``: {id: {purity, cn: {gene: tumour CN}}}; a per-target capture
    efficiency (+-15%, the same in every sample) that only a pooled reference removes."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fa = d / "genome.fa"
    with open(fa, "w") as fh:
        for name, length in contigs:
            gc = np.repeat(rng.uniform(0.38, 0.55, length // 10000 + 1), 10000)[:length]
            r = rng.random(length)
            seq = np.where(r < gc / 2, "G", np.where(r < gc, "C", np.where(r < gc + (1 - gc) / 2, "A", "T")))
            s = "".join(seq)
            fh.write(f">{name}\n" + "\n".join(s[i:i + 60] for i in range(0, length, 60)) + "\n")
    pysam.faidx(str(fa))
    targets = [(c, st, st + tlen) for c, length in contigs for st in range(20_000, length - 20_000, step)]
    eff = rng.uniform(0.85, 1.15, len(targets))
    (d / "panel.bed").write_text("".join(f"{c}\t{s}\t{e}\tT{i}\n" for i, (c, s, e) in enumerate(targets)))
    with open(d / "transcripts.bed12", "w") as fh:
        for g, (c, s, e) in GENES.items():
            ex = [(t[1], t[2]) for t in targets if t[0] == c and s <= t[1] and t[2] <= e]
            s0, e0 = ex[0][0], ex[-1][1]
            fh.write("\t".join(map(str, [c, s0, e0, g, 0, "+", s0, e0, 0, len(ex),
                                         ",".join(str(b - a) for a, b in ex),
                                         ",".join(str(a - s0) for a, b in ex)])) + "\n")
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": L} for n, L in contigs]}
    bams = {}
    for si, (sample, spec) in enumerate(samples.items()):
        rs = np.random.default_rng(seed * 1000 + si)
        p = spec.get("purity", 1.0)

        def factor(c, pos):
            for g, (gc_, s, e) in GENES.items():
                if gc_ == c and s <= pos < e and g in spec.get("cn", {}):
                    return (p * spec["cn"][g] + (1 - p) * 2) / 2
            return 1.0

        bam = d / f"{sample}.bam"
        with pysam.AlignmentFile(str(bam), "wb", header=header) as bf:
            for ci, (c, length) in enumerate(contigs):
                starts = [rs.integers(0, length - read_len, rs.poisson(bg_depth * length / read_len))]
                for k, (tc, ts, te) in enumerate(targets):
                    if tc == c:
                        lam = depth * (te - ts + 300 - read_len) / read_len * factor(c, ts) * eff[k]
                        starts.append(rs.integers(ts - 150, te + 150 - read_len, rs.poisson(lam)))
                for k, st in enumerate(np.sort(np.concatenate(starts))):
                    a = pysam.AlignedSegment()
                    a.query_name, a.flag, a.reference_id = f"{sample}_{c}_{k}", 0 if k % 2 else 16, ci
                    a.reference_start, a.mapping_quality, a.cigarstring = int(st), 60, f"{read_len}M"
                    a.query_sequence = "A" * read_len
                    a.query_qualities = pysam.qualitystring_to_array("I" * read_len)
                    bf.write(a)
        pysam.index(str(bam))
        bams[sample] = str(bam)
    return {"fasta": str(fa), "panel": str(d / "panel.bed"), "transcripts": str(d / "transcripts.bed12"),
            "bams": bams}


def _qc(path, sample, status="pass", reasons=""):
    write_table(pd.DataFrame([{"sample_id": sample, "patient_id": sample, "sample_type": "tumor",
                               "status": status, "reasons": reasons}]), path, "qc")
    return str(path)


def _outputs(d, sample):
    keys = {"cnr": ".cnr", "cns": ".cns", "call_cns": ".call.cns", "scatter": "-scatter.png", "zoom": "-erbb2.png"}
    out = {k: str(d / f"{sample}{ext}") for k, ext in keys.items()}
    out.update(genes=str(d / f"{sample}.genes.tsv"), biomarkers=str(d / f"{sample}.biomarkers.tsv"))
    return out


MINI = {"N1": {}, "N2": {}, "T-AMP": {"purity": 0.5, "cn": {"ERBB2": 10}}, "T-GAIN": {"purity": 0.7, "cn": {"ERBB2": 3}},
        "T-E3": {"purity": 0.6, "cn": {"ERBB3": 8}}, "L-AMP": {"purity": 0.2, "cn": {"ERBB2": 12}}}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnv_mini")
    c = make_mini_cohort(d / "data", MINI)
    o = d / "out"
    s = cn.cnv_settings({"segment_method": "haar"})
    info = cn.run_bins(c["fasta"], str(o / "targets.bed"), str(o / "antitargets.bed"), panel=c["panel"],
                       transcripts=c["transcripts"], settings=s)
    for sm, bam in c["bams"].items():
        assert cn.run_coverage(bam, _qc(o / f"{sm}.qc.tsv", sm), str(o / "targets.bed"), str(o / "antitargets.bed"),
                               str(o / f"{sm}.t.cnn"), str(o / f"{sm}.a.cnn"), fasta=c["fasta"], settings=s)
    normals = [{"sample_id": n, "target": str(o / f"{n}.t.cnn"), "antitarget": str(o / f"{n}.a.cnn"),
                "qc": str(o / f"{n}.qc.tsv")} for n in ("N1", "N2")]
    choice = cn.run_reference(normals, str(o / "targets.bed"), str(o / "antitargets.bed"), c["fasta"],
                              str(o / "reference.cnn"), str(o / "reference_choice.json"), wgs=False)
    return {"c": c, "o": o, "s": s, "bins": info, "choice": choice}


def _run(mini, sample, stype="tumor", purity=None, tf=None, qc=None, ref="reference", settings=None):
    o = mini["o"]
    s = mini["s"] if settings is None else cn.cnv_settings({**{"segment_method": "haar"}, **settings})
    info = {"sample_id": sample, "patient_id": sample.split("-")[0], "sample_type": stype, "purity": purity}
    out = _outputs(o / f"{sample}-{ref}-{stype}", sample)
    calls = cn.run_sample(info, qc or str(o / f"{sample}.qc.tsv"), str(o / f"{sample}.t.cnn"),
                          str(o / f"{sample}.a.cnn"), str(o / f"{ref}.cnn"), str(o / f"{ref}_choice.json"), out, s,
                          transcripts=mini["c"]["transcripts"], tumor_fraction_tsv=tf)
    return {c.gene: c for c in calls}, out


def test_mini_bins_and_pooled_reference(mini):
    assert mini["bins"]["mode"] == "panel" and mini["bins"]["targets"] > 100 and mini["bins"]["antitargets"] > 0
    tb = pd.read_csv(mini["o"] / "targets.bed", sep="\t", header=None)
    assert (tb[3] == "ERBB2").sum() == 10  # bins named from the BED12, not the panel's T<n> labels
    assert mini["choice"]["type"] == "pooled_normals" and mini["choice"]["normals"] == ["N1", "N2"]
    assert json.loads((mini["o"] / "reference_choice.json").read_text())["type"] == "pooled_normals"


@pytest.mark.parametrize("sample,purity,gene,true_cn,call", [
    ("T-AMP", 0.5, "ERBB2", 10, "amplification"),
    ("T-E3", 0.6, "ERBB3", 8, "amplification"),
    ("T-GAIN", 0.7, "ERBB2", 3, "gain"),
])
def test_mini_tissue_calls(mini, sample, purity, gene, true_cn, call):
    calls, out = _run(mini, sample, purity=purity)
    c = calls[gene]
    assert c.call == call, c.reason
    assert c.copy_number == pytest.approx(true_cn, rel=0.25)
    assert c.reference_type == "pooled_normals" and c.bins == 10
    other = calls["ERBB3" if gene == "ERBB2" else "ERBB2"]
    assert other.call == "neutral" and other.status == "negative"
    for key in ("cnr", "cns", "call_cns"):
        arr = cn.read_cnarr(out[key])
        assert len(arr) > 0
    for key in ("scatter", "zoom"):
        assert Path(out[key]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    g = read_table(out["genes"])
    assert list(g.columns[:9]) == COLUMNS["copy_number"]
    b = read_table(out["biomarkers"])
    assert set(b["biomarker"]) == {"ERBB2_CN", "ERBB3_CN"}


def test_mini_qc_fail_writes_not_evaluable_and_valid_empty_files(mini, tmp_path):
    qc = _qc(tmp_path / "qc.tsv", "T-AMP", "fail", "mean target depth 20 < 100")
    missing = tmp_path / "does-not-exist.bam"  # a failed sample's alignment is never opened
    assert not cn.run_coverage(str(missing), qc, str(mini["o"] / "targets.bed"), str(mini["o"] / "antitargets.bed"),
                               str(tmp_path / "t.cnn"), str(tmp_path / "a.cnn"), settings=mini["s"])
    assert len(cn.read_cnarr(tmp_path / "t.cnn")) == 0
    calls, out = _run(mini, "T-AMP", purity=0.5, qc=qc)
    assert {c.call for c in calls.values()} == {"not_evaluable"}
    assert all("failed QC" in c.reason for c in calls.values())
    for key in ("cnr", "cns", "call_cns"):
        assert Path(out[key]).read_text().startswith("chromosome\tstart\tend")
        assert len(cn.read_cnarr(out[key])) == 0
    assert Path(out["zoom"]).read_bytes()[:4] == b"\x89PNG"
    b = read_table(out["biomarkers"])
    assert set(b["status"]) == {"not_evaluable"}


def test_mini_segment_without_plots_is_reproducible_and_draws_no_png(mini, tmp_path):
    """cnv.plots off (the default): the job spec names no PNG and none is drawn. A second run writes the same bytes:
    CNVkit's smoothed segment bootstrap is seeded (SEGMETRICS_SEED; unseeded, the .cns CI columns and the
    .call.cns segments changed from run to run)."""
    _, with_plots = _run(mini, "T-GAIN", purity=0.7)
    out = {k: str(tmp_path / Path(v).name) for k, v in with_plots.items() if k not in ("scatter", "zoom")}
    sample = {"sample_id": "T-GAIN", "patient_id": "T-GAIN", "sample_type": "tumor", "purity": 0.7}
    o = mini["o"]
    assert cn.run_segment(sample, str(o / "T-GAIN.qc.tsv"), str(o / "T-GAIN.t.cnn"), str(o / "T-GAIN.a.cnn"),
                          str(o / "reference.cnn"), str(o / "reference_choice.json"), out, settings=mini["s"],
                          transcripts=mini["c"]["transcripts"])
    assert not list(tmp_path.glob("*.png"))
    for key in ("cnr", "cns", "call_cns"):
        assert Path(out[key]).read_bytes() == Path(with_plots[key]).read_bytes(), key
    assert "ci_lo" in Path(out["cns"]).read_text().splitlines()[0]


def test_mini_plasma_with_estimated_fraction(mini, tmp_path):
    tf = _tf_file(tmp_path, "positive", "0.2")
    calls, out = _run(mini, "L-AMP", stype="plasma", tf=str(tf))
    c = calls["ERBB2"]
    assert c.purity_source == "estimated:max_somatic_vaf" and c.apcn_status == "ok"
    assert c.pcn == pytest.approx((0.2 * 12 + 0.8 * 2), rel=0.15)
    assert c.apcn == pytest.approx(12, rel=0.25) and c.call == "amplification"
    b = read_table(out["biomarkers"]).set_index("biomarker")
    assert float(b.loc["ERBB2_CN", "value"]) == pytest.approx(c.pcn, abs=0.01)  # plasma value = pCN
    assert "UNVERIFIED" in json.loads(b.loc["ERBB2_CN", "details"])["apcn_method"]
    calls, _ = _run(mini, "L-AMP", stype="plasma", tf=str(_tf_file(tmp_path, "not_evaluable", "")))
    assert calls["ERBB3"].status == "not_evaluable" and calls["ERBB3"].apcn_status == "not_evaluable"


def test_mini_flat_reference_without_normals(mini):
    o = mini["o"]
    choice = cn.run_reference([], str(o / "targets.bed"), str(o / "antitargets.bed"), mini["c"]["fasta"],
                              str(o / "flat.cnn"), str(o / "flat_choice.json"), wgs=False)
    assert choice["type"] == "flat" and "no normal" in choice["reason"]
    calls, _ = _run(mini, "T-AMP", purity=0.5, ref="flat", settings={"segment_method": "cbs"})  # R + DNAcopy
    assert calls["ERBB2"].reference_type == "flat" and calls["ERBB2"].segment_method == "cbs"
    assert calls["ERBB2"].call == "amplification"  # 10 copies stand out even without normals


def test_mini_failed_normals_fall_back_to_flat_and_user_cnn_is_used(mini, tmp_path):
    o = mini["o"]
    bad = [{"sample_id": "N1", "target": str(o / "N1.t.cnn"), "antitarget": str(o / "N1.a.cnn"),
            "qc": _qc(tmp_path / "n1qc.tsv", "N1", "fail", "too few reads")}]
    choice = cn.run_reference(bad, str(o / "targets.bed"), str(o / "antitargets.bed"), mini["c"]["fasta"],
                              str(tmp_path / "r.cnn"), str(tmp_path / "r.json"), wgs=False)
    assert choice["type"] == "flat" and "N1" in choice["excluded_normals"]
    choice = cn.run_reference([], str(o / "targets.bed"), str(o / "antitargets.bed"), mini["c"]["fasta"],
                              str(tmp_path / "u.cnn"), str(tmp_path / "u.json"), wgs=False,
                              user_cnn=str(o / "reference.cnn"))
    assert choice["type"] == "cnn" and choice["path"].endswith("reference.cnn")
    tgt, anti = cn.make_bins(None, reference_cnn=str(tmp_path / "u.cnn"))
    assert len(tgt) == mini["bins"]["targets"] and len(anti) == mini["bins"]["antitargets"]


def test_mini_whole_genome_bins(mini):
    tgt, anti = cn.make_bins(mini["c"]["fasta"], None, mini["c"]["transcripts"], settings=cn.cnv_settings())
    assert len(anti) == 0
    assert 100 <= len(tgt) <= 130  # 600 kb in ~5 kb bins
    assert (tgt["gene"] == "ERBB2").sum() >= 7


# ---------------------------------------------------------------------------------------------
# the simulated cohort (tests/cohort/data, generated by tests/cohort/make_cohort.py): SYNTHETIC
# ---------------------------------------------------------------------------------------------

def _cohort_ready() -> bool:
    try:
        return json.loads((COHORT / "cohort.json").read_text()).get("complete") is True \
            and (COHORT / "truth.json").is_file()
    except (OSError, ValueError):
        return False


needs_cohort = pytest.mark.skipif(not _cohort_ready(),
                                  reason="simulated cohort not generated or incomplete (tests/cohort/make_cohort.py)")
COHORT_TUMOURS = ["P01-T", "P02-T", "P03-T", "P04-T", "P05-T", "P06-T", "P07-T", "P08-T", "P10-T", "P11-T"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    truth = json.loads((COHORT / "truth.json").read_text())
    sheet = pd.read_csv(COHORT / "samples.tsv", sep="\t", dtype=str, keep_default_na=False).set_index("sample_id")
    o = tmp_path_factory.mktemp("cnv_cohort")
    s = cn.cnv_settings()
    ref = COHORT / "reference"
    cn.run_bins(str(ref / "genome.fa"), str(o / "targets.bed"), str(o / "antitargets.bed"),
                panel=str(ref / "panel.bed"), transcripts=str(ref / "transcripts.bed12"), settings=s)

    def bam(sid):
        p = Path(sheet.loc[sid, "bam"])
        return str(p if p.is_absolute() else COHORT / p)

    normals = [x for x in sheet.index if sheet.loc[x, "sample_type"] == "normal"]
    for sid in normals:
        cn.run_coverage(bam(sid), None, str(o / "targets.bed"), str(o / "antitargets.bed"), str(o / f"{sid}.t.cnn"),
                        str(o / f"{sid}.a.cnn"), fasta=str(ref / "genome.fa"), settings=s)
    cn.run_reference([{"sample_id": n, "target": str(o / f"{n}.t.cnn"), "antitarget": str(o / f"{n}.a.cnn"),
                       "qc": None} for n in normals], str(o / "targets.bed"), str(o / "antitargets.bed"),
                     str(ref / "genome.fa"), str(o / "reference.cnn"), str(o / "reference_choice.json"), wgs=False)
    results = {}

    def run(sid, qc=None, tf=None):
        if not (o / f"{sid}.t.cnn").exists():
            cn.run_coverage(bam(sid), qc, str(o / "targets.bed"), str(o / "antitargets.bed"), str(o / f"{sid}.t.cnn"),
                            str(o / f"{sid}.a.cnn"), fasta=str(ref / "genome.fa"), settings=s)
        pur = sheet.loc[sid, "purity"]
        info = {"sample_id": sid, "patient_id": sheet.loc[sid, "patient_id"],
                "sample_type": sheet.loc[sid, "sample_type"], "purity": float(pur) if pur else None}
        calls = cn.run_sample(info, qc, str(o / f"{sid}.t.cnn"), str(o / f"{sid}.a.cnn"), str(o / "reference.cnn"),
                              str(o / "reference_choice.json"), _outputs(o / sid, sid), s,
                              transcripts=str(ref / "transcripts.bed12"), tumor_fraction_tsv=tf)
        results[(sid, tf)] = {c.gene: c for c in calls}
        return results[(sid, tf)]

    return {"truth": truth, "run": run, "o": o, "sheet": sheet}


def _planted_cn(truth, sid, gene):
    for ev in truth["samples"][sid]["planted"]:
        if ev.get("type") == "copy_number" and ev.get("gene") == gene:
            return ev["tumour_cn"]
    return 2.0


@needs_cohort
@pytest.mark.parametrize("sid", COHORT_TUMOURS)
def test_cohort_tumours(cohort, sid):
    calls = cohort["run"](sid)
    for gene in ("ERBB2", "ERBB3"):
        true_cn = _planted_cn(cohort["truth"], sid, gene)
        c = calls[gene]
        if true_cn >= 6:
            assert c.call == "amplification" and c.status == "positive", f"{sid} {gene}: {c.reason}"
            assert c.copy_number == pytest.approx(true_cn, rel=0.25), f"{sid} {gene} CN {c.copy_number} vs {true_cn}"
        else:
            assert c.call != "amplification" and c.status == "negative", f"{sid} {gene}: {c.call} {c.reason}"
        if true_cn == 3:  # a gain: never an amplification, and measured as about 3 copies
            assert c.call in ("gain", "neutral") and c.copy_number == pytest.approx(3, rel=0.25)


@needs_cohort
def test_cohort_p09_fails_qc_is_not_evaluable(cohort, tmp_path):
    qc = _qc(tmp_path / "qc.tsv", "P09-T", "fail", "mean target depth 20 < 100")
    calls = cohort["run"]("P09-T", qc=qc)
    assert {c.status for c in calls.values()} == {"not_evaluable"}


@needs_cohort
def test_cohort_p06_missing_purity_with_estimate(cohort, tmp_path):
    tf = _tf_file(tmp_path, "positive", "0.5")  # what the hotspots stage publishes (P06-T: KRAS G12D, VAF ~0.25)
    c = cohort["run"]("P06-T", tf=str(tf))["ERBB2"]
    assert c.purity_source == "estimated:max_somatic_vaf" and c.status == "negative"


@needs_cohort
def test_cohort_plasma(cohort, tmp_path):
    truth = cohort["truth"]["samples"]
    f01 = truth["P01-L"]["true_tumour_fraction"]
    c = cohort["run"]("P01-L", tf=str(_tf_file(tmp_path, "positive", f"{f01:.3f}")))["ERBB2"]
    assert c.call == "amplification" and c.pcn == pytest.approx(3.0, rel=0.15)
    # ApCN = (pCN - 2(1-f))/f amplifies pCN's error by 1/f: the tolerance is pCN's (15% of 3.0) propagated.
    assert c.apcn == pytest.approx(12, abs=0.15 * 3.0 / f01)
    (tmp_path / "n").mkdir()
    c = cohort["run"]("P09-L", tf=str(_tf_file(tmp_path / "n", "not_evaluable", "", evidence="no tumour DNA")))
    assert {x.status for x in c.values() if x.gene in ("ERBB2", "ERBB3")} == {"not_evaluable"}
    c = cohort["run"]("P06-L")["ERBB2"]  # sheet fraction 0.05
    assert c.status in ("negative", "not_evaluable") and c.call != "amplification"


def test_missing_r_gives_an_actionable_error(mini):
    from erbbscreen.errors import InputError

    cn.check_segment_method("haar", "/nonexistent/Rscript")  # no R needed
    with pytest.raises(InputError, match="segment_method: haar"):
        cn.check_segment_method("cbs", "/nonexistent/Rscript")
    from cnvlib import read

    o = mini["o"]
    with pytest.raises(InputError, match="Rscript"):
        cn.fix_segment_call(read(str(o / "T-AMP.t.cnn")), read(str(o / "T-AMP.a.cnn")), read(str(o / "reference.cnn")),
                            wgs=False, method="cbs", rscript="/nonexistent/Rscript")


@needs_cohort
def test_cohort_normal_left_out_of_the_reference_has_no_amplification(cohort, tmp_path):
    o, sheet = cohort["o"], cohort["sheet"]
    normals = [x for x in sheet.index if sheet.loc[x, "sample_type"] == "normal"]
    test, pool = normals[0], normals[1:]
    ref = COHORT / "reference"
    choice = cn.run_reference([{"sample_id": n, "target": str(o / f"{n}.t.cnn"), "antitarget": str(o / f"{n}.a.cnn"),
                                "qc": None} for n in pool], str(o / "targets.bed"), str(o / "antitargets.bed"),
                              str(ref / "genome.fa"), str(tmp_path / "loo.cnn"), str(tmp_path / "loo.json"), wgs=False)
    assert choice["normals"] == pool
    info = {"sample_id": test, "patient_id": sheet.loc[test, "patient_id"], "sample_type": "normal", "purity": None}
    calls = cn.run_sample(info, None, str(o / f"{test}.t.cnn"), str(o / f"{test}.a.cnn"), str(tmp_path / "loo.cnn"),
                          str(tmp_path / "loo.json"), _outputs(tmp_path / test, test), cn.cnv_settings(),
                          transcripts=str(ref / "transcripts.bed12"))
    for c in calls:
        assert c.call != "amplification", f"{test} {c.gene}: {c.reason}"
    assert {c.status for c in calls if c.gene in ("ERBB2", "ERBB3")} == {"negative"}


def test_mini_whole_genome_mode_end_to_end(mini, tmp_path):
    """No panel: genome-wide bins, no antitargets, flat reference, fix without edge, segment -t 1e-6."""
    c, s = mini["c"], mini["s"]
    info = cn.run_bins(c["fasta"], str(tmp_path / "t.bed"), str(tmp_path / "a.bed"), transcripts=c["transcripts"],
                       settings=s)
    assert info["mode"] == "wgs" and info["antitargets"] == 0 and (tmp_path / "a.bed").stat().st_size == 0
    for sm in ("N1", "T-AMP"):
        cn.run_coverage(c["bams"][sm], None, str(tmp_path / "t.bed"), str(tmp_path / "a.bed"),
                        str(tmp_path / f"{sm}.t.cnn"), str(tmp_path / f"{sm}.a.cnn"), fasta=c["fasta"], settings=s)
    choice = cn.run_reference([{"sample_id": "N1", "target": str(tmp_path / "N1.t.cnn"),
                                "antitarget": str(tmp_path / "N1.a.cnn"), "qc": None}],
                              str(tmp_path / "t.bed"), str(tmp_path / "a.bed"), c["fasta"], str(tmp_path / "ref.cnn"),
                              str(tmp_path / "ref.json"), wgs=True)
    assert choice["type"] == "pooled_normals" and choice["mode"] == "wgs"
    info = {"sample_id": "T-AMP", "patient_id": "T", "sample_type": "tumor", "purity": 0.5}
    calls = cn.run_sample(info, None, str(tmp_path / "T-AMP.t.cnn"), str(tmp_path / "T-AMP.a.cnn"),
                          str(tmp_path / "ref.cnn"), str(tmp_path / "ref.json"), _outputs(tmp_path / "o", "T-AMP"), s,
                          transcripts=c["transcripts"], wgs=True)
    by = {x.gene: x for x in calls}
    assert by["ERBB2"].call == "amplification", by["ERBB2"].reason
    assert by["ERBB3"].call != "amplification"


@pytest.mark.parametrize("min_mapq", [0, 20])
def test_coverage_files_equal_cnvkits(mini, tmp_path, min_mapq):
    """run_coverage (erbbscreen.cnv_coverage, no CNVkit import; target bins counted with one samtools depth pass)
    writes the bytes ``cnvlib.coverage.do_coverage`` + ``skgenome.tabio.write`` write, with duplicates, secondary
    and low-MAPQ reads and deletions in the BAM."""
    from cnvlib.coverage import do_coverage
    from skgenome import tabio

    src = mini["c"]["bams"]["T-AMP"]
    bam = str(tmp_path / "mixed.bam")
    with pysam.AlignmentFile(src) as fh, pysam.AlignmentFile(bam, "wb", template=fh) as out:
        for i, r in enumerate(fh):
            if i % 5 == 0:
                r.flag |= 0x400
            if i % 13 == 0:
                r.flag |= 0x100
            if i % 7 == 0:
                r.mapping_quality = 10
            if i % 11 == 0:
                r.cigarstring = "40M5D60M"
            out.write(r)
    pysam.index(bam)
    targets, antitargets = str(mini["o"] / "targets.bed"), str(mini["o"] / "antitargets.bed")
    fasta = mini["c"]["fasta"]
    assert cn.run_coverage(bam, None, targets, antitargets, str(tmp_path / "t.cnn"), str(tmp_path / "a.cnn"),
                           fasta=fasta, settings=cn.cnv_settings({"min_mapq": min_mapq}))
    for bed, ours in ((targets, tmp_path / "t.cnn"), (antitargets, tmp_path / "a.cnn")):
        tabio.write(do_coverage(bed, bam, False, min_mapq, 1, fasta), str(tmp_path / "cnvkit.cnn"))
        assert ours.read_bytes() == (tmp_path / "cnvkit.cnn").read_bytes()
    assert len(cn.read_cnarr(tmp_path / "t.cnn")) > 100 and cn.read_cnarr(tmp_path / "t.cnn")["depth"].sum() > 0
