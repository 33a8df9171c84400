"""The whole workflow on REAL public sequencing reads (tests/data/realreads/PROVENANCE.md), against a reference
built the way users have it: the real hg19 chr7 sequence around EGFR and BRAF, N elsewhere, at the true chr7
length (159,138,663 bp), i.e. a chr7-only (partial) GRCh37 reference with UCSC `chr` names while the bundled
GRCh37 annotation names contigs `7`, `8`.

Samples: EGFR-L861Q (tumour only; real L861Q at ~23% VAF, L858 wild-type) and patient1004 (tumour + buffy-coat
normal; amplicon reads over BRAF exon 15 whose V600 codon is covered by only a few fragments). A user-supplied
hotspot table (EGFR L858/L861/T790 + BRAF V600, hg19) replaces the bundled one.

Run once per session (~1 min); reuse a run with ERBBSCREEN_REALREADS_RESULTS=<workdir>.
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pysam
import pytest
import yaml

from conftest import ROOT, assert_outputs_written, real_reads_config, result_table, run_once

def _data_dir() -> Path:
    """The read set in the repository, else in the steering repository's shared/ beside it (PROVENANCE.md)."""
    for d in (ROOT / "tests" / "data" / "realreads", ROOT.parent / "shared" / "data" / "realreads"):
        if (d / "L861Q.bam").is_file():
            return d
    pytest.skip("real read set not found in tests/data/realreads or ../shared/data/realreads", allow_module_level=True)


DATA = _data_dir()
CHR7_LENGTH = 159_138_663          # hg19/GRCh37 chr7 (GRC assembly report); GRCh38 chr7 is 159,345,973
SAMPLES = [("EGFR-L861Q", "L861Q-T", "tumor", "L861Q.bam"),
           ("patient1004", "P1004-T", "tumor", "ArgumentNA_Tumor.bam"),
           ("patient1004", "P1004-N", "normal", "ArgumentNA_Normal.bam")]
# user-supplied codon table (hg19, 1-based, strand order): EGFR c.2572-2574 (L858), c.2581-2583 (L861),
# c.2368-2370 (T790; c.2369 = 55249071); BRAF c.1798-1800 (V600) on the minus strand
HOTSPOTS = [("EGFR", 858, "L", "chr7", "+", 55259514), ("EGFR", 861, "L", "chr7", "+", 55259523),
            ("EGFR", 790, "T", "chr7", "+", 55249070), ("BRAF", 600, "V", "chr7", "-", 140453137)]
# amplicon/capture regions of the reads (0-based BED), from the BAMs' own coverage
PANEL = [("chr7", 55259400, 55259600, "EGFR_ex21"), ("chr7", 140453000, 140453200, "BRAF_ex15")]


def build_inputs(workdir: Path, hotspots: bool = True) -> Path:
    """Reference (N-padded real chr7), sheet, panel, hotspot table and config in ``workdir``; returns the config."""
    workdir.mkdir(parents=True, exist_ok=True)
    fasta = workdir / "hg19_chr7.fa"
    seq = bytearray(b"N" * CHR7_LENGTH)
    with gzip.open(DATA / "hg19_chr7_slices.fa.gz", "rt") as fh:
        for rec in fh.read().split(">")[1:]:
            name, *lines = rec.splitlines()
            start = int(name.split(":")[1].split("-")[0])
            s = "".join(lines).encode()
            seq[start - 1:start - 1 + len(s)] = s
    with open(fasta, "wb") as out:
        out.write(b">chr7\n")
        for i in range(0, CHR7_LENGTH, 1_000_000):
            out.write(bytes(seq[i:i + 1_000_000]) + b"\n")   # long lines: faidx handles them, writing stays fast
    pysam.faidx(str(fasta))
    bams = workdir / "bams"
    bams.mkdir(exist_ok=True)
    rows = ["patient_id\tsample_id\tsample_type\tbam\tpurity"]
    for patient, sid, stype, bam in SAMPLES:
        for ext in ("", ".bai"):
            shutil.copy(DATA / (bam + ext), bams / (bam + ext))   # inputs are never modified: work on copies
        rows.append(f"{patient}\t{sid}\t{stype}\t{bams / bam}\t")
    (workdir / "samples.tsv").write_text("\n".join(rows) + "\n")
    (workdir / "panel.bed").write_text("".join(f"{c}\t{s}\t{e}\t{n}\n" for c, s, e, n in PANEL))
    lines = ["gene\tcodon\tref_aa\tchrom\tstrand\tpos1\tpos2\tpos3"]
    for gene, codon, aa, chrom, strand, p1 in HOTSPOTS:
        step = 1 if strand == "+" else -1
        lines.append(f"{gene}\t{codon}\t{aa}\t{chrom}\t{strand}\t{p1}\t{p1 + step}\t{p1 + 2 * step}")
    (workdir / "hotspots.tsv").write_text("\n".join(lines) + "\n")
    # a two-amplicon panel: the cohort-scale read minimum does not apply; the two public read sets come from
    # different panels, so each covers only one of the two amplicons and the 20th-percentile target depth is 0
    # by construction (project choice for this test; thin codons still come out not_evaluable per codon)
    return real_reads_config(workdir, fasta, workdir / "panel.bed", workdir / "hotspots.tsv" if hotspots else None,
                             qc={"min_reads": 1000, "min_p20_target_depth": 0})


