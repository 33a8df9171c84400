"""Target and antitarget coverage (``.targetcoverage.cnn`` / ``.antitargetcoverage.cnn``) of one sample, written
byte for byte as CNVkit 0.9.14 writes them, without importing CNVkit.

Why: the ``cnv_coverage`` batch jobs are CPU-bound on small machines, and ``import cnvlib.coverage`` is most of
their CPU (``python -X importtime``: 1.6 s, of which skgenome 0.59 s, cnvlib.cnary / scipy.stats / bioframe 0.55 s,
matplotlib 0.2 s; the job's imports took 2.0 s CPU with it, 0.44 s without) while every count the job writes comes
from samtools in C. One 11-sample batch of the test cohort: 4.2 s CPU before, 2.2 s with this module (same files).
It imports only numpy, pandas, pysam and erbbscreen (tests/test_cnv_coverage.py checks that ``cnvlib``,
``skgenome``, ``scipy.stats``, ``bioframe`` and ``matplotlib`` stay out of ``sys.modules``).

What it mirrors (CNVkit 0.9.14, the version pinned in requirements.txt; the test compares our files with
``cnvlib.coverage.do_coverage`` + ``skgenome.tabio.write`` byte for byte on cohort BAMs):

* ``cnvlib.coverage.do_coverage`` for an alignment (not bedGraph), ``by_count=False``: the sort check
  (``cnvlib.samutil.ensure_bam_sorted``: the first 50 records in position order, else
  ``RuntimeError("BAM file ... must be sorted by coordinates")``), then ``cnvlib.samutil.ensure_bam_index``
  (index beside the alignment when missing or older: .crai for CRAM, .csi when a contig exceeds 2**29 bp, else .bai);
* ``cnvlib.coverage.interval_coverages``: a BED without a non-blank line gives a header-only table
  (``chromosome start end gene log2``); the read-length / total-read statistics it computes are log-only and are
  not recomputed here;
* ``cnvlib.coverage.interval_coverages_pileup`` + ``bedcov``: bins on contigs absent from the alignment header
  (``cnvlib.samutil.get_bam_chroms``, from ``idxstats``) are dropped, none left is CNVkit's ``ValueError``; per-bin
  base counts as ``samtools bedcov -G 0x704 [-Q min_mapq] [--reference fasta]`` reports them, parsed as CNVkit
  parses bedcov's text (``detect_bedcov_columns`` + ``pandas.read_csv``); ``gene`` NaN -> "-"; depth =
  basecount / span for span > 0 else 0; log2 = log2(depth) for depth > 0 else ``NULL_LOG2_COVERAGE`` (-20);
* ``cnvlib.cnary.CopyNumArray`` construction (``skgenome.gary.GenomicArray.__init__``): a required column whose
  first value is not of the required Python type is cast;
* ``skgenome.tabio.write(arr, path)`` (format "tab"): header, tab-separated, no index, floats ``%.6g``.

Counting: target bins (deep, most of the reads) come from one ``samtools depth -J`` pass summed per bin
(:func:`erbbscreen.samtools.bin_base_counts`; the same integers as bedcov, checked bin for bin in the tests) unless
they span more than :data:`DEPTH_MAX_TARGET_BASES`; antitargets (off-target reads only: there a depth pass costs
2.7 s CPU per 11 cohort samples against bedcov's 1.1 s) and very large target sets use ``samtools bedcov`` itself with
CNVkit's exact arguments. What is not reproduced here - bedGraph input, gzipped BEDs,
BEDs with more than four columns (CNVkit's column detection there depends on the content) - goes to CNVkit's own
``do_coverage`` (:func:`_cnvkit_coverage`, cnvlib imported only then).
"""
from __future__ import annotations

import io
import logging
import os
from pathlib import PurePath

import numpy as np
import pandas as pd

from erbbscreen.tables import atomic_output

log = logging.getLogger(__name__)

