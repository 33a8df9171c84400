"""Checks of the SYNTHETIC test cohort (tests/cohort/) against its design, plus unit tests of the simulator.

The cohort tests need a generated cohort (`python tests/cohort/make_cohort.py --out tests/cohort/data`, or the
folder named by $ERBBSCREEN_COHORT); without one they are skipped with that reason. The simulator unit tests run
on a tiny random genome and always run.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent
COHORT_SRC = ROOT / "cohort"
sys.path.insert(0, str(COHORT_SRC))
import simulate as sim  # noqa: E402

DATA = Path(os.environ.get("ERBBSCREEN_COHORT", COHORT_SRC / "data"))
DESIGN = yaml.safe_load((COHORT_SRC / "design.yaml").read_text())
BIOMARKERS = {"ERBB2_CN", "ERBB3_CN", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1_FUSION", "TUMOR_FRACTION"}
STATUSES = {"positive", "negative", "not_evaluable"}


def _cohort_ready() -> str | None:
    man = DATA / "cohort.json"
    if not man.exists():
        return f"no generated cohort at {DATA} (run: python tests/cohort/make_cohort.py --out {DATA})"
    m = json.loads(man.read_text())
    if not m.get("complete"):
        return f"cohort at {DATA} is incomplete (a --samples subset or an interrupted run)"
    return None


needs_cohort = pytest.mark.skipif(_cohort_ready() is not None, reason=_cohort_ready() or "")


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((DATA / "truth.json").read_text())


@pytest.fixture(scope="module")
def sheet():
    import pandas as pd
    return pd.read_csv(DATA / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)


def bam(sample: str):
    import pysam
    return pysam.AlignmentFile(str(DATA / "bams" / f"{sample}.bam"))


def fasta():
    import pysam
    return pysam.FastaFile(str(DATA / "reference" / "genome.fa"))


def planted(truth: dict, sample: str, kind: str) -> list[dict]:
    return [p for p in truth["samples"][sample]["planted"] if p["type"] == kind]


def fragments_by_allele(sample: str, chrom: str, positions: list[int], min_bq: int = 20) -> dict[str, int]:
    """Unique (non-duplicate) fragments by the bases they carry at `positions` (1-based), all from one read."""
    seen: dict[str, str] = {}
    with bam(sample) as fh:
        for r in fh.fetch(chrom, min(positions) - 1, max(positions)):
            if r.is_duplicate or r.is_secondary or r.is_supplementary or r.mapping_quality < 20:
                continue
            ap = {rp: qp for qp, rp in r.get_aligned_pairs(matches_only=True)}
            if not all(p - 1 in ap for p in positions):
                continue
            qs = [ap[p - 1] for p in positions]
            if min(r.query_qualities[q] for q in qs) < min_bq:
                continue
            seen.setdefault(r.query_name, "".join(r.query_sequence[q] for q in qs))
    out: dict[str, int] = {}
    for a in seen.values():
        out[a] = out.get(a, 0) + 1
    return out


def binom_ok(k: int, n: int, p: float, z: float = 4.0) -> bool:
    sd = (n * p * (1 - p)) ** 0.5
    return abs(k - n * p) <= z * sd + 1


# ----------------------------------------------------------------------------------------------------------------
# design file

def test_design_has_every_sample_and_outcome():
    ids = [s["id"] for s in DESIGN["samples"]]
    assert len(ids) == len(set(ids)) == 22
    for s in DESIGN["samples"]:
        assert re.fullmatch(r"P\d\d-[TLN]", s["id"]) and s["id"].startswith(s["patient"])
        assert {"T": "tumor", "L": "plasma", "N": "normal"}[s["id"][-1]] == s["type"]
        exp = DESIGN["normal_expected"] if s["expected"] == "normal" else s["expected"]
        assert set(exp) == BIOMARKERS, s["id"]
        for e in exp.values():
            assert e["status"] in STATUSES and set(e.get("accept", [])) <= STATUSES


def test_design_limit_cases_present():
    by = {s["id"]: s for s in DESIGN["samples"]}
    assert {"type": "cn", "region": "ERBB2_amplicon", "cn": 6} in by["P03-T"]["events"] and by["P03-T"]["purity"] == 0.25
    assert by["P04-T"]["events"][0]["cn"] == 3 and by["P04-T"]["expected"]["ERBB2_CN"]["status"] == "negative"
    assert by["P09-T"]["expected"]["KRAS"]["status"] == "not_evaluable"
    assert by["P11-T"]["expected"]["NRG1_FUSION"]["status"] == "not_evaluable"
    assert by["P01-L"]["sheet_purity"] is None and by["P06-T"]["sheet_purity"] is None
    # purity limit cases (issue #9): no purity in the sheet, truth recorded
    assert all(by[s]["sheet_purity"] is None for s in ("P12-T", "P13-L", "P14-T"))
    assert by["P12-T"]["purity"] == 0.35 and {"type": "cn", "region": "ERBB2_amplicon", "cn": 8} in by["P12-T"]["events"]
    assert {e.get("cn") for e in by["P12-T"]["events"] if "chrom" in e} == {1, 3}      # contig/arm gains and losses
    assert not [e for e in by["P12-T"]["events"] if e["type"] == "snv"]
    assert by["P13-L"]["purity"] == 0.15 and not [e for e in by["P13-L"]["events"] if e["type"] == "snv"]
    assert by["P14-T"]["events"] == [] and by["P14-T"]["expected"]["TUMOR_FRACTION"]["status"] == "not_evaluable"


@needs_cohort
def test_truth_records_true_purity_and_allelic_imbalance(truth):
    """Every sample's true tumour fraction is in truth.json; CN events record the haplotype-A share that germline
    het SNPs show there (the purity stage's allelic-imbalance truth)."""
    for sid, s in truth["samples"].items():
        assert 0 <= s["true_tumour_fraction"] <= 1
    loss = [e for e in truth["samples"]["P12-T"]["planted"] if e["type"] == "copy_number" and e["tumour_cn"] == 1]
    assert loss and all(e["expected_haplotype_a_fraction"] == pytest.approx(0.65 / 1.65) for e in loss)


# ----------------------------------------------------------------------------------------------------------------
# generated cohort

@needs_cohort
def test_sheet_parses_and_matches_design(sheet):
    assert list(sheet.columns[:5]) == ["patient_id", "sample_id", "sample_type", "bam", "purity"]
    by = {s["id"]: s for s in DESIGN["samples"]}
    assert set(sheet.sample_id) == set(by)
    for _, row in sheet.iterrows():
        s = by[row.sample_id]
        assert row.patient_id == s["patient"] and row.sample_type == s["type"]
        assert (DATA / row.bam).exists() and Path(str(DATA / row.bam) + ".bai").exists()
        if s["sheet_purity"] is None:
            assert row.purity == ""
        else:
            assert 0 < float(row.purity) <= 1 and float(row.purity) == pytest.approx(s["sheet_purity"])


@needs_cohort
def test_truth_declares_synthetic_and_outcomes(truth):
    assert "SYNTHETIC" in truth and "simulated" in truth["SYNTHETIC"]
    assert set(truth["samples"]) == {s["id"] for s in DESIGN["samples"]}
    for sid, s in truth["samples"].items():
        assert set(s["expected"]) == BIOMARKERS
        assert all(e["status"] in STATUSES for e in s["expected"].values())
        assert s["realised"]["read_pairs"] > 0


@needs_cohort
def test_hotspot_table_codons_translate_to_ref_aa():
    import pandas as pd
    hs = pd.read_csv(DATA / "reference" / "hotspots.tsv", sep="\t")
    assert list(hs.columns) == ["gene", "codon", "ref_aa", "chrom", "strand", "pos1", "pos2", "pos3"]
    assert len(hs) == 16
    with fasta() as fa:
        for _, h in hs.iterrows():
            bases = "".join(fa.fetch(h.chrom, p - 1, p).upper() for p in (h.pos1, h.pos2, h.pos3))
            if h.strand == "-":       # pos1..pos3 run 5'->3' on the gene: complement each base, keep the order
                codon = "".join(sim.revcomp(b) for b in bases)
                assert h.pos1 == h.pos2 + 1 == h.pos3 + 2
            else:
                codon = bases
                assert h.pos1 + 2 == h.pos2 + 1 == h.pos3
            assert sim.translate(codon) == h.ref_aa, (h.gene, h.codon, codon)
            wt = next(x["wt"] for x in DESIGN["hotspots"] if x["gene"] == h.gene and x["codon"] == h.codon)
            assert codon == wt


@needs_cohort
def test_transcripts_bed12_cds_is_an_orf():
    with fasta() as fa, open(DATA / "reference" / "transcripts.bed12") as fh:
        rows = [ln.rstrip("\n").split("\t") for ln in fh]
        assert {r[3] for r in rows} == set(DESIGN["gene_models"]["cds"])
        for r in rows:
            chrom, start, end, strand = r[0], int(r[1]), int(r[2]), r[5]
            ts, te = int(r[6]), int(r[7])
            assert r[12].startswith("ENST") and start <= ts < te <= end
            sizes = [int(x) for x in r[10].rstrip(",").split(",")]
            starts = [int(x) for x in r[11].rstrip(",").split(",")]
            cds = ""
            for s, n in zip(starts, sizes):
                a, b = max(start + s, ts), min(start + s + n, te)
                if a < b:
                    cds += fa.fetch(chrom, a, b).upper()
            if strand == "-":
                cds = sim.revcomp(cds)
            plen = DESIGN["gene_models"]["cds"][r[3]]["protein_length"]
            assert len(cds) == 3 * (plen + 1)
            prot = "".join(sim.translate(cds[i:i + 3]) for i in range(0, len(cds), 3))
            assert prot[0] == "M" and prot[-1] == "*" and "*" not in prot[:-1], r[3]


@needs_cohort
def test_domains_and_panel(truth):
    dom = [ln.split("\t") for ln in (DATA / "reference" / "domains.bed").read_text().splitlines()]
    assert len(dom) == 1 and dom[0][3] == "NRG1:EGF_like" and dom[0][0] == "chr8"
    nrg1 = truth["reference"]["genes"]["NRG1"]
    assert nrg1["start_1based"] <= int(dom[0][1]) < int(dom[0][2]) <= nrg1["end"]
    panel = [ln.split("\t") for ln in (DATA / "reference" / "panel.bed").read_text().splitlines()]
    names = {p[3] for p in panel}
    assert "backbone" in names and set(truth["reference"]["genes"]) <= names
    contigs = {p[0] for p in panel if p[3] == "backbone"}
    assert contigs == set(truth["reference"]["contigs"])
    fus = planted(truth, "P08-T", "fusion")[0]
    # the NRG1 breakpoint is 5' of the EGF-like domain, and an intron bait lies on the retained side of each
    # junction, close enough to capture junction-spanning fragments
    assert fus["pos_3p"] < int(dom[0][1])
    for chrom, pos in ((fus["chrom_5p"], fus["pos_5p"]), (fus["chrom_3p"], fus["pos_3p"])):
        assert any(p[0] == chrom and pos <= int(p[1]) <= pos + 150 for p in panel), (chrom, pos)


@needs_cohort
def test_p06_kras_g12d_and_nearby_germline_snp(truth):
    snv = planted(truth, "P06-T", "snv")[0]
    assert snv["protein"] == "p.G12D"
    c = fragments_by_allele("P06-T", snv["chrom"], snv["positions"])
    n = sum(c.values())
    k = c.get(snv["genomic_alt"], 0)
    assert n >= 120 and binom_ok(k, n, snv["expected_vaf"]), (k, n)
    germ = planted(truth, "P06-T", "germline_snv")[0]
    assert abs(germ["pos"] - snv["positions"][0]) <= 6
    for sample in ("P06-T", "P06-L", "P06-N"):
        c = fragments_by_allele(sample, germ["chrom"], [germ["pos"]])
        n = sum(c.values())
        assert binom_ok(c.get(germ["alt"], 0), n, 0.5), (sample, c)
    # the normal carries no G12D
    c = fragments_by_allele("P06-N", snv["chrom"], snv["positions"])
    assert c.get(snv["genomic_alt"], 0) <= 2


@needs_cohort
def test_p07_two_base_change_is_in_phase(truth):
    mnv = planted(truth, "P07-T", "mnv")[0]
    assert mnv["protein"] == "p.G12F" and len(mnv["positions"]) == 2
    c = fragments_by_allele("P07-T", mnv["chrom"], mnv["positions"])
    ref, alt = mnv["genomic_ref"], mnv["genomic_alt"]
    n = sum(c.values())
    assert c.get(alt, 0) > 20
    half = sum(v for a, v in c.items() if a not in (ref, alt))
    assert half <= max(3, 0.03 * n), c    # single-base halves only from sequencing errors


@needs_cohort
def test_plasma_low_vaf_variants_realised(truth):
    for sample, protein in (("P01-L", "p.G12V"), ("P01-L", "p.H1047R"), ("P10-L", "p.E545K"), ("P06-L", "p.G12D")):
        v = next(p for p in planted(truth, sample, "snv") if p["protein"] == protein)
        r = v["realised"]
        assert r["depth_fragments"] >= 1000, (sample, r)
        assert r["alt_fragments"] >= 5 and binom_ok(r["alt_fragments"], r["depth_fragments"], v["expected_vaf"])
    kras = next(p for p in planted(truth, "P01-L", "snv") if p["protein"] == "p.G12V")
    pik = next(p for p in planted(truth, "P01-L", "snv") if p["protein"] == "p.H1047R")
    assert 0.10 <= kras["expected_vaf"] / pik["expected_vaf"] <= 0.25      # relative clonality ~16%
    assert 0.05 <= kras["realised"]["vaf"] / pik["realised"]["vaf"] <= 0.30  # realised: still subclonal (<= 30%)


@needs_cohort
def test_fusion_split_reads_only_in_p08(truth):
    fus = planted(truth, "P08-T", "fusion")[0]
    assert fus["gene_5p"] == "CD74" and fus["gene_3p"] == "NRG1" and fus["predicted_in_frame"]
    assert fus["bedpe"]["strand1"] == fus["bedpe"]["strand2"] == "-" and fus["delly_ct"] == "5to5"
    r = fus["realised"]
    assert 5 <= r["split_read_fragments"] <= 14          # the limit case: "about 8" unique split-read fragments
    assert r["split_read_fragments"] + r["discordant_pairs"] >= 8

    def linking(sample):
        n = 0
        with bam(sample) as fh:
            for rec in fh.fetch(fus["chrom_3p"], fus["pos_3p"] - 500, fus["pos_3p"] + 500):
                if rec.has_tag("SA") and fus["chrom_5p"] + "," in rec.get_tag("SA"):
                    n += 1
                elif rec.is_paired and rec.next_reference_name == fus["chrom_5p"]:
                    n += 1
        return n

    assert linking("P08-T") >= 6
    for other in ("P10-T", "P11-T", "P01-L", "P02-N"):
        assert linking(other) == 0, other


@needs_cohort
def test_p09_depth_low_and_p11_introns_uncovered(truth):
    assert truth["samples"]["P09-T"]["realised"]["mean_target_depth"] < 40
    for sid, s in truth["samples"].items():
        if sid not in ("P09-T",):
            assert s["realised"]["mean_target_depth"] >= 100, sid
    # exome-like capture: intron baits get only off-target / neighbouring-exon spill-over
    p11 = truth["samples"]["P11-T"]["realised"]["mean_depth_intron_targets"]
    p10 = truth["samples"]["P10-T"]["realised"]["mean_depth_intron_targets"]
    assert p10 > 40 and p11 < 0.25 * p10
    fus = planted(truth, "P08-T", "fusion")[0]
    with bam("P11-T") as fh:
        n = fh.count(fus["chrom_3p"], fus["pos_3p"] - 60, fus["pos_3p"] + 60)
    assert n < 10


@needs_cohort
def test_duplicates_flagged(truth):
    for sid, s in truth["samples"].items():
        d = s["realised"]["duplicate_pct"]
        if s["library"] == "plasma":
            assert 25 <= d <= 50, (sid, d)
        else:
            assert 7 <= d <= 18, (sid, d)
    with bam("P06-L") as fh:
        reads = [r for _, r in zip(range(20000), fh.fetch("chr12"))]
    assert 0.2 < np.mean([r.is_duplicate for r in reads]) < 0.6


@needs_cohort
def test_erbb2_amplicon_depth_ratios(truth):
    """Tumour/normal depth ratio over ERBB2 exons vs other exons follows (p*CN + 2(1-p)) / 2."""
    import pysam
    panel = [ln.split("\t") for ln in (DATA / "reference" / "panel.bed").read_text().splitlines()]
    erbb2 = [(p[0], int(p[1]), int(p[2])) for p in panel if p[3] == "ERBB2"]
    others = [(p[0], int(p[1]), int(p[2])) for p in panel if p[3] in ("EGFR", "MET", "ATP1B1", "SDC4")]

    def depth(sample, regions):
        tot = 0
        with pysam.AlignmentFile(str(DATA / "bams" / f"{sample}.bam")) as fh:
            for c, s, e in regions:
                tot += fh.count(c, s, e, read_callback=lambda r: not (r.is_duplicate or r.is_secondary
                                                                       or r.is_supplementary))
        return tot

    norm = depth("P01-N", erbb2) / depth("P01-N", others)
    for sid, lo, hi in (("P01-T", 3.3, 4.7), ("P03-T", 1.3, 1.75), ("P04-T", 1.2, 1.55), ("P10-T", 0.85, 1.15)):
        ratio = depth(sid, erbb2) / depth(sid, others) / norm
        assert lo <= ratio <= hi, (sid, ratio)
        cn = planted(truth, sid, "copy_number")
        if cn:
            assert np.log2(ratio) == pytest.approx(cn[0]["expected_log2_observed"], abs=0.2)


# ----------------------------------------------------------------------------------------------------------------
# simulator unit tests (tiny genome, no cohort needed)

ERR = DESIGN["errors"]


def test_fragment_length_distributions():
    rng = np.random.default_rng(1)
    t = sim.fragment_lengths(rng, 50000, DESIGN["libraries"]["tissue"]["fragment"])
    assert 240 < t.mean() < 260 and 40 < t.std() < 55 and t.min() >= 120
    p = sim.fragment_lengths(rng, 50000, DESIGN["libraries"]["plasma"]["fragment"])
    hist = np.bincount(p, minlength=600)
    smooth = np.convolve(hist, np.ones(5) / 5, mode="same")
    assert 160 <= int(np.argmax(smooth)) <= 172                       # mono-nucleosome mode ~167
    di = smooth[300:360].max()
    assert di > 5 * smooth[250:270].mean() and (p > 280).mean() == pytest.approx(0.10, abs=0.03)


def test_error_rate_rises_along_the_read_and_matches_quality():
    rng = np.random.default_rng(2)
    ref = sim.random_sequence(rng, 20000)
    seqs = ref[None, :]
    n = 20000
    starts = rng.integers(0, ref.size - 300, n)
    fr = sim.Fragments(starts, np.full(n, 250), np.zeros(n, np.int64), np.zeros(n, bool), np.full(n, -1))
    r1, q1, r2, q2 = sim.make_reads(rng, seqs, fr, 100, ERR)
    truth1 = ref[starts[:, None] + np.arange(100)]
    err = (r1 != truth1) & (r1 != 4)
    per_cycle = err.mean(axis=0)
    assert 0.0004 < per_cycle[:10].mean() < 0.002
    assert 0.006 < per_cycle[-10:].mean() < 0.015
    # empirical error rate per quality bin ~ 10^(-Q/10)
    for q in (12, 23):
        m = q1 == q
        assert m.sum() > 1000
        assert err[m].mean() == pytest.approx(10 ** (-q / 10), rel=0.35)
    assert (r1 == 4).any() and (q1[r1 == 4] == 2).all()
    # read 2 is the reverse complement of the fragment end
    truth2 = sim.COMP[ref[(starts + 250 - 100)[:, None] + np.arange(100)]][:, ::-1]
    assert ((r2 == truth2) | (r2 == 4)).mean() > 0.99


def test_duplicates_fraction_and_identity():
    rng = np.random.default_rng(3)
    n = 20000
    fr = sim.Fragments(rng.integers(0, 10**6, n), np.full(n, 200), np.zeros(n, np.int64),
                       rng.random(n) < 0.5, np.full(n, -1))
    d = sim.add_duplicates(rng, fr, 0.35)
    dup = d.dup_of >= 0
    assert dup.mean() == pytest.approx(0.35, abs=0.02)
    orig = d.dup_of[dup]
    assert (d.start[dup] == fr.start[orig]).all() and (d.flip[dup] == fr.flip[orig]).all()


def test_capture_enriches_targets():
    rng = np.random.default_rng(4)
    L = 200000
    targets = [(s, s + 150, 1.0) for s in range(5000, L - 5000, 20000)]
    w = sim.capture_weights(L, targets, 75.0, 0.0)
    w += 0.03 / 0.97 * w.sum() / L
    mids = sim.sample_midpoints(rng, w, 100000)
    on = np.zeros(L, bool)
    for s, e, _ in targets:
        on[s - 200:e + 200] = True
    assert 0.94 < on[mids].mean() < 0.99      # ~3% off target


def test_haplotype_mixture_follows_weights_and_copy_number():
    ref = np.zeros(1000, np.uint8)
    prof = sim.Profile(1000, 1.0)
    amp = sim.Profile(1000, 1.0).set(500, 1000, 9.0)          # 9 copies of tumour haplotype A: CN 10
    p = 0.5
    hs = sim.HapSet(ref, [sim.Haplotype("nA", 1 - p, prof, {}), sim.Haplotype("nB", 1 - p, prof, {}),
                          sim.Haplotype("tB", p, prof, {}), sim.Haplotype("tA", p, amp, {10: 2, 700: 3})])
    rng = np.random.default_rng(6)
    h = hs.assign(rng, rng.integers(0, 500, 40000))
    assert np.bincount(h, minlength=4) / h.size == pytest.approx([0.25] * 4, abs=0.01)
    h = hs.assign(rng, rng.integers(500, 1000, 40000))
    assert (h == 3).mean() == pytest.approx(9 * p / (9 * p + 3 * p), abs=0.01)     # 4.5 / 6 = 0.75
    assert hs.mass()[700] == pytest.approx(2 * (1 - p) + p + 9 * p)                # (p*CN + 2(1-p)) with CN 10
    assert hs.seqs[3, 10] == 2 and hs.seqs[3, 700] == 3 and hs.seqs[0, 10] == 0


def test_transcript_mapping_minus_strand():
    tx = sim.Transcript("G", "T1", "chrX", "-", [(100, 110), (200, 220), (300, 310)], cds_tx_start=5, cds_len=24)
    assert tx.tx_exons == [(300, 310), (200, 220), (100, 110)]
    assert tx.c_to_genome(1) == 304 and tx.c_to_genome(5) == 300 and tx.c_to_genome(6) == 219
    assert tx.c_to_genome(24) == 201 and tx.genome_to_tx(219) == 10 and tx.genome_to_tx(250) is None
    assert tx.cds_genomic == (201, 305)
    assert tx.introns_tx() == [(220, 300), (110, 200)]
    assert tx.exon_coding_ranges() == [(0, 5), (5, 24), None] and tx.exon_phase_after(1) == 2
    short = sim.shrink_layout(tx, 30, 1000, "chrY")
    assert [e - s for s, e in short.exons] == [10, 20, 10] and short.exons[1][0] - short.exons[0][1] == 30


def test_fastq_bytes_parse():
    rng = np.random.default_rng(5)
    r = rng.integers(0, 4, (3, 10)).astype(np.uint8)
    q = np.full((3, 10), 37, np.uint8)
    txt = sim.fastq_interleaved("S1", 7, r, q, r, q).decode()
    lines = txt.splitlines()
    assert len(lines) == 24 and lines[0] == "@S1:000000007" and lines[4] == "@S1:000000007"
    assert lines[1] == sim.decode(r[0]) and lines[3] == "F" * 10
