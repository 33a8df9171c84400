"""erbbscreen.cnv_coverage: the coverage job's .cnn files equal, byte for byte, those CNVkit 0.9.14 writes
(``cnvlib.coverage.do_coverage`` + ``skgenome.tabio.write``; this test imports cnvlib, the job does not), on BAMs of
the synthetic test cohort (tests/cohort/make_cohort.py: simulated reads, not patient data) and on edge cases built
from them here: empty BEDs, an unsorted BAM, bins on contigs the BAM lacks, a missing index, CRAM, BED3 bins."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from conftest import cohort_ready
from erbbscreen import cnv_coverage as cc
from erbbscreen import copynumber as cn

ROOT = Path(__file__).resolve().parents[1]
COHORT = Path(os.environ.get("ERBBSCREEN_COHORT_DATA", ROOT / "tests" / "cohort" / "data"))
FASTA = COHORT / "reference" / "genome.fa"


pytestmark = pytest.mark.skipif(not cohort_ready(COHORT),
                                reason="simulated cohort not generated or incomplete (tests/cohort/make_cohort.py)")

#: a tumour, a plasma, a normal and the QC-poor tumour (P09-T: low depth, fails QC in the workflow)
SAMPLES = ["P01-T", "P01-L", "P01-N", "P09-T"]


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    d = tmp_path_factory.mktemp("cov_bins")
    ref = COHORT / "reference"
    cn.run_bins(str(FASTA), str(d / "targets.bed"), str(d / "antitargets.bed"), panel=str(ref / "panel.bed"),
                transcripts=str(ref / "transcripts.bed12"), settings=cn.cnv_settings())
    return {"targets": str(d / "targets.bed"), "antitargets": str(d / "antitargets.bed"), "dir": d}


@pytest.fixture(scope="module")
def small_bam(tmp_path_factory):
    """The reads of P01-T on chr17 (the ERBB2 contig) and chr12: a small sorted, indexed BAM."""
    d = tmp_path_factory.mktemp("cov_small")
    out = d / "small.bam"
    with pysam.AlignmentFile(str(COHORT / "bams" / "P01-T.bam")) as fh, \
            pysam.AlignmentFile(str(out), "wb", template=fh) as w:
        for contig in ("chr12", "chr17"):
            for r in fh.fetch(contig):
                w.write(r)
    pysam.index(str(out))
    return out


def cnvkit_cnn(bed, bam, out, min_mapq=0, fasta=FASTA):
    """What CNVkit itself writes: ``cnvkit.py coverage`` = do_coverage + tabio.write."""
    from cnvlib.coverage import do_coverage
    from skgenome import tabio

    tabio.write(do_coverage(str(bed), str(bam), False, min_mapq, 1, str(fasta) if fasta else None), str(out))
    return Path(out).read_bytes()


def ours(bam, targets, antitargets, d, min_mapq=0, fasta=FASTA):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    assert cn.run_coverage(str(bam), None, str(targets), str(antitargets), str(d / "t.cnn"), str(d / "a.cnn"),
                           fasta=str(fasta) if fasta else None, settings=cn.cnv_settings({"min_mapq": min_mapq}))
    return (d / "t.cnn").read_bytes(), (d / "a.cnn").read_bytes()


@pytest.mark.parametrize("sample", SAMPLES)
def test_cohort_files_equal_cnvkits(bins, tmp_path, sample):
    bam = COHORT / "bams" / f"{sample}.bam"
    tgt, anti = ours(bam, bins["targets"], bins["antitargets"], tmp_path / "ours")
    assert tgt == cnvkit_cnn(bins["targets"], bam, tmp_path / "cnvkit.t.cnn")
    assert anti == cnvkit_cnn(bins["antitargets"], bam, tmp_path / "cnvkit.a.cnn")
    lines = tgt.decode().splitlines()
    assert lines[0] == "chromosome\tstart\tend\tgene\tdepth\tlog2" and len(lines) == 445  # 444 target bins
    assert len(anti.decode().splitlines()) == 194
    assert any(float(x.split("\t")[4]) > 0 for x in lines[1:])  # real depths, not an all-null file


def test_min_mapq_flags_and_targets_through_bedcov_equal_cnvkits(bins, small_bam, tmp_path, monkeypatch):
    """min_mapq 20 (-Q) on a BAM with duplicates, secondary, QC-fail and MAPQ-10 reads and deletions (the cohort's
    reads all have MAPQ 60), and target bins counted by bedcov (the path of whole-genome bins > 50 Mb)."""
    bam = tmp_path / "mixed.bam"
    with pysam.AlignmentFile(str(small_bam)) as fh, pysam.AlignmentFile(str(bam), "wb", template=fh) as w:
        for i, r in enumerate(fh):
            r.flag |= (0x400 if i % 5 == 0 else 0) | (0x100 if i % 13 == 0 else 0) | (0x200 if i % 17 == 0 else 0)
            if i % 7 == 0:
                r.mapping_quality = 10
            if i % 11 == 0 and r.cigarstring == f"{r.query_length}M" and r.query_length > 60:
                r.cigarstring = f"40M5D{r.query_length - 40}M"
            w.write(r)
    pysam.index(str(bam))
    want_t = cnvkit_cnn(bins["targets"], bam, tmp_path / "c.t.cnn", min_mapq=20)
    want_a = cnvkit_cnn(bins["antitargets"], bam, tmp_path / "c.a.cnn", min_mapq=20)
    assert ours(bam, bins["targets"], bins["antitargets"], tmp_path / "q20", min_mapq=20) == (want_t, want_a)
    want_t0 = cnvkit_cnn(bins["targets"], bam, tmp_path / "c0.t.cnn")
    assert want_t0 != want_t  # the MAPQ filter changes counts: the comparison above can fail
    assert ours(bam, bins["targets"], bins["antitargets"], tmp_path / "q0")[0] == want_t0
    monkeypatch.setattr(cc, "DEPTH_MAX_TARGET_BASES", 0)
    assert ours(bam, bins["targets"], bins["antitargets"], tmp_path / "bedcov", min_mapq=20)[0] == want_t


def test_empty_beds(bins, small_bam, tmp_path):
    empty, blank = tmp_path / "empty.bed", tmp_path / "blank.bed"
    empty.write_text("")
    blank.write_text("\n  \n")
    # an empty target BED: CNVkit's header-only table (no depth column)
    tgt, anti = ours(small_bam, empty, bins["antitargets"], tmp_path / "e")
    assert tgt == cnvkit_cnn(empty, small_bam, tmp_path / "c.cnn") == b"chromosome\tstart\tend\tgene\tlog2\n"
    # a 0-byte antitarget BED (whole-genome mode) is not passed to CNVkit: the header of an empty .cnn, as before
    tgt, anti = ours(small_bam, bins["targets"], empty, tmp_path / "w")
    cn.write_cnarr(cn.empty_cnarr("cnn"), tmp_path / "before.cnn")
    assert anti == (tmp_path / "before.cnn").read_bytes() == b"chromosome\tstart\tend\tgene\tlog2\tdepth\n"
    # blank lines only: CNVkit's 'empty regions file' case
    _, anti = ours(small_bam, bins["targets"], blank, tmp_path / "b")
    assert anti == cnvkit_cnn(blank, small_bam, tmp_path / "cb.cnn")


def test_unsorted_bam_raises_cnvkits_error(bins, small_bam, tmp_path):
    bam = tmp_path / "unsorted.bam"
    with pysam.AlignmentFile(str(small_bam)) as fh, pysam.AlignmentFile(str(bam), "wb", template=fh) as w:
        reads = list(fh)
        for r in reads[:40][::-1] + reads[40:]:
            w.write(r)
    message = re.escape(f"BAM file {bam} must be sorted by coordinates")
    with pytest.raises(RuntimeError, match=message):
        cnvkit_cnn(bins["targets"], bam, tmp_path / "c.cnn")
    with pytest.raises(RuntimeError, match=message + r" \(fix: samtools sort"):
        ours(bam, bins["targets"], bins["antitargets"], tmp_path / "o")


def test_bins_on_contigs_absent_from_the_bam(bins, small_bam, tmp_path):
    lines = Path(bins["targets"]).read_text().splitlines(keepends=True)
    mixed = tmp_path / "mixed.bed"
    mixed.write_text("chrNOPE\t100\t200\tX\n" + "".join(lines) + "chr99\t1\t5\tY\n")
    tgt, _ = ours(small_bam, mixed, bins["antitargets"], tmp_path / "m")
    assert tgt == cnvkit_cnn(mixed, small_bam, tmp_path / "c.cnn")
    assert b"chrNOPE" not in tgt and len(tgt.splitlines()) == len(lines) + 1
    # contigs in the header without reads (all but chr12/chr17 here) are kept with null log2
    assert b"chr7\t" in tgt and b"-20" in tgt
    none = tmp_path / "none.bed"
    none.write_text("chrNOPE\t100\t200\tX\n")
    message = re.escape(f"BED file {str(none)!r} chromosome names don't match any in BAM file {str(small_bam)!r}")
    with pytest.raises(ValueError, match=message):
        cnvkit_cnn(none, small_bam, tmp_path / "c2.cnn")
    with pytest.raises(ValueError, match=message):
        ours(small_bam, none, bins["antitargets"], tmp_path / "n")


def _outcome(write):
    """The bytes written, or the error raised (type and message)."""
    try:
        return write()
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return type(exc).__name__, str(exc)


def test_na_gene_names_bed3_bins_and_missing_index(bins, small_bam, tmp_path):
    rows = [x.split("\t") for x in Path(bins["targets"]).read_text().splitlines()]
    na = tmp_path / "na.bed"  # gene names pandas reads as NaN: CNVkit fills them with "-"
    na.write_text("".join("\t".join(r[:3] + ["NA" if i % 3 == 0 else r[3]]) + "\n" for i, r in enumerate(rows)))
    a, b = tmp_path / "a" / "s.bam", tmp_path / "b" / "s.bam"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copy(small_bam, p)  # no index: both build s.bam.bai beside the copy
    tgt, _ = ours(a, na, bins["antitargets"], tmp_path / "o")
    assert (tmp_path / "a" / "s.bam.bai").is_file()
    assert tgt == cnvkit_cnn(na, b, tmp_path / "c.cnn")
    assert tgt.splitlines()[1].split(b"\t")[3] == b"-" and b"\tNA\t" not in tgt
    # BED3 bins: whatever CNVkit 0.9.14 does with them (with pandas 3.1 its bedcov parser rejects them), the same
    bed3 = tmp_path / "targets3.bed"
    bed3.write_text("".join("\t".join(r[:3]) + "\n" for r in rows))
    cnvkit = _outcome(lambda: cnvkit_cnn(bed3, b, tmp_path / "c3.cnn"))
    assert _outcome(lambda: ours(a, bed3, bins["antitargets"], tmp_path / "o3")[0]) == cnvkit


def test_cram_equals_cnvkits(bins, small_bam, tmp_path):
    cram = tmp_path / "small.cram"
    pysam.view("-C", "-T", str(FASTA), "-o", str(cram), str(small_bam), catch_stdout=False)
    pysam.index(str(cram))
    tgt, anti = ours(cram, bins["targets"], bins["antitargets"], tmp_path / "o")
    assert tgt == cnvkit_cnn(bins["targets"], cram, tmp_path / "c.t.cnn")
    assert anti == cnvkit_cnn(bins["antitargets"], cram, tmp_path / "c.a.cnn")


def test_coverage_job_does_not_import_cnvkit(bins, small_bam, tmp_path):
    """What workflow/scripts/copy_number_coverage.py imports and runs, in a fresh interpreter."""
    code = (
        "import sys\n"
        "from erbbscreen.batch import run_jobs\n"
        "from erbbscreen.guard import run_or_not_evaluable\n"
        "from erbbscreen.copynumber import cnv_settings, run_coverage\n"
        f"assert run_coverage({str(small_bam)!r}, None, {bins['targets']!r}, {bins['antitargets']!r}, "
        f"{str(tmp_path / 't.cnn')!r}, {str(tmp_path / 'a.cnn')!r}, fasta={str(FASTA)!r}, settings=cnv_settings())\n"
        "print([m for m in ('cnvlib', 'skgenome', 'scipy.stats', 'bioframe', 'matplotlib') if m in sys.modules])\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"
    assert len((tmp_path / "t.cnn").read_text().splitlines()) == 445