#: log2 written for a bin without a counted base (``cnvlib.params.NULL_LOG2_COVERAGE``, CNVkit 0.9.14)
NULL_LOG2_COVERAGE = -20.0
#: reads not counted: unmapped, secondary, QC-fail, duplicate (``cnvlib.coverage.COVERAGE_EXCLUDE_FLAGS``); passed to
#: samtools as ``-G`` (added to its default filter), as CNVkit does
COVERAGE_EXCLUDE_FLAGS = 0x704
#: target bins covering more bases than this (whole-genome mode) are counted with ``samtools bedcov``: the per-base
#: text of ``samtools depth`` would grow with the genome
DEPTH_MAX_TARGET_BASES = 50_000_000
#: records checked for position order (``cnvlib.samutil.ensure_bam_sorted(span=50)``)
SORT_CHECK_RECORDS = 50
#: header of a QC-failed sample's or an absent antitarget BED's file (the columns of an empty CNVkit .cnn)
EMPTY_CNN_COLUMNS = ("chromosome", "start", "end", "gene", "log2", "depth")
#: ``CopyNumArray`` required columns and the Python type each must hold (``_required_columns/_required_dtypes``)
_CNA_REQUIRED = (("chromosome", str), ("start", int), ("end", int), ("gene", str), ("log2", float))


def check_sorted(bam: str, fasta: str | None = None) -> None:
    """Raise CNVkit's error unless the first :data:`SORT_CHECK_RECORDS` records are in position order (within a
    contig; a new contig resets the check), as ``cnvlib.samutil.ensure_bam_sorted`` + ``do_coverage``."""
    import pysam

    with pysam.AlignmentFile(bam, "rb", reference_filename=fasta) as fh:
        prev = None
        for i, read in enumerate(fh):
            if i >= SORT_CHECK_RECORDS:
                break
            if prev is not None and read.tid == prev.tid and prev.pos > read.pos:
                raise RuntimeError(f"BAM file {bam} must be sorted by coordinates (fix: samtools sort -o "
                                   f"sorted.bam {bam} && samtools index sorted.bam, then use sorted.bam)")
            prev = read


def _newer(index: str, alignment: str) -> bool:
    return os.path.isfile(index) and os.stat(index).st_mtime >= os.stat(alignment).st_mtime


def ensure_index(bam: str) -> str:
    """The alignment's index, built beside it when missing or older than the alignment, with the names and order
    ``cnvlib.samutil.ensure_bam_index`` uses: X.cram.crai / X.crai; X.bam.csi / X.csi when a contig is longer than
    BAI's 2**29 bp limit (a stale .bai then removed); else X.bam.bai / X.bai."""
    import pysam

    if PurePath(bam).suffix == ".cram":
        kind, options, short = "crai", (), bam[:-1] + "i"
    else:
        with pysam.AlignmentFile(bam, "rb") as fh:
            long_contigs = any(n > (1 << 29) for n in fh.lengths)
        kind, options, short = ("csi", ("-c",), bam[:-3] + "csi") if long_contigs else ("bai", (), bam[:-1] + "i")
    index = f"{bam}.{kind}" if os.path.isfile(f"{bam}.{kind}") else short
    if not _newer(index, bam):
        log.info("indexing %s (.%s)", bam, kind)
        pysam.index(*options, bam)
        index = f"{bam}.{kind}"
        if kind == "csi":  # a stale .bai cannot index this alignment and would shadow the new .csi
            for stale in (f"{bam}.bai", bam[:-1] + "i"):
                if os.path.isfile(stale):
                    os.remove(stale)
    if not os.path.isfile(index):
        raise RuntimeError(f"failed to build the index {index} of {bam}")
    return index


def alignment_contigs(bam: str, fasta: str | None = None) -> set:
    """Contig names of the alignment header, read as ``cnvlib.samutil.get_bam_chroms`` reads them (``samtools
    idxstats`` parsed by pandas, the unmapped line ``*`` left out): bins elsewhere are dropped."""
    import pysam

    text = pysam.idxstats(bam, split_lines=False, reference_filename=fasta)
    table = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=["chromosome", "length", "mapped", "unmapped"])
    return set(table["chromosome"]) - {"*"}


def _no_match(bed: str, bam: str) -> ValueError:
    return ValueError(f"BED file {bed!r} chromosome names don't match any in BAM file {bam!r}")


