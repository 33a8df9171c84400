"""erbbscreen.samtools: the C passes that replace Python per-read loops give the same numbers as the pysam calls
they replace (SYNTHETIC cohort BAMs, bwa-mem aligned; the per-position comparison is exact)."""
import numpy as np
import pandas as pd
import pysam
import pytest

from erbbscreen import samtools


def count_coverage_table(bam, intervals, min_baseq, fasta=None):
    """pysam count_coverage(read_callback="all") over the intervals: the reference implementation."""
    rows = []
    with pysam.AlignmentFile(str(bam), reference_filename=fasta) as fh:
        for chrom, s, e in intervals:
            cov = np.array(fh.count_coverage(chrom, s, e, quality_threshold=min_baseq, read_callback="all"))
            keep = cov.sum(axis=0) > 0
            rows.append(pd.DataFrame({"chrom": chrom, "pos": np.arange(s, e)[keep] + 1,
                                      **{b: cov[i, keep] for i, b in enumerate("ACGT")}}))
    return pd.concat(rows, ignore_index=True)


def panel_intervals(cohort_dir, limit=None):
    bed = pd.read_csv(cohort_dir / "reference" / "panel.bed", sep="\t", header=None, usecols=[0, 1, 2])
    return samtools.merge_intervals((str(c), int(s), int(e)) for c, s, e in bed.itertuples(index=False))[:limit]


@pytest.mark.parametrize("sample", ["P01-L", "P03-T", "P01-N"])   # plasma (deep, duplicates), tumour, normal
def test_base_counts_equal_count_coverage_at_every_position(cohort_dir, sample):
    bam = cohort_dir / "bams" / f"{sample}.bam"
    intervals = panel_intervals(cohort_dir)
    ours = samtools.base_counts(str(bam), intervals, min_baseq=20)
    ref = count_coverage_table(bam, intervals, 20)
    assert len(ref) > 10_000
    def canonical(t):  # mpileup reports in alignment order, the reference in interval order
        return t.astype({b: np.int64 for b in "ACGT"}).sort_values(["chrom", "pos"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(canonical(ours), canonical(ref))


def test_base_counts_with_reference_and_single_positions(cohort_dir):
    """With a FASTA (as for CRAM) matches come out as '.'/',' and are counted as the reference base; single
    positions (the matched normal's het sites) are read through the index."""
    bam = cohort_dir / "bams" / "P01-T.bam"
    fasta = str(cohort_dir / "reference" / "genome.fa")
    intervals = [(c, p, p + 1) for c, s, e in panel_intervals(cohort_dir, 20) for p in range(s, e, 37)]
    ours = samtools.base_counts(str(bam), intervals, min_baseq=20, fasta=fasta)
    ref = count_coverage_table(bam, intervals, 20, fasta)
    assert len(ref) == len(intervals) > 20
    ours, ref = (t.sort_values(["chrom", "pos"]).reset_index(drop=True) for t in (ours, ref))
    assert ours[["chrom", "pos"]].equals(ref[["chrom", "pos"]])
    assert (ours[list("ACGT")].to_numpy() == ref[list("ACGT")].to_numpy()).all()


def test_base_counts_of_nothing_is_an_empty_typed_table(cohort_dir):
    bam = str(cohort_dir / "bams" / "P01-T.bam")
    # nothing asked, an empty interval, a region without reads (chr1:1-100 of the cohort genome)
    for intervals in ([], [("chr1", 5, 5)], [("chr1", 0, 100)]):
        out = samtools.base_counts(bam, intervals)
        assert list(out.columns) == ["chrom", "pos", "A", "C", "G", "T"] and len(out) == 0
        assert out["A"].to_numpy().sum() == 0


@pytest.mark.parametrize("with_grep", [True, False])
def test_base_counts_nonref_filter_keeps_exactly_the_positions_with_enough_nonref_bases(cohort_dir, monkeypatch,
                                                                                      with_grep):
    """``min_nonref`` (the het-SNP search) returns the unfiltered table's rows with >= k bases differing from the
    reference, counts unchanged: filtered in C by grep, or after parsing when no grep is on PATH."""
    bam = str(cohort_dir / "bams" / "P03-T.bam")
    fasta = str(cohort_dir / "reference" / "genome.fa")
    intervals = panel_intervals(cohort_dir)
    full = samtools.base_counts(bam, intervals, min_baseq=20, fasta=fasta)
    with pysam.FastaFile(fasta) as fa:
        ref = np.array([fa.fetch(c, p - 1, p).upper() for c, p in zip(full["chrom"], full["pos"])])
    counts = full[list("ACGT")].to_numpy()
    nonref = counts.sum(axis=1) - np.select([ref == b for b in "ACGT"], [counts[:, i] for i in range(4)], 0)
    if not with_grep:
        monkeypatch.setattr(samtools, "_nonref_filter", lambda k: None)
    for k in (1, 4):
        want = full[nonref >= k].reset_index(drop=True)
        got = samtools.base_counts(bam, intervals, min_baseq=20, fasta=fasta, min_nonref=k)
        assert 0 < len(want) < len(full) / 2
        pd.testing.assert_frame_equal(got, want)


def pysam_template_lengths(bam, max_reads, want, mask):
    sizes = []
    with pysam.AlignmentFile(str(bam)) as fh:
        for read in fh.fetch(until_eof=True):
            if read.flag & mask == want and read.template_length > 0:
                sizes.append(read.template_length)
                if len(sizes) >= max_reads:
                    break
    return sizes


@pytest.mark.parametrize("with_executable", [True, False])
def test_template_lengths_are_the_first_records_pysam_would_read(cohort_dir, monkeypatch, with_executable):
    """QC's insert-size sample: the first N first-mates of proper pairs (primary, not duplicate) with TLEN > 0, in
    file order, whether samtools streams them (closed after N) or pysam reads them (no samtools executable)."""
    if not with_executable:
        monkeypatch.setattr(samtools, "executable", lambda: None)
    want, mask = 0x42, 0x42 | 0x100 | 0x400 | 0x800
    for sample in ("P01-L", "P03-T"):
        bam = cohort_dir / "bams" / f"{sample}.bam"
        for n in (1, 5000, 10**9):
            got = samtools.template_lengths(str(bam), n, want, mask & ~want)
            ref = pysam_template_lengths(bam, n, want, mask)
            assert got.tolist() == ref and len(ref) == min(n, len(ref)) > 0
