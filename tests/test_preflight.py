"""Preflight: every bad alignment input gives a clear message (or a QC `fail` row) and nothing the user
supplied is modified. BAMs here are small, SYNTHETIC, written with pysam."""
import os
import random

import pysam
import pytest

from erbbscreen.preflight import (apply_thresholds, build_mismatch, check_alignment, compare_contigs, guess_build,
                                  link_sample, run_sample_qc)
from erbbscreen.tables import read_table

QC = {"min_reads": 100, "min_mapped_pct": 80, "max_duplicate_pct": 50, "min_on_target_pct": 20,
      "min_mean_target_depth": 10, "min_p20_target_depth": 5, "max_insert_size_sample": 1000}


@pytest.fixture()
def ref(tmp_path):
    rng = random.Random(1)
    fasta = tmp_path / "ref" / "ref.fa"
    fasta.parent.mkdir()
    seqs = {"chr12": "".join(rng.choice("ACGT") for _ in range(6000)),
            "chr17": "".join(rng.choice("ACGT") for _ in range(6000))}
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))
    pysam.faidx(str(fasta))
    bed = tmp_path / "ref" / "targets.bed"
    bed.write_text("chr17\t1000\t2000\tERBB2\nchr12\t3000\t3500\tKRAS\n")
    return {"fasta": str(fasta), "seqs": seqs, "bed": str(bed)}


def write_bam(path, seqs, n_pairs=400, sort="coordinate", names=None, lengths=None, seed=2, index=True):
    """Paired reads drawn from ``seqs`` (insert 250 bp); coordinate-sorted unless told otherwise."""
    rng = random.Random(seed)
    names = names or list(seqs)
    header = {"HD": {"VN": "1.6", "SO": sort},
              "SQ": [{"SN": n, "LN": (lengths or {}).get(n, len(seqs[k]))} for n, k in zip(names, seqs)]}
    reads = []
    for i in range(n_pairs):
        tid = rng.randrange(len(names))
        seq = seqs[list(seqs)[tid]]
        start = rng.randrange(900, 2000) if tid == 1 else rng.randrange(2900, 3400)
        for mate, pos in ((1, start), (2, start + 150)):
            a = pysam.AlignedSegment()
            a.query_name = f"r{i}"
            a.query_sequence = seq[pos:pos + 100]
            a.flag = 1 | 2 | (64 if mate == 1 else 128) | (32 if mate == 1 else 16)
            a.reference_id = tid
            a.reference_start = pos
            a.mapping_quality = 60
            a.cigarstring = "100M"
            a.next_reference_id = tid
            a.next_reference_start = start + 150 if mate == 1 else start
            a.template_length = 250 if mate == 1 else -250
            a.query_qualities = pysam.qualitystring_to_array("I" * 100)
            reads.append(a)
    if sort == "coordinate":
        reads.sort(key=lambda r: (r.reference_id, r.reference_start))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for r in reads:
            out.write(r)
    if index and sort == "coordinate":
        pysam.index(str(path))
    return str(path)


def contigs(ref):
    return {k: len(v) for k, v in ref["seqs"].items()}


def snapshot(folder):
    return {p: (os.path.getsize(p), os.path.getmtime(p)) for p in map(str, folder.iterdir())}


def qc_row(tmp_path, ref, bam):
    """Link + QC as the workflow does; returns the qc row read back from disk."""
    ext = "cram" if bam.endswith(".cram") else "bam"
    link = str(tmp_path / "results" / f"s.{ext}")
    link_sample(bam, link, link + (".crai" if ext == "cram" else ".bai"), fasta=ref["fasta"], build="custom")
    out = tmp_path / "results" / "qc.tsv"
    run_sample_qc({"sample_id": "s", "patient_id": "p", "sample_type": "tumor", "bam": bam}, link, str(out),
                  fasta=ref["fasta"], build="custom", qc=QC, panel_bed=ref["bed"])
    return read_table(out).iloc[0].to_dict()


def test_good_bam_passes_and_metrics_are_measured(tmp_path, ref):
    inputs = tmp_path / "in"
    inputs.mkdir()
    bam = write_bam(inputs / "good.bam", ref["seqs"])
    row = qc_row(tmp_path, ref, bam)
    assert row["status"] == "pass", row
    assert int(row["reads"]) == 800
    assert float(row["mapped_pct"]) == 100.0
    targets = {"chr17": (1000, 2000), "chr12": (3000, 3500)}
    with pysam.AlignmentFile(bam) as fh:
        on = sum(1 for r in fh if r.reference_start < targets[r.reference_name][1]
                 and r.reference_end > targets[r.reference_name][0])
    assert float(row["on_target_pct"]) == pytest.approx(100.0 * on / 800, abs=0.01)
    assert 80 < float(row["on_target_pct"]) < 100
    assert float(row["median_insert_size"]) == 250
    assert float(row["mean_target_depth"]) > 10


