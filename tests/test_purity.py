"""Purity / ctDNA fraction stage (erbbscreen.purity): estimators on simulated allele counts and segments (SYNTHETIC
numbers drawn here from the mixture model), the combination rule and states, the clonal power, the CLI on a cohort
BAM. The workflow-level truth checks (every cohort estimate within 0.10 of the truth) are in test_workflow.py."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from erbbscreen import purity as P
from erbbscreen.tables import COLUMNS

S = P.purity_settings()
DATA = Path(__file__).resolve().parent / "cohort" / "data"


def _baf_minor(p, n_a, n_b):
    return ((1 - p) + p * min(n_a, n_b)) / (2 * (1 - p) + p * (n_a + n_b))


def _segment(rng, chrom, p, n_a, n_b, snps=30, depth=150, bins=40, sd=0.25):
    """One segment row as segment_table() makes it, with SNP counts drawn from the mixture model."""
    b = _baf_minor(p, n_a, n_b)
    n = rng.poisson(depth, snps) + 20
    k = rng.binomial(n, np.where(rng.random(snps) < 0.5, b, 1 - b))
    bhat, bse, pv = P.mirrored_baf(k, n)
    ratio = (2 * (1 - p) + p * (n_a + n_b)) / 2
    return dict(chrom=chrom, start=0, end=100000, log2=math.log2(ratio) + rng.normal(0, sd / math.sqrt(bins)),
                bins=bins, log2_se=math.hypot(sd / math.sqrt(bins), S["segment"]["log2_sd_floor"]), snps=snps,
                snp_depth=int(n.sum()), baf=bhat, baf_se=bse, imbalance_p=pv)


def test_settings_match_config_and_schema():
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())["purity"]
    assert P.purity_settings(cfg) == P.purity_defaults()
    assert S["min_purity"]["tumor"] == 0.20          # PURPLE WARN_LOW_PURITY
    assert COLUMNS["purity"][:9] == ["sample_id", "patient_id", "sample_type", "purity", "purity_low",
                                     "purity_high", "source", "states", "reason"]


@pytest.mark.parametrize("b_true", [0.5, 0.4, 0.3, 0.15])
def test_mirrored_baf_recovers_minor_share_with_unknown_phase(b_true):
    rng = np.random.default_rng(3)
    n = rng.poisson(120, 60) + 20
    k = rng.binomial(n, np.where(rng.random(60) < 0.5, b_true, 1 - b_true))
    b, se, pv = P.mirrored_baf(k, n)
    assert b == pytest.approx(b_true, abs=0.03)
    assert (pv < 1e-3) == (b_true < 0.45)


@pytest.mark.parametrize("p", [0.25, 0.35, 0.6, 0.8])
def test_snp_imbalance_and_segment_fit_recover_purity(p):
    rng = np.random.default_rng(int(p * 100))
    segs = pd.DataFrame([_segment(rng, "chr1", p, 1, 0), _segment(rng, "chr7", p, 2, 1),
                         _segment(rng, "chr12", p, 1, 0, snps=15), _segment(rng, "chr3", p, 1, 1),
                         _segment(rng, "chr17", p, 7, 1, snps=8)])
    a = P.estimate_snp_imbalance(segs, S)
    b = P.estimate_segment_fit(segs, S)
    assert a.ok and b.ok
    assert a.value == pytest.approx(p, abs=0.06) and a.low <= p + 0.02 and a.high >= p - 0.02
    assert b.value == pytest.approx(p, abs=0.06)
    assert a.counts["segments"] >= 2 and b.counts["segments"] >= 3


def test_flat_tumour_is_unresolved_and_lone_amplification_is_not_a_guess():
    rng = np.random.default_rng(7)
    flat = pd.DataFrame([_segment(rng, c, 0.5, 1, 1) for c in ("chr1", "chr3", "chr7")])
    ests = {"snp_imbalance": P.estimate_snp_imbalance(flat, S), "segment_fit": P.estimate_segment_fit(flat, S),
            "somatic_vaf": P.estimate_somatic_vaf(pd.DataFrame())}
    assert not any(e.ok for e in ests.values())
    res = P.combine({"sample_id": "X", "sample_type": "tumor", "purity": None}, ests, S)
    assert res.purity is None and res.states == ["UNRESOLVED"] and "nothing to estimate from" in res.reason
    # an amplification alone (minor copy 1): depth and BAF fit every purity, the fit says so instead of guessing
    amp = pd.DataFrame([_segment(rng, "chr1", 0.6, 1, 1), _segment(rng, "chr17", 0.6, 11, 1, snps=10)])
    b = P.estimate_segment_fit(amp, S)
    assert not b.ok and b.counts.get("unidentifiable")


def _hotspots(rows):
    base = dict(sample_id="S", patient_id="P", sample_type="tumor", chrom="chr12", positions="1000,1001,1002",
                protein_change="", germline_like="no", power_at_lod="0.65", min_alt_detectable="6")
    return pd.DataFrame([{**base, **r} for r in rows])


def test_somatic_vaf_estimate_and_combination_rule():
    hs = _hotspots([dict(gene="KRAS", codon="12", status="detected", vaf="0.25", alt_reads="50", depth="200",
                         protein_change="p.G12D"),
                    dict(gene="NRAS", codon="61", status="not_evaluable", vaf="0", alt_reads="0", depth="110")])
    c = P.estimate_somatic_vaf(hs)
    assert c.value == pytest.approx(0.5) and c.low < 0.5 < c.high
    assert c.low == pytest.approx(2 * 0.25 / 1.25, abs=0.12)           # Wyatt 2/(1+1/VAF) at the lower bound
    res = P.combine({"sample_id": "S", "sample_type": "tumor", "purity": None}, {"somatic_vaf": c}, S)
    assert res.purity == pytest.approx(0.5) and res.source == "somatic_vaf" and not res.states
    # sheet purity wins, with a warning when the data disagree by > 0.15
    res = P.combine({"sample_id": "S", "sample_type": "tumor", "purity": 0.9}, {"somatic_vaf": c}, S)
    assert res.purity == 0.9 and res.source == "sheet" and any("SHEET_DISAGREEMENT" in w for w in res.warnings)
    # a subclonal SNV far below the copy-number estimate: flagged, not averaged in
    cn = P.Estimate("snp_imbalance", 0.8, 0.74, 0.86, "x")
    res = P.combine({"sample_id": "S", "sample_type": "tumor", "purity": None},
                    {"snp_imbalance": cn, "somatic_vaf": c}, S)
    assert any("subclonal" in w for w in res.warnings) and (res.low, res.high) == (0.74, 0.86)
    # an SNV above the copy-number estimate cannot be subclonal: flagged and the interval spans both
    cn = P.Estimate("snp_imbalance", 0.3, 0.25, 0.35, "x")
    res = P.combine({"sample_id": "S", "sample_type": "tumor", "purity": None},
                    {"snp_imbalance": cn, "somatic_vaf": c}, S)
    assert any(w.startswith("DISAGREEMENT") for w in res.warnings) and res.low <= 0.25 and res.high == pytest.approx(c.high, abs=1e-3)
    # LOW_PURITY below the floor
    low = P.Estimate("snp_imbalance", 0.12, 0.08, 0.16, "x")
    res = P.combine({"sample_id": "S", "sample_type": "tumor", "purity": None}, {"snp_imbalance": low}, S)
    assert "LOW_PURITY" in res.states


def test_clonal_power_uses_the_interval_lower_end_and_local_copy_number():
    hs = _hotspots([dict(gene="NRAS", codon="12", status="not_evaluable", vaf="0", alt_reads="0", depth="110"),
                    dict(gene="KRAS", codon="12", status="not_detected", vaf="0", alt_reads="0", depth="400")])
    res = P.PurityResult("S", "P", "tumor", purity=0.58, low=0.50, high=0.66)
    cp = P.clonal_power(hs, res, None, S)
    nras = cp["NRAS"]["12"]
    assert nras["clonal_vaf"] == pytest.approx(0.25) and nras["power_clonal"] > 0.99
    assert nras["power_at_lod"] == pytest.approx(0.65)
    # at purity 0.1 a clonal mutation (VAF 0.05) at 110x is not reliably seen
    res.low = 0.1
    assert P.clonal_power(hs, res, None, S)["NRAS"]["12"]["power_clonal"] < 0.8


def test_plasma_without_evidence_reports_below_detection_with_lod_never_zero():
    hs = _hotspots([dict(gene="KRAS", codon="12", status="not_evaluable", vaf="0", alt_reads="0", depth="1500",
                         min_alt_detectable="8")])
    lod = P.detection_limit(hs, 0.8)
    assert 0.005 < lod[0] < 0.03 and "1500" in lod[1]
    ests = {"snp_imbalance": P.Estimate("snp_imbalance"), "segment_fit": P.Estimate("segment_fit"),
            "somatic_vaf": P.estimate_somatic_vaf(hs), "amplification_bound": P.Estimate("amplification_bound")}
    res = P.combine({"sample_id": "L", "sample_type": "plasma", "purity": None}, ests, S, lod)
    assert res.purity is None and res.states == ["NO_TUMOR_EVIDENCE"] and res.high == pytest.approx(lod[0])
    row = P.tumor_fraction_row(res)
    assert row["status"] == "negative" and "below detection" in row["evidence"] and "LoD" in row["evidence"]
    assert row["value"] == ""


def test_amplification_bound_for_plasma():
    segs = pd.DataFrame([dict(chrom="chr17", start=0, end=1000, log2=0.68, bins=30, log2_se=0.06, snps=0,
                              snp_depth=0, baf=float("nan"), baf_se=float("nan"), imbalance_p=1.0)])
    e = P.amplification_bound(segs, S)
    assert e.value == pytest.approx((2 * 2 ** 0.68 - 2) / 18, abs=1e-3) and e.lower_bound_only


@pytest.mark.skipif(not (DATA / "cohort.json").exists() or not json.loads((DATA / "cohort.json").read_text())
                    .get("complete"), reason="no complete test cohort at tests/cohort/data")
def test_cli_on_a_cohort_bam_finds_germline_hets(tmp_path):
    from erbbscreen.cli import main

    bam = DATA / "bams" / "P10-T.bam"
    out = tmp_path / "p.tsv"
    rc = main(["purity", "--bam", str(bam), "--targets", str(DATA / "reference" / "panel.bed"), "--out", str(out),
               "--snps", str(tmp_path / "snps.tsv"), "--sample-type", "tumor"])
    assert rc == 0
    row = pd.read_csv(out, sep="\t").iloc[0]
    assert row["states"] == "UNRESOLVED"      # no segments given, no hotspot table: nothing to estimate from
    snps = pd.read_csv(tmp_path / "snps.tsv", sep="\t")
    truth = json.loads((DATA / "truth.json").read_text())
    assert len(snps) >= 40
    frac = snps["allele2"] / snps["depth"]
    assert frac.median() == pytest.approx(0.5, abs=0.06)       # germline hets in a copy-neutral tumour
    assert truth["germline_snps_per_patient"]["P10"] >= len(snps) * 0.5
    assert main(["purity", "--bam", str(tmp_path / "missing.bam"), "--out", str(out)]) == 1


@pytest.mark.parametrize("sample", ["P03-T", "P13-L", "P02-N"])
def test_search_in_differing_reads_gives_the_full_pileup_table(cohort_dir, tmp_path, sample):
    """nonref_counts (positions found in the reads with NM != 0, then counted in all reads) returns exactly the
    table of one pileup of all reads filtered to >= 4 non-reference bases (SYNTHETIC cohort: tumour, plasma,
    normal), also for an alignment whose reads carry no NM tag (then every read is searched)."""
    import pysam

    from erbbscreen.purity.snps import allele_counts, nonref_counts, read_regions

    bed = tmp_path / "targets.bed"
    panel = pd.read_csv(cohort_dir / "reference" / "panel.bed", sep="\t", header=None, usecols=[0, 1, 2])
    panel.to_csv(bed, sep="\t", header=False, index=False)
    fasta = str(cohort_dir / "reference" / "genome.fa")
    regions = read_regions(bed, 150)
    bam = str(cohort_dir / "bams" / f"{sample}.bam")
    full = allele_counts(bam, regions, 20, fasta, 0, 4)
    assert len(full) >= 20
    pd.testing.assert_frame_equal(nonref_counts(bam, regions, 20, fasta, 4), full)
    no_nm = tmp_path / "no_nm.bam"
    with pysam.AlignmentFile(bam) as src, pysam.AlignmentFile(str(no_nm), "wb", template=src) as dst:
        for read in src.fetch("chr17"):
            read.set_tag("NM", None)
            dst.write(read)
    pysam.index(str(no_nm))
    chr17 = {"chr17": regions["chr17"]}
    pd.testing.assert_frame_equal(nonref_counts(str(no_nm), chr17, 20, fasta, 4),
                                  allele_counts(str(no_nm), chr17, 20, fasta, 0, 4))
    assert len(allele_counts(str(no_nm), chr17, 20, fasta, 0, 4)) > 0


def test_capped_het_search_counts_at_full_depth(cohort_dir, tmp_path):
    """Het positions are searched with at most snp.max_search_depth reads per position, then counted at full depth
    (SYNTHETIC cohort, plasma P13-L, no matched normal): a cap above the sample's depth changes nothing; a cap that
    binds (30 reads) can only drop positions, and every SNP it keeps carries the full-depth counts."""
    from erbbscreen import samtools
    from erbbscreen.purity.snps import read_regions
    from erbbscreen.purity.stage import estimate_sample

    bed = tmp_path / "targets.bed"
    panel = pd.read_csv(cohort_dir / "reference" / "panel.bed", sep="\t", header=None, usecols=[0, 1, 2])
    panel.to_csv(bed, sep="\t", header=False, index=False)
    bam = str(cohort_dir / "bams" / "P13-L.bam")
    tables = {}
    for cap in (0, 2000, 30):
        s = P.purity_settings({"snp": {"max_search_depth": cap}})
        regions = read_regions(bed, int(s["snp"]["flank"]))
        tables[cap] = estimate_sample({"sample_id": "P13-L", "sample_type": "plasma", "purity": None}, bam, regions,
                                      settings=s)[2]
    full, capped = tables[0], tables[30]
    assert len(full) >= 20
    pd.testing.assert_frame_equal(full, tables[2000])
    # a shallow sample (QC mean depth <= cap / UNCAPPED_SEARCH_DEPTH_RATIO) is searched uncapped, in the reads that
    # differ from the reference, then counted in all reads there: the same table
    s = P.purity_settings({"snp": {"max_search_depth": 2000}})
    uncapped = estimate_sample({"sample_id": "P13-L", "sample_type": "plasma", "purity": None}, bam,
                               read_regions(bed, int(s["snp"]["flank"])), settings=s, mean_depth=150.0)[2]
    pd.testing.assert_frame_equal(full, uncapped)
    assert 0 < len(capped) <= len(full)
    kept = capped.merge(full, on=["chrom", "pos"], suffixes=("", "_full"))
    assert len(kept) == len(capped)                                    # no position the full search would reject
    assert (kept["depth"] == kept["depth_full"]).all() and (kept["depth"] > 30).any()   # full-depth counts
    first = full.iloc[0]
    few = samtools.base_counts(bam, [(first["chrom"], int(first["pos"]) - 1, int(first["pos"]))], min_baseq=20,
                               max_depth=10)
    assert int(few[list("ACGT")].sum(axis=1).iloc[0]) < int(first["depth"])   # the cap bounds what is read
