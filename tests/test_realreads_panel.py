"""The whole workflow on REAL reads that CI has: two patients of a germline breast-cancer amplicon panel shipped
by the Debian package `covtobed-examples` (tests/data/realreads_panel/PROVENANCE.md; scripts/install.sh installs
it). Real Illumina MiSeq reads, bwa mem on UCSC hg19 (real `chr` header, true lengths), read sequences stripped
by the data's publisher (SEQ/QUAL `*`): a coverage-only real BAM, unindexed, with 27% unmapped reads in one
patient. The panel covers TP53, BRCA1/2, ATM, CDH1, PALB2, CHEK2, PTEN, ... and none of ERBB2, ERBB3, KRAS,
NRAS, BRAF, PIK3CA or NRG1.

Reference: built the way a user with a partial genome has it, at the true hg19 lengths of chr8, chr12 and chr17
(NRG1, KRAS/ERBB3, TP53/ERBB2), N everywhere except the TP53 codons of the user-supplied codon table, whose hg19
bases are typed in from ClinVar (cited at TP53_CODONS). The package BAMs are named in the sheet as they are:
the workflow links and indexes them under results/ (inputs never modified).

Run once per module (~1-2 min); reuse a run with ERBBSCREEN_PANEL_RESULTS=<workdir>.
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pysam
import pytest
import yaml

from conftest import ROOT, assert_outputs_written, real_reads_config, result_table, run_once

DATA = Path("/usr/share/doc/covtobed-examples/examples")
if not (DATA / "panel_02.bam").is_file():
    pytest.skip(f"{DATA}/panel_0[12].bam not installed: `apt-get install covtobed-examples` (scripts/install.sh "
                "does it)", allow_module_level=True)

SAMPLES = [("panel01", "P01-T", "panel_01.bam"), ("panel02", "P02-T", "panel_02.bam")]
CONTIGS = ("chr8", "chr12", "chr17")       # NRG1; KRAS, ERBB3; TP53, ERBB2 (lengths from the BAM header)
# User-supplied codons on TP53 (minus strand, hg19 = NC_000017.10), pos1..pos3 = c.(3k-2), c.(3k-1), c.3k, with the
# hg19 plus-strand base at each position. Sources: ClinVar RCV000013144 (rs1042522, c.215C>G p.P72R,
# NC_000017.10:g.7579472G>C); ClinVar/ClinGen TP53 VCEP c.524G>A p.R175H at GRCh37 chr17:7578406 C>T;
# c.818G>A p.R273H at GRCh38 chr17:7673802 C>T = hg19 7577120 (the same -96,682 offset as rs1042522's
# GRCh38 g.7676154). Codons: P72 CCC, R175 CGC, R273 CGT (NM_000546; the reported substitutions fix the
# middle bases).
TP53_CODONS = [("TP53", 72, "P", (7579473, 7579472, 7579471), "GGG"),
               ("TP53", 175, "R", (7578407, 7578406, 7578405), "GCG"),
               ("TP53", 273, "R", (7577121, 7577120, 7577119), "GCA")]


def header_lengths(bam: Path) -> dict[str, int]:
    with pysam.AlignmentFile(str(bam), check_sq=False) as fh:
        return dict(zip(fh.references, fh.lengths))


def write_padded_reference(fasta: Path, lengths: dict[str, int], bases: dict[tuple[str, int], str]) -> Path:
    """N at the true contig lengths, with the given 1-based bases set; faidx-indexed."""
    with open(fasta, "wb") as out:
        for contig, length in lengths.items():
            seq = bytearray(b"N" * length)
            for (c, pos), b in bases.items():
                if c == contig:
                    seq[pos - 1] = ord(b)
            out.write(f">{contig}\n".encode())
            for i in range(0, length, 1_000_000):
                out.write(bytes(seq[i:i + 1_000_000]) + b"\n")   # long lines: faidx handles them
    pysam.faidx(str(fasta))
    return fasta


def build_inputs(workdir: Path) -> Path:
    """Reference, sheet, codon table and config in ``workdir``; returns the config path."""
    workdir.mkdir(parents=True, exist_ok=True)
    lengths = header_lengths(DATA / "panel_01.bam")
    assert header_lengths(DATA / "panel_02.bam") == lengths
    bases = {("chr17", p): b for *_, pos, plus in TP53_CODONS for p, b in zip(pos, plus)}
    fasta = write_padded_reference(workdir / "hg19_partial.fa", {c: lengths[c] for c in CONTIGS}, bases)
    rows = ["patient_id\tsample_id\tsample_type\tbam\tpurity"]
    rows += [f"{patient}\t{sid}\ttumor\t{DATA / bam}\t" for patient, sid, bam in SAMPLES]
    (workdir / "samples.tsv").write_text("\n".join(rows) + "\n")
    # the user's table: the bundled GRCh37 codons (KRAS/NRAS/BRAF/PIK3CA) plus the TP53 codons the panel covers
    bundled = pd.read_csv(ROOT / "resources" / "GRCh37" / "hotspots.tsv", sep="\t", dtype=str)
    cols = ["gene", "codon", "ref_aa", "chrom", "strand", "pos1", "pos2", "pos3"]
    tp53 = pd.DataFrame([(g, c, aa, "chr17", "-", *pos) for g, c, aa, pos, _ in TP53_CODONS], columns=cols)
    pd.concat([bundled[cols], tp53.astype(str)]).to_csv(workdir / "hotspots.tsv", sep="\t", index=False)
    # the panel's own target BED, as shipped
    return real_reads_config(workdir, fasta, DATA / "target.bed", workdir / "hotspots.tsv")


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory) -> Path:
    return run_once(tmp_path_factory, "realreads_panel", build_inputs, "ERBBSCREEN_PANEL_RESULTS", "the real panel reads")


def test_every_output_is_written(panel_run):
    assert_outputs_written(panel_run, ('qc.tsv', 'hotspots.tsv', 'copy_number.tsv', 'fusions.tsv', 'biomarkers.tsv', 'eligibility.tsv'))


def _samtools(*args) -> str:
    return subprocess.run(["samtools", *args], check=True, capture_output=True, text=True).stdout


def md_reference_bases(bam: Path, contig: str, positions) -> dict[int, Counter]:
    """Reference bases the reads' MD tags record at ``positions`` (1-based): a read states the reference base only
    where it mismatches or deletes it. MD runs over the aligned reference bases in order (no N operations here)."""
    seen = {p: Counter() for p in positions}
    with pysam.AlignmentFile(str(bam)) as fh:
        for read in fh.fetch(contig, min(positions) - 1, max(positions)):
            if read.is_unmapped or not read.has_tag("MD"):
                continue
            pos = read.reference_start + 1
            for number, mismatch, deleted in re.findall(r"(\d+)|([A-Z])|\^([A-Z]+)", read.get_tag("MD")):
                if number:
                    pos += int(number)
                    continue
                for base in mismatch or deleted:
                    if pos in seen:
                        seen[pos][base] += 1
                    pos += 1
    return seen


def test_typed_reference_bases_agree_with_the_reads_md_tags(panel_run):
    """The TP53 codon bases typed in from ClinVar are the ones the aligner saw in its hg19: every read that
    mismatches there records that base in its MD tag, and no read records another. At c.215 (rs1042522, P72R)
    about 44% of panel_02's reads differ from the reference: very likely a heterozygous P72R, which no tool can
    call from these files because the read bases were stripped."""
    typed = {p: b for *_, pos, plus in TP53_CODONS for p, b in zip(pos, plus)}
    for _, sid, _ in SAMPLES:
        bam = panel_run / "results" / "preflight" / sid / f"{sid}.bam"
        seen = md_reference_bases(bam, "chr17", sorted(typed))
        assert sum(sum(c.values()) for c in seen.values()) > 0
        for p, counts in seen.items():
            assert set(counts) <= {typed[p]}, (sid, p, counts)
    seen = md_reference_bases(panel_run / "results" / "preflight" / "P02-T" / "P02-T.bam", "chr17", [7579472])
    covering = int(_samtools("view", "-c", "-F", "0xF04", "-q", "20",
                             str(panel_run / "results" / "preflight" / "P02-T" / "P02-T.bam"), "chr17:7579472-7579472"))
    assert 0.3 <= seen[7579472]["G"] / covering <= 0.7, (seen, covering)


def test_mapped_fraction_gate_agrees_with_samtools_flagstat(panel_run):
    """panel_01 has 27% unmapped reads: below the 80% mapped floor it fails QC, and everything downstream is
    not_evaluable naming that reason; panel_02 (99.4% mapped) passes."""
    qc = result_table(panel_run, "qc.tsv").set_index("sample_id")
    for _, sid, bam in SAMPLES:
        text = _samtools("flagstat", str(DATA / bam))
        primary = int(next(line for line in text.splitlines() if line.endswith(" primary")).split(" + ")[0])
        mapped = int(next(line for line in text.splitlines() if "primary mapped" in line).split(" + ")[0])
        assert float(qc.loc[sid, "mapped_pct"]) == pytest.approx(100.0 * mapped / primary, abs=0.01)
    assert qc.loc["P01-T", "status"] == "fail" and "mapped 72.9% < minimum 80.0%" in qc.loc["P01-T", "reasons"]
    assert qc.loc["P02-T", "status"] == "pass", qc.loc["P02-T"].to_dict()
    bm = result_table(panel_run, "biomarkers.tsv")
    p01 = bm[bm["sample_id"] == "P01-T"]
    assert len(p01) and set(p01["status"]) == {"not_evaluable"}
    assert all("failed QC" in str(e) for e in p01["evidence"])


def test_tp53_codons_covered_by_reads_without_bases_are_not_evaluable(panel_run):
    """Hundreds to thousands of reads cover each TP53 codon (samtools counts them), but none carries a base: the
    codon is not_evaluable with that reason, never not_detected. bcftools, given the same BAM and reference, finds
    no base to pile up either (no record)."""
    hs = result_table(panel_run, "hotspots.tsv")
    bam = panel_run / "results" / "preflight" / "P02-T" / "P02-T.bam"   # the workflow's link + index
    fasta = panel_run / "hg19_partial.fa"
    for gene, codon, _, pos, _ in TP53_CODONS:
        row = hs[(hs["sample_id"] == "P02-T") & (hs["gene"] == gene) & (hs["codon"].astype(int) == codon)].iloc[0]
        region = f"chr17:{min(pos)}-{max(pos)}"
        # reads over the codon that pass the hotspot read filters (unmapped, secondary, QC-fail, duplicate,
        # supplementary; MAPQ >= 20), counted by samtools
        covering = int(_samtools("view", "-c", "-F", "0xF04", "-q", "20", str(bam), region))
        assert covering >= 100, (codon, covering)
        assert row["status"] == "not_evaluable", row.to_dict()
        assert int(row["depth"]) == 0
        assert f"{covering} reads cover the codon but carry no sequence" in row["reason"], row["reason"]
        pile = subprocess.run(["bcftools", "mpileup", "-f", str(fasta), "-r", region, str(bam)], check=True,
                              capture_output=True, text=True).stdout
        assert not [line for line in pile.splitlines() if not line.startswith("#")], pile[-500:]


def test_genes_outside_the_panel_are_not_evaluable_with_reason_never_negative(panel_run):
    bm = result_table(panel_run, "biomarkers.tsv")
    p02 = bm[bm["sample_id"] == "P02-T"].set_index("biomarker")
    # ERBB2 (chr17, in the reference): the panel has no target there
    assert p02.loc["ERBB2_CN", "status"] == "not_evaluable"
    assert "not covered by the panel" in p02.loc["ERBB2_CN", "evidence"]
    # ERBB3 (chr12, all N here): no bin on its contig
    assert p02.loc["ERBB3_CN", "status"] == "not_evaluable"
    assert "ERBB3 is not in the reference" in p02.loc["ERBB3_CN", "evidence"]
    for gene in ("KRAS", "NRAS", "BRAF", "PIK3CA"):
        assert p02.loc[gene, "status"] == "not_evaluable", p02.loc[gene].to_dict()
        assert "codon not in the reference" in p02.loc[gene, "evidence"]
    assert p02.loc["NRG1_FUSION", "status"] == "not_evaluable"
    assert "NRG1 not in the annotation/reference" in p02.loc["NRG1_FUSION", "evidence"]
    hs = result_table(panel_run, "hotspots.tsv")
    assert not set(hs["status"]) & {"detected", "not_detected"}, hs[["sample_id", "gene", "codon", "status"]]
    cn = result_table(panel_run, "copy_number.tsv")
    assert set(cn["call"]) == {"not_evaluable"} and pd.to_numeric(cn["log2"], errors="coerce").isna().all()


def test_no_patient_is_a_candidate_or_declared_negative(panel_run):
    el = result_table(panel_run, "eligibility.tsv")
    assert set(el["patient_id"]) == {"panel01", "panel02"}
    assert set(el["status"]) <= {"not_evaluable", "not_assessable"}, el[["patient_id", "status"]]


def test_build_guard_accepts_grch37_and_refuses_grch38_per_sample(panel_run):
    from erbbscreen.errors import InputError
    from erbbscreen.preflight import check_sheet_alignments, preflight_cohort
    from erbbscreen.settings import fasta_contigs

    config = yaml.safe_load((panel_run / "config.yaml").read_text())
    ok = preflight_cohort(config, workdir=panel_run)
    assert not ok["sample_problems"], ok["sample_problems"]
    config["reference"]["build"] = "GRCh38"
    with pytest.raises(InputError) as err:
        preflight_cohort(config, workdir=panel_run)
    assert "GRCh37/hg19" in str(err.value) and "reference.build is GRCh38/hg38" in str(err.value)
    per_sample = check_sheet_alignments(ok["samples"], fasta_contigs(config["reference"]["fasta"]), "GRCh38",
                                        config["reference"]["fasta"])
    assert set(per_sample) == {"P01-T", "P02-T"}
    for problems in per_sample.values():
        assert any("the alignment is GRCh37/hg19 (chr1 is 249,250,621 bp) but reference.build is GRCh38/hg38"
                   in p for p in problems), problems
