"""Codon genotyping on REAL reads with real bases, checked against bcftools and the GIAB truth set: NA12878
(Genome in a Bottle sample) HiSeq X reads over a 12,356-bp slice of GRCh37 chr22 (contig `q`), with that
slice's real sequence and the GIAB v2.19-style genotypes for it, as shipped by the Debian package `freebayes`
(tests/data/realreads_giab/PROVENANCE.md; scripts/install.sh installs it).

A user-supplied codon table places codons of a notional reading frame (q:1-3 = codon 1, plus strand; the slice
holds no target gene) over GIAB heterozygous SNPs and over SNP-free stretches. A correct pipeline calls every
GIAB het SNP codon with enough fragments `detected` at a VAF that agrees with bcftools' allele depths (and
bcftools calls 0/1, as GIAB does), finds no variant where GIAB and bcftools find none, and reports codons under
the depth floor `not_evaluable`.

Run once per module (~30 s); reuse a run with ERBBSCREEN_GIAB_RESULTS=<workdir>.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pysam
import pytest

from conftest import assert_outputs_written, real_reads_config, result_table, run_once
from erbbscreen.hotspots import translate_codon

DATA = Path("/usr/share/doc/freebayes/examples/tiny")
if not (DATA / "NA12878.chr22.tiny.bam").is_file():
    pytest.skip(f"{DATA}/NA12878.chr22.tiny.bam not installed: `apt-get install freebayes` (scripts/install.sh "
                "does it)", allow_module_level=True)

BAM = DATA / "NA12878.chr22.tiny.bam"
TRUTH = DATA / "NA12878.chr22.tiny.giab.vcf"
# codons (notional frame, codon k = q:3k-2..3k) at GIAB het SNPs, at SNP-free stretches, and at the slice's start,
# where read depth ramps up from 0 (q:1-150)
SNP_POSITIONS = (186, 1008, 1917, 4449, 5009, 6418, 8846, 9791, 10532, 11261, 11536)
WILD_TYPE_CODONS = (800, 2000, 3000)            # q:2398-2400, q:5998-6000, q:8998-9000
EDGE_CODONS = (5, 20)                           # q:13-15, q:58-60


def truth_het_snps() -> dict[int, tuple[str, str]]:
    out = {}
    for line in TRUTH.read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if f[9].split(":")[0] in ("0/1", "0|1", "1|0"):
            out[int(f[1])] = (f[3], f[4])
    return out


def build_inputs(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    fasta = workdir / "q.fa"
    shutil.copy(DATA / "q.fa", fasta)                     # the package's real slice, as shipped
    pysam.faidx(str(fasta))
    (workdir / "samples.tsv").write_text("patient_id\tsample_id\tsample_type\tbam\tpurity\n"
                                         f"NA12878\tNA12878-T\ttumor\t{BAM}\t\n")
    with pysam.FastaFile(str(fasta)) as fa:
        codons = sorted({(p + 2) // 3 for p in SNP_POSITIONS} | set(WILD_TYPE_CODONS) | set(EDGE_CODONS))
        lines = ["gene\tcodon\tref_aa\tchrom\tstrand\tpos1\tpos2\tpos3"]
        for k in codons:
            s = 3 * k - 2
            aa = translate_codon(fa.fetch("q", s - 1, s + 2))
            assert aa not in ("*", "X"), (k, aa)
            lines.append(f"q_frame1\t{k}\t{aa}\tq\t+\t{s}\t{s + 1}\t{s + 2}")
    (workdir / "hotspots.tsv").write_text("\n".join(lines) + "\n")
    (workdir / "targets.bed").write_text("q\t150\t12200\tslice\n")
    # 3,327 read pairs at ~39x over 12 kb: the cohort-scale read and depth minimums do not apply (project choice for
    # this test; the per-codon depth floor of 30 fragments still does)
    return real_reads_config(workdir, fasta, workdir / "targets.bed", workdir / "hotspots.tsv",
                             qc={"min_reads": 1000, "min_mean_target_depth": 20, "min_p20_target_depth": 0})


@pytest.fixture(scope="module")
def giab_run(tmp_path_factory) -> Path:
    return run_once(tmp_path_factory, "realreads_giab", build_inputs, "ERBBSCREEN_GIAB_RESULTS", "the real NA12878 reads")


def test_every_output_is_written(giab_run):
    assert_outputs_written(giab_run, ("qc.tsv", "hotspots.tsv", "biomarkers.tsv", "eligibility.tsv"))


def bcftools_variants(fasta: Path) -> dict[int, dict]:
    """bcftools mpileup | call -mv over the slice: {pos: {ref, alt, gt, ad_ref, ad_alt}} (independent caller)."""
    pile = subprocess.run(["bcftools", "mpileup", "-a", "AD,DP", "-f", str(fasta), str(BAM)], check=True,
                          capture_output=True).stdout
    text = subprocess.run(["bcftools", "call", "-mv"], input=pile, check=True, capture_output=True).stdout.decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        fmt = dict(zip(f[8].split(":"), f[9].split(":")))
        ad = [int(x) for x in fmt["AD"].split(",")]
        out[int(f[1])] = dict(ref=f[3], alt=f[4], gt=fmt["GT"], ad_ref=ad[0], ad_alt=ad[1])
    return out


@pytest.fixture(scope="module")
def calls(giab_run):
    hs = result_table(giab_run, "hotspots.tsv")
    return {int(r["codon"]): r for _, r in hs.iterrows()}


def test_giab_het_snps_agree_with_bcftools_and_the_truth_set(giab_run, calls):
    truth = truth_het_snps()
    called = bcftools_variants(giab_run / "q.fa")
    detected = {k for k, r in calls.items() if r["status"] == "detected"}
    assert detected == {(p + 2) // 3 for p in (5009, 6418, 8846, 9791, 10532, 11261)}   # the non-synonymous SNPs
    for pos in SNP_POSITIONS:
        ref, alt = truth[pos]
        assert called[pos]["gt"] == "0/1" and (called[pos]["ref"], called[pos]["alt"]) == (ref, alt), called[pos]
        k = (pos + 2) // 3
        row = calls[k]
        codon = list(row["ref_codon"])
        codon[pos - (3 * k - 2)] = alt
        alt_codon = "".join(codon)
        bcf_vaf = called[pos]["ad_alt"] / (called[pos]["ad_ref"] + called[pos]["ad_alt"])
        depth = int(row["depth"])
        if translate_codon(alt_codon) != row["ref_aa"]:          # the SNP changes the amino acid
            assert row["status"] == "detected", row.to_dict()
            assert row["alt_codon"] == alt_codon
            assert float(row["vaf"]) == pytest.approx(bcf_vaf, abs=0.1), (pos, row["vaf"], bcf_vaf)
        else:                                                    # synonymous: seen, but no protein change
            assert row["status"] in ("not_detected", "not_evaluable"), row.to_dict()
            seen = dict(a.split(":") for a in row["other_alleles"].split(";"))
            n_alt = int(seen[f"{alt_codon}(syn)"])
            assert n_alt / depth == pytest.approx(bcf_vaf, abs=0.15), (pos, n_alt, depth, bcf_vaf)
            if row["status"] == "not_detected":
                assert "synonymous allele(s)" in row["reason"] and alt_codon in row["reason"]
        if row["status"] != "detected":
            # absence is only claimed at the depth floor
            assert (row["status"] == "not_detected") == (depth >= 30), row.to_dict()


def test_codons_without_variant_and_thin_codons(giab_run, calls):
    called = bcftools_variants(giab_run / "q.fa")
    truth = truth_het_snps()
    for k in WILD_TYPE_CODONS + EDGE_CODONS:
        span = range(3 * k - 2, 3 * k + 1)
        assert not [p for p in list(called) + list(truth) if p in span], k       # nothing there, per both sources
        row = calls[k]
        assert row["status"] != "detected", row.to_dict()
        depth = int(row["depth"])
        if depth >= 30:
            assert row["status"] == "not_detected" and float(row["power"]) >= 0.8, row.to_dict()
        else:
            assert row["status"] == "not_evaluable" and f"depth {depth} < 30" in row["reason"], row.to_dict()
    # the slice's first bases are covered by few reads (samtools depth) and so by fewer than 30 fragments
    reads_at_edge = int(subprocess.run(["samtools", "depth", "-a", "-r", "q:58-58", str(BAM)], check=True,
                                       capture_output=True, text=True).stdout.split()[2])
    assert reads_at_edge < 30 and calls[20]["status"] == "not_evaluable"
    assert int(calls[20]["depth"]) <= reads_at_edge


def test_no_trial_candidate_without_erbb_evidence(giab_run):
    el = result_table(giab_run, "eligibility.tsv")
    assert set(el["patient_id"]) == {"NA12878"}
    assert "candidate" not in set(el["status"]), el[["status"]]