def test_bam_without_index_gets_one_under_results_and_input_is_untouched(tmp_path, ref):
    inputs = tmp_path / "in"
    inputs.mkdir()
    bam = write_bam(inputs / "noindex.bam", ref["seqs"], index=False)
    before = snapshot(inputs)
    row = qc_row(tmp_path, ref, bam)
    assert row["status"] == "pass", row
    assert snapshot(inputs) == before  # no index written beside the input
    assert (tmp_path / "results" / "s.bam.bai").is_file()


def test_missing_bam(tmp_path, ref):
    row = qc_row(tmp_path, ref, str(tmp_path / "nope.bam"))
    assert row["status"] == "fail"
    assert "nope.bam: file not found; fix: correct the path in the sample sheet" in row["reasons"]


def test_unreadable_garbage_bam(tmp_path, ref):
    bad = tmp_path / "garbage.bam"
    bad.write_text("this is not a BAM file\n")
    row = qc_row(tmp_path, ref, str(bad))
    assert row["status"] == "fail"
    assert "cannot be opened as BAM/CRAM" in row["reasons"] and "samtools quickcheck" in row["reasons"]


def test_truncated_bam(tmp_path, ref):
    inputs = tmp_path / "in"
    inputs.mkdir()
    bam = write_bam(inputs / "full.bam", ref["seqs"], n_pairs=3000, index=False)
    data = open(bam, "rb").read()
    cut = inputs / "cut.bam"
    cut.write_bytes(data[: len(data) // 2])
    row = qc_row(tmp_path, ref, str(cut))
    assert row["status"] == "fail", row
    assert "truncated" in row["reasons"]


def test_unsorted_bam(tmp_path, ref):
    bam = write_bam(tmp_path / "unsorted.bam", ref["seqs"], sort="unsorted")
    problems = check_alignment(bam, contigs(ref), "custom")
    assert problems and "not coordinate-sorted (header SO:unsorted)" in problems[0]
    assert "samtools sort" in problems[0]
    assert qc_row(tmp_path, ref, bam)["status"] == "fail"


def test_chr_prefix_mismatch_is_explained(tmp_path, ref):
    bam = write_bam(tmp_path / "nochr.bam", ref["seqs"], names=["12", "17"])
    problems = check_alignment(bam, contigs(ref), "custom")
    assert "differ only by the 'chr' prefix (alignment has '12', reference has 'chr12')" in problems[0]


def test_other_build_is_named():
    grch37 = {"1": 249250621, "17": 81195210}
    grch38 = {"chr1": 248956422, "chr17": 83257441}
    assert guess_build(grch37) == "GRCh37" and guess_build(grch38) == "GRCh38"
    problems = compare_contigs({"chr1": 249250621, "chr17": 81195210}, grch38, "GRCh38")
    assert "the alignment is on GRCh37 but the reference is GRCh38 (contig chr1: 249250621 vs 248956422 bp)" \
        in problems[0]


def test_build_guard_names_both_builds():
    """hg19 contigs (chr7 = 159,138,663 bp) with reference.build GRCh38, and the reverse, whatever the naming."""
    hg19 = {"chrM": 16571, "chr7": 159138663}
    msg = build_mismatch(hg19, "GRCh38", "the alignment")
    assert "GRCh37/hg19 (chr7 is 159,138,663 bp) but reference.build is GRCh38/hg38 (chr7 would be 159,345,973 bp)" \
        in msg
    assert "GRCh38/hg38" in build_mismatch({"8": 145138636}, "GRCh37", "the reference FASTA x.fa")
    assert build_mismatch(hg19, "GRCh37", "x") is None and build_mismatch(hg19, "custom", "x") is None
    assert build_mismatch({"chrA": 1000}, "GRCh38", "x") is None


def test_hg19_bam_with_grch38_build_fails_per_sample(tmp_path):
    fa = tmp_path / "ref.fa"
    fa.write_text(">chr7\n" + "ACGT" * 250 + "\n")
    pysam.faidx(str(fa))
    bam = tmp_path / "hg19.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr7", "LN": 159138663}]}
    with pysam.AlignmentFile(str(bam), "wb", header=header):
        pass
    problems = check_alignment(str(bam), {"chr7": 159138663}, "GRCh38")
    assert len(problems) == 1 and "GRCh37/hg19" in problems[0] and "reference.build is GRCh38/hg38" in problems[0]


def test_other_build_bam_fails_qc(tmp_path, ref):
    bam = write_bam(tmp_path / "b37.bam", ref["seqs"], lengths={"chr12": 7000})
    row = qc_row(tmp_path, ref, bam)
    assert row["status"] == "fail" and "differ in length" in row["reasons"]


def test_empty_bam(tmp_path, ref):
    bam = write_bam(tmp_path / "empty.bam", ref["seqs"], n_pairs=0)
    row = qc_row(tmp_path, ref, bam)
    assert row["status"] == "fail" and "contains no reads" in row["reasons"]