def _bedcov_text(bed: str, kept: list, bam: str, min_mapq: int, fasta: str | None) -> str:
    """``samtools bedcov`` with CNVkit's arguments over the kept BED lines, written to a temporary BED as
    ``cnvlib.coverage._filter_bed_to_chroms`` writes them. Run by :func:`erbbscreen.samtools.run`: the samtools on
    PATH when >= 1.13 (libdeflate: 0.05 vs 0.13 s CPU per cohort BAM's antitargets), else pysam's, which CNVkit
    calls; the same text (compared with CNVkit's in tests/test_cnv_coverage.py)."""
    import tempfile

    import pysam

    from erbbscreen import samtools

    args = ["-G", hex(COVERAGE_EXCLUDE_FLAGS)]
    if min_mapq and min_mapq > 0:
        args += ["-Q", str(min_mapq)]
    if fasta:
        args += ["--reference", fasta]
    fd, tmp = tempfile.mkstemp(suffix=".bed", prefix="erbbscreen-bedcov.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(kept)
        try:
            return samtools.run("bedcov", *args, tmp, bam)
        except pysam.SamtoolsError as exc:
            raise ValueError(f"Failed processing {bam!r} coverages in {bed!r} regions. PySAM error: {exc}") from exc
    finally:
        os.unlink(tmp)


def _depth_text(kept: list, bam: str, min_mapq: int, fasta: str | None, threads: int) -> str | None:
    """bedcov's text (each BED line, a tab, its base count) from one ``samtools depth -J`` pass, or None when the
    lines are not plain BED3/BED4 bins with ``start < end`` or span more than :data:`DEPTH_MAX_TARGET_BASES`."""
    from erbbscreen import samtools

    lines = [line.rstrip("\n") for line in kept]
    try:
        bins = [(f[0], int(f[1]), int(f[2])) for f in (line.split("\t") for line in lines)]
    except ValueError:
        return None
    if any(e <= s for _, s, e in bins) or samtools.union_span(bins) > DEPTH_MAX_TARGET_BASES:
        return None
    counts = samtools.bin_base_counts(bam, bins, exclude_flags=COVERAGE_EXCLUDE_FLAGS, include_deletions=True,
                                      min_mapq=min_mapq, fasta=fasta, threads=threads)
    return "".join(f"{line}\t{n}\n" for line, n in zip(lines, counts))


def _bedcov_names(text: str) -> list:
    """Column names for bedcov's text of BED3/BED4 lines, as ``cnvlib.coverage.detect_bedcov_columns`` names
    them (a trailing ``extra`` name when the last two fields of the first line are integers: pandas fills it with
    NaN and it is not kept)."""
    fields = text[:text.index("\n")].split("\t")

    def integer(x):
        try:
            int(x)
        except ValueError:
            return False
        return True

    names = ["chromosome", "start", "end", "basecount"] if len(fields) == 4 else \
        ["chromosome", "start", "end", "gene", "basecount"]
    return names + ["extra"] if integer(fields[-1]) and integer(fields[-2]) else names


def _coverage_from_counts(text: str) -> pd.DataFrame:
    """The .cnn table from bedcov's text, step for step as ``interval_coverages_pileup`` and ``CopyNumArray``."""
    names = _bedcov_names(text)
    table = pd.read_csv(io.StringIO(text), sep="\t", names=names, usecols=[c for c in names if c != "extra"])
    if "gene" in table:
        table["gene"] = table["gene"].fillna("-")
    else:
        table["gene"] = "-"
    spans = table.end - table.start
    ok = spans > 0  # CNVkit skips zero-width or reversed bins: depth 0
    table = table.assign(depth=0.0, log2=NULL_LOG2_COVERAGE)
    table.loc[ok, "depth"] = table.loc[ok, "basecount"] / spans[ok]
    ok = table["depth"] > 0
    table.loc[ok, "log2"] = np.log2(table.loc[ok, "depth"])
    table = table.drop("basecount", axis=1)
    recast = {c: t for c, t in _CNA_REQUIRED if not isinstance(table[c].iat[0], t)}
    return table.astype(recast) if recast else table


def _cnvkit_coverage(bed: str, bam: str, min_mapq: int, processes: int, fasta: str | None) -> pd.DataFrame:
    """CNVkit's own ``do_coverage`` for the inputs this module does not reproduce (imports cnvlib)."""
    from cnvlib.coverage import do_coverage

    log.info("%s: CNVkit's own coverage (input outside the reproduced cases)", bed)
    return do_coverage(bed, bam, False, min_mapq, processes, fasta).data


def coverage_table(bed: str, bam: str, min_mapq: int = 0, fasta: str | None = None, count_with_depth: bool = True,
                   threads: int = 1) -> pd.DataFrame:
    """The .cnn table of ``bed``'s bins in an alignment already checked (:func:`check_sorted`, :func:`ensure_index`):
    ``interval_coverages`` + ``interval_coverages_pileup`` + ``bedcov`` of CNVkit 0.9.14 (module docstring).
    ``count_with_depth``: base counts from ``samtools depth`` (:func:`_depth_text`) where it applies, else bedcov."""
    if bed.endswith(".gz"):
        return _cnvkit_coverage(bed, bam, min_mapq, threads, fasta)
    with open(bed) as fh:
        lines = fh.readlines()
    if not any(line.strip() for line in lines):
        log.info("%s: no regions, header-only coverage", bed)
        return pd.DataFrame(columns=[c for c, _ in _CNA_REQUIRED])
    contigs = alignment_contigs(bam, fasta)  # after the empty check, as interval_coverages_pileup
    kept = [line for line in lines if line.strip() and line[0] != "#" and line.split("\t", 1)[0] in contigs]
    if not kept:
        raise _no_match(bed, bam)
    if len({line.rstrip("\n").count("\t") for line in kept}) != 1 or kept[0].rstrip("\n").count("\t") not in (2, 3):
        return _cnvkit_coverage(bed, bam, min_mapq, threads, fasta)  # not uniform BED3/BED4
    text = _depth_text(kept, bam, min_mapq, fasta, threads) if count_with_depth else None
    counter = "samtools depth" if text is not None else "samtools bedcov"
    if text is None:
        text = _bedcov_text(bed, kept, bam, min_mapq, fasta)
    if not text:
        raise _no_match(bed, bam)
    table = _coverage_from_counts(text)
    log.info("%s: %d bins (%d on contigs absent from the alignment dropped), %d bases counted (%s)", bed, len(table),
             sum(1 for line in lines if line.strip() and line[0] != "#") - len(kept),
             int(table["depth"].mul(table["end"] - table["start"]).sum()), counter)
    return table


def sample_coverage(bam: str, targets_bed: str, antitargets_bed: str, fasta: str | None = None, min_mapq: int = 0,
                    processes: int = 1) -> tuple:
    """Target and antitarget .cnn tables of one BAM/CRAM (``cnvkit.py coverage`` twice, one process, no CNVkit
    import). An empty (0-byte) antitarget BED (whole-genome mode) gives a header-only table, as before."""
    if bam.endswith(".bed.gz"):  # a bedGraph: CNVkit's own path
        tgt = _cnvkit_coverage(targets_bed, bam, min_mapq, processes, fasta)
        anti = _cnvkit_coverage(antitargets_bed, bam, min_mapq, processes, fasta) \
            if os.path.getsize(antitargets_bed) > 0 else pd.DataFrame(columns=list(EMPTY_CNN_COLUMNS))
        return tgt, anti
    check_sorted(bam, fasta)
    ensure_index(bam)
    tgt = coverage_table(targets_bed, bam, min_mapq, fasta, count_with_depth=True, threads=processes)
    if os.path.getsize(antitargets_bed) > 0:
        anti = coverage_table(antitargets_bed, bam, min_mapq, fasta, count_with_depth=False, threads=processes)
    else:
        anti = pd.DataFrame(columns=list(EMPTY_CNN_COLUMNS))
    return tgt, anti


def write_cnn(table: pd.DataFrame, path) -> None:
    """Write a .cnn table as ``skgenome.tabio.write(arr, path)`` does (format "tab": header, tabs, no index,
    floats ``%.6g``); an empty table is its header line."""
    with atomic_output(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def write_empty_cnn(path) -> None:
    """The header-only .cnn of a sample that is not analysed (the columns of CNVkit's empty .cnn table)."""
    write_cnn(pd.DataFrame(columns=list(EMPTY_CNN_COLUMNS)), path)