@pytest.fixture(scope="module")
def realreads_run(tmp_path_factory) -> Path:
    return run_once(tmp_path_factory, "realreads", build_inputs, "ERBBSCREEN_REALREADS_RESULTS", "real reads")


def test_every_output_is_written(realreads_run):
    assert_outputs_written(realreads_run, ('qc.tsv', 'hotspots.tsv', 'copy_number.tsv', 'fusions.tsv', 'biomarkers.tsv', 'eligibility.tsv'))


def test_egfr_l861q_is_detected_and_l858_is_not(realreads_run):
    hs = result_table(realreads_run, "hotspots.tsv")
    row = lambda sid, gene, codon: hs[(hs["sample_id"] == sid) & (hs["gene"] == gene)  # noqa: E731
                                      & (hs["codon"].astype(int) == codon)].iloc[0]
    l861 = row("L861Q-T", "EGFR", 861)
    assert l861["status"] == "detected", l861.to_dict()
    assert str(l861["protein_change"]) == "p.L861Q"
    assert 0.15 <= float(l861["vaf"]) <= 0.35          # VarDict's expected output: 227/973 = 0.233
    l858 = row("L861Q-T", "EGFR", 858)
    assert l858["status"] == "not_detected", l858.to_dict()
    t790 = row("L861Q-T", "EGFR", 790)                  # no read covers exon 20 in this slice
    assert t790["status"] == "not_evaluable", t790.to_dict()


def test_braf_v600_with_a_few_fragments_is_not_evaluable(realreads_run):
    hs = result_table(realreads_run, "hotspots.tsv")
    v600 = hs[(hs["sample_id"] == "P1004-T") & (hs["gene"] == "BRAF")].iloc[0]
    assert v600["status"] == "not_evaluable", v600.to_dict()
    assert "depth" in str(v600["reason"]).lower() or "cover" in str(v600["reason"]).lower()


def test_nrg1_and_erbb2_absent_from_the_reference_are_not_evaluable_with_reason(realreads_run):
    bm = result_table(realreads_run, "biomarkers.tsv")
    fusion = bm[bm["biomarker"] == "NRG1_FUSION"]
    assert len(fusion) == 2 and set(fusion["status"]) == {"not_evaluable"}
    assert all("NRG1 not in the annotation/reference" in str(r) for r in fusion["evidence"])
    cn = result_table(realreads_run, "copy_number.tsv")
    erbb2 = cn[cn["gene"] == "ERBB2"]
    assert len(erbb2) == 2 and set(erbb2["call"]) == {"not_evaluable"}
    assert all("ERBB2 is not in the reference" in str(r) for r in erbb2["reason"])
    # no number where there is no coverage: no CNVkit null log2 (-20 / -31) reaches the table
    log2 = pd.to_numeric(cn["log2"], errors="coerce").dropna()
    assert (log2 > -15).all(), log2


def test_eligibility_is_decided_for_every_patient(realreads_run):
    el = result_table(realreads_run, "eligibility.tsv")
    assert set(el["patient_id"]) == {"EGFR-L861Q", "patient1004"}
    assert "candidate" not in set(el["status"])           # no ERBB2/ERBB3/NRG1 evidence on a chr7-only reference


def test_bundled_grch37_table_on_the_chr7_only_reference(realreads_run):
    """The bundled GRCh37 hotspot table ('12', '7', ...) on a UCSC-named chr7-only reference: accepted at start-up;
    BRAF V600 (chr7) is checked against the real sequence, the codons on other chromosomes are not in it."""
    from erbbscreen import hotspots
    from erbbscreen.preflight import preflight_cohort

    config = yaml.safe_load((realreads_run / "config.yaml").read_text())
    config["annotation"] = {}
    out = preflight_cohort(config, workdir=realreads_run)
    assert out["paths"]["hotspots"].endswith("resources/GRCh37/hotspots.tsv") and not out["sample_problems"]
    codons = hotspots.load_codons(out["paths"]["hotspots"], out["paths"]["fasta"])
    on_ref = {cd.label for cd in codons if cd.in_reference}
    assert on_ref == {"BRAF V600"} and len(codons) == 16


def test_hg19_reads_with_build_grch38_are_refused_naming_both_builds(realreads_run):
    from erbbscreen.errors import InputError
    from erbbscreen.preflight import preflight_cohort

    config = yaml.safe_load((realreads_run / "config.yaml").read_text())
    config["reference"]["build"] = "GRCh38"
    with pytest.raises(InputError) as err:
        preflight_cohort(config, workdir=realreads_run)
    assert "GRCh37/hg19 (chr7 is 159,138,663 bp) but reference.build is GRCh38/hg38" in str(err.value)