def test_zero_byte_file(tmp_path, ref):
    bam = tmp_path / "zero.bam"
    bam.write_bytes(b"")
    assert "file is empty (0 bytes)" in check_alignment(str(bam), contigs(ref), "custom")[0]


@pytest.mark.parametrize("metrics, expected", [
    ({"reads": 50}, "reads 50 < minimum 100"),
    ({"mapped_pct": 40.0}, "mapped 40.0% < minimum 80%"),
    ({"duplicate_pct": 75.0}, "duplicates 75.0% > maximum 50%"),
    ({"mean_target_depth": 4.0}, "mean target depth 4.0x < minimum 10x"),
    ({"p20_target_depth": 1.0}, "20th-percentile target depth 1.0x < minimum 5x"),
    ({"on_target_pct": 5.0}, "on-target 5.0% < minimum 20%"),
])
def test_thresholds_name_metric_value_and_limit(metrics, expected):
    assert apply_thresholds(metrics, QC, panel_mode=True) == [expected]


def test_low_depth_sample_fails_qc(tmp_path, ref):
    bam = write_bam(tmp_path / "low.bam", ref["seqs"], n_pairs=60)
    row = qc_row(tmp_path, ref, bam)
    assert row["status"] == "fail"
    assert "mean target depth" in row["reasons"]


def test_cram_input_is_linked_indexed_and_measured(tmp_path, ref):
    inputs = tmp_path / "in"
    inputs.mkdir()
    bam = write_bam(inputs / "good.bam", ref["seqs"])
    cram = str(inputs / "good.cram")
    pysam.view("-C", "-T", ref["fasta"], "-o", cram, bam, catch_stdout=False)
    row = qc_row(tmp_path, ref, cram)
    assert row["status"] == "pass", row
    assert int(row["reads"]) == 800
    assert (tmp_path / "results" / "s.cram.crai").is_file()
    assert not (inputs / "good.cram.crai").exists()


def test_target_depth_matches_b37_names_to_ucsc_bam(tmp_path, ref):
    """Whole-genome QC measures the bundled GRCh37 exons ('17') on a UCSC hg19 BAM ('chr17'): same contig."""
    from erbbscreen.preflight import target_depths

    bam = write_bam(tmp_path / "s.bam", ref["seqs"])
    ucsc = target_depths(bam, [("chr17", 1000, 2000)])
    b37 = target_depths(bam, [("17", 1000, 2000)])
    absent = target_depths(bam, [("chr3", 0, 100)])
    assert ucsc.mean() > 10 and (b37 == ucsc).all() and not absent.any()


def test_qc_targets_off_a_partial_reference_are_not_measured():
    """Whole-genome QC on a chr7-only reference measures the chr7 exons only (ERBB2 on 17 cannot be covered)."""
    from erbbscreen.preflight import on_reference

    exons = [("7", 100, 200), ("17", 100, 200), ("chr7", 300, 400)]
    assert on_reference(exons, {"chr7": 159138663}) == [("7", 100, 200), ("chr7", 300, 400)]


def _depth_by_pysam(bam, intervals, exclude=0xF04):
    """Independent per-base count: pysam's pileup counts of A/C/G/T per position (no N bases in these reads)."""
    import numpy as np
    out = []
    with pysam.AlignmentFile(bam) as fh:
        for chrom, s, e in intervals:
            cov = fh.count_coverage(chrom, s, e, quality_threshold=0, read_callback=lambda r: not (r.flag & exclude))
            out.append(np.sum(np.vstack([np.asarray(c) for c in cov]), axis=0))
    return np.concatenate(out)


@pytest.mark.parametrize("executable", [True, False], ids=["samtools-executable", "pysam-bundled"])
def test_target_depth_matches_per_base_counts(tmp_path, ref, monkeypatch, executable):
    """QC target depth (one samtools depth pass) equals a per-base count over the same bases, whichever samtools
    runs it; a target on a contig the BAM lacks counts as depth 0; duplicates and supplementary reads are out."""
    import numpy as np
    from erbbscreen import samtools
    from erbbscreen.preflight import target_depths
    if not executable:
        monkeypatch.setattr(samtools, "executable", lambda: None)
    bam = write_bam(tmp_path / "d.bam", ref["seqs"], n_pairs=300)
    marked = str(tmp_path / "marked.bam")
    with pysam.AlignmentFile(bam) as src, pysam.AlignmentFile(marked, "wb", template=src) as out:
        for i, r in enumerate(src):
            if i % 7 == 0:
                r.flag |= 0x400 if i % 2 else 0x800
            out.write(r)
    pysam.index(marked)
    intervals = [("chr12", 2900, 3600), ("chr17", 950, 2100)]
    depth = target_depths(marked, intervals + [("chrX", 0, 50)])
    assert depth.size == 700 + 1150 + 50
    assert np.array_equal(depth[:1850], _depth_by_pysam(marked, intervals))
    assert depth[1850:].sum() == 0 and depth[:1850].sum() > 0
    assert depth[:1850].sum() < _depth_by_pysam(marked, intervals, exclude=0x4).sum()
