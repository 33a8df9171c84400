"""Whole-alignment passes in C: the samtools runner and per-base read depth over a set of regions.

:func:`run` prefers the ``samtools`` executable on PATH when it is 1.13 or newer (Debian and bioconda builds link libdeflate, which
decompresses BGZF about 2x faster than the zlib inside the pysam wheel: measured 1.5 vs 3.2 s CPU for one
``samtools view -c`` pass over 10.8M reads) and falls back to pysam's bundled samtools; both give the same
output.

One pass of ``samtools depth -b regions.bed`` in C replaces Python per-read loops (``count_coverage`` with a
read callback) and pileup-based counting (``samtools bedcov``, about 10x slower on deep panels): the text
output has one line per covered position of the regions only, which numpy turns into per-base arrays.

Used by QC (target depth: mean, 20th percentile) and by the copy-number stage (CNVkit target-bin base counts,
equal to ``samtools bedcov`` sums). :func:`base_counts` (one ``samtools mpileup`` pass) gives A/C/G/T counts per
position for the purity stage's het-SNP search, equal to pysam ``count_coverage`` at about a third of its cost.
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile

import numpy as np

#: samtools' default read filter (unmapped, secondary, QC-fail, duplicate: 0x704) plus supplementary alignments
#: (a chimeric piece does not add a second copy of the fragment)
EXCLUDE_WITH_SUPPLEMENTARY = 0xF04


def merge_intervals(intervals):
    """Sorted, non-overlapping (chrom, start, end) covering the same bases (touching intervals merged)."""
    merged = []
    for chrom, s, e in sorted(intervals):
        if merged and merged[-1][0] == chrom and s <= merged[-1][2]:
            merged[-1] = (chrom, merged[-1][1], max(merged[-1][2], e))
        else:
            merged.append((chrom, s, e))
    return merged


#: oldest samtools whose ``depth`` is the pileup-free rewrite (no 8,000x depth cap, ``-G`` adds to the filter)
MIN_EXECUTABLE_VERSION = (1, 13)


@functools.lru_cache(maxsize=None)
def executable() -> str | None:
    """The ``samtools`` on PATH when it is recent enough (:data:`MIN_EXECUTABLE_VERSION`), else None."""
    exe = shutil.which("samtools")
    return None if exe is None else _recent_enough(exe)


@functools.lru_cache(maxsize=8)
def _recent_enough(exe: str) -> str | None:
    """``exe`` when its version is at least :data:`MIN_EXECUTABLE_VERSION`; asked once per path and process (a
    ``samtools --version`` costs ~10 ms, and a batch job calls samtools several times per sample)."""
    try:
        banner = subprocess.run([exe, "--version"], capture_output=True, timeout=30).stdout  # not always UTF-8
        first = banner.decode("utf-8", "replace").split("\n")[0]
        version = tuple(int(x) for x in first.split()[1].split(".")[:2])
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None
    return exe if version >= MIN_EXECUTABLE_VERSION else None


def run(command: str, *args: str) -> str:
    """stdout of ``samtools <command> <args>``; raises ``pysam.utils.SamtoolsError`` (with samtools' message)
    when it fails."""
    import pysam

    exe = executable()
    if exe is None:
        return getattr(pysam.samtools, command)(*args, split_lines=False)
    proc = subprocess.run([exe, command, *args], capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise pysam.utils.SamtoolsError(f"samtools {command} returned with error {proc.returncode}: "
                                        f"stderr={proc.stderr.strip()[-1000:]}")
    return proc.stdout


def template_lengths(path: str, max_reads: int, require_flags: int, exclude_flags: int,
                     fasta: str | None = None) -> np.ndarray:
    """TLEN (> 0) of the first ``max_reads`` records, in file order, that have every flag of ``require_flags`` and
    none of ``exclude_flags``: ``samtools view -e 'tlen>0'`` filters in C, pandas parses the TLEN column, and the
    stream is closed after ``max_reads`` records (its cost does not grow with the file)."""
    import pandas as pd

    args = ["-f", hex(require_flags), "-F", hex(exclude_flags), "-e", "tlen>0"]
    if fasta:
        args += ["-T", fasta]
    exe = executable()
    if exe is None:  # pysam's bundled samtools runs in-process: read the records through pysam instead
        import pysam

        sizes = []
        with pysam.AlignmentFile(path, reference_filename=fasta) as bam:
            for read in bam.fetch(until_eof=True):
                if read.flag & (require_flags | exclude_flags) == require_flags and read.template_length > 0:
                    sizes.append(read.template_length)
                    if len(sizes) >= max_reads:
                        break
        return np.array(sizes, dtype=np.int64)
    err_file = tempfile.TemporaryFile()  # not a pipe: one read only at the end could fill up and stall samtools
    proc = subprocess.Popen([exe, "view", *args, path], stdout=subprocess.PIPE, stderr=err_file)
    try:
        table = pd.read_csv(proc.stdout, sep="\t", header=None, usecols=[8], nrows=max_reads, quoting=3,
                            dtype={8: np.int64}, na_filter=False, engine="c")
        sizes = table[8].to_numpy()
    except pd.errors.EmptyDataError:  # no such record
        sizes = np.array([], dtype=np.int64)
    finally:
        proc.stdout.close()  # samtools stops at its next write (SIGPIPE) when records remain
        rc = proc.wait()
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
        err_file.close()
    if rc != 0 and len(sizes) < max_reads:  # a stream closed early ends samtools by SIGPIPE: not an error
        import pysam

        raise pysam.utils.SamtoolsError(f"samtools view returned with error {rc}: stderr={err.strip()[-1000:]}")
    return sizes


def _run_depth(path: str, bed: str, exclude_flags: int, include_deletions: bool, min_mapq: int,
               fasta: str | None, threads: int) -> str:
    args = ["-b", bed, "-G", hex(exclude_flags), "-Q", str(int(min_mapq))]
    if include_deletions:
        args.append("-J")
    if threads > 1:
        args += ["-@", str(threads - 1)]
    if fasta:
        args += ["--reference", fasta]
    return run("depth", *args, path)


def region_depth(path: str, intervals, *, exclude_flags: int = EXCLUDE_WITH_SUPPLEMENTARY,
                 include_deletions: bool = False, min_mapq: int = 0, fasta: str | None = None,
                 threads: int = 1, contigs=None) -> np.ndarray:
    """Per-base depth over ``intervals`` (0-based half-open; must be sorted and non-overlapping, see
    :func:`merge_intervals`), concatenated in their order.

    Reads with any of ``exclude_flags`` or MAPQ < ``min_mapq`` are not counted; overlapping mates both count;
    deleted bases count only with ``include_deletions`` (``samtools depth -J``, as ``bedcov`` counts them).
    Intervals on contigs not in ``contigs`` (the alignment's, when given) are depth 0.
    """
    intervals = list(intervals)
    sizes = np.array([e - s for _, s, e in intervals], dtype=np.int64)
    depth = np.zeros(int(sizes.sum()), dtype=np.int64)
    if contigs is not None:
        contigs = set(contigs)
    queried = [iv for iv in intervals if (contigs is None or iv[0] in contigs) and iv[2] > iv[1]]
    if not queried:
        return depth
    fd, bed = tempfile.mkstemp(suffix=".bed", prefix="erbbscreen-depth.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{c}\t{s}\t{e}\n" for c, s, e in queried)
        text = _run_depth(path, bed, exclude_flags, include_deletions, min_mapq, fasta, threads)
    finally:
        os.unlink(bed)
    if not text:
        return depth
    import pandas as pd

    table = pd.read_csv(io.StringIO(text), sep="\t", header=None, usecols=[0, 1, 2], names=["chrom", "pos", "depth"],
                        dtype={"chrom": str, "pos": np.int64, "depth": np.int64})
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    by_chrom = {}
    for i, (chrom, s, e) in enumerate(intervals):
        by_chrom.setdefault(chrom, []).append((s, e, offsets[i]))
    for chrom, rows in table.groupby("chrom", sort=False):
        spans = np.array(by_chrom.get(chrom, []), dtype=np.int64).reshape(-1, 3)
        if not len(spans):
            continue
        pos0 = rows["pos"].to_numpy() - 1
        k = np.searchsorted(spans[:, 0], pos0, side="right") - 1
        inside = (k >= 0) & (pos0 < spans[np.maximum(k, 0), 1])
        k, pos0 = k[inside], pos0[inside]
        depth[spans[k, 2] + pos0 - spans[k, 0]] = rows["depth"].to_numpy()[inside]
    return depth


#: samtools mpileup options that make its per-position base counts equal to pysam ``count_coverage(...,
#: read_callback="all")`` (checked position by position on the test cohort, tests/test_samtools.py): no BAQ (-B),
#: overlapping mates both counted (-x), anomalous pairs kept (-A), no depth cap (-d 0, set per call), no MAPQ floor, the
#: default read filter (unmapped, secondary, QC-fail, duplicate), no indel/read-end marks in the base column
_MPILEUP_AS_COUNT_COVERAGE = ("-A", "-B", "-x", "-q", "0", "--ff", "UNMAP,SECONDARY,QCFAIL,DUP",
                              "--no-output-ins", "--no-output-ins", "--no-output-del", "--no-output-del",
                              "--no-output-ends")
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
#: positions parsed at a time: bounds memory on deep samples (a position's base column holds one byte per read)
_MPILEUP_CHUNK = 2000


def _segment_sums(flags: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sum of ``flags`` over consecutive segments of the given lengths (zero-length segments sum to 0)."""
    ends = np.cumsum(lengths)
    csum = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return csum[ends] - csum[ends - lengths]


def _count_bases(chunk) -> tuple:
    """A/C/G/T counts per row of an mpileup chunk (columns ref, bases): letters in either case, plus '.'/','
    (a match to the reference base, written only when a reference is given) counted as the reference base; and
    the number of letters per row (the non-reference bases when a reference is given)."""
    bases = chunk["bases"].astype(str)
    lengths = bases.str.len().to_numpy(dtype=np.int64)
    buf = np.frombuffer("".join(bases).encode("ascii", "replace"), dtype=np.uint8)
    upper = buf & 0xDF
    ref = chunk["ref"].astype(str).str.upper().str[:1].to_numpy()
    matches = _segment_sums((buf == ord(".")) | (buf == ord(",")), lengths)
    out, letters = {}, np.zeros(len(lengths), dtype=np.int64)
    for code, base in zip(_BASES, "ACGT"):
        own = _segment_sums(upper == code, lengths)
        letters += own
        out[base] = (own + np.where(ref == base, matches, 0)).astype(np.int32)
    return out, letters


def _nonref_filter(min_nonref: int) -> list | None:
    """``grep`` keeping the mpileup lines whose base column holds at least ``min_nonref`` A/C/G/T letters (with a
    reference, a base matching it is written '.' or ',', so the letters are the non-reference bases); None when no
    grep is on PATH. A plain regular expression in grep's C matcher drops the copy-neutral bulk of the text (about
    99.9% of the lines of a panel) before Python parses it, at about a fifth of the parsing cost."""
    exe = shutil.which("grep")
    if exe is None or min_nonref <= 0:
        return None
    return [exe, "-E", "^([^\t]*\t){4}([^\t]*[ACGTacgt]){%d}" % int(min_nonref)]


#: ``samtools view -e`` expression of the reads that can hold a base differing from the reference: an edit
#: distance (NM tag) other than 0, or no NM tag at all (then the read is kept: nothing is known about it)
DIFFERING_READS = "!([NM]==0)"


def base_counts(path: str, intervals, *, min_baseq: int = 0, fasta: str | None = None, max_depth: int = 0,
                min_nonref: int = 0, reads_expr: str | None = None):
    """A/C/G/T read counts at every position of ``intervals`` ((chrom, start, end), 0-based half-open) covered by
    at least one counted base: a DataFrame chrom, pos (1-based), A, C, G, T, in the alignment's order.

    One ``samtools mpileup`` pass in C over the regions (the index jumps to them), streamed and parsed in chunks
    with numpy; counts equal pysam ``count_coverage(quality_threshold=min_baseq, read_callback="all")``
    (bases with quality >= ``min_baseq``; see :data:`_MPILEUP_AS_COUNT_COVERAGE`). ``max_depth`` > 0 reads at most
    that many reads at a position (``mpileup -d``: a bounded-cost first look at a very deep sample).
    ``min_nonref`` > 0 (with ``fasta``) keeps only positions with at least that many bases that differ from the
    reference (a het-SNP search needs its minor allele's reads there): filtered by ``grep`` in C when available,
    else after parsing; the counts of the kept positions are unchanged. ``reads_expr``: pile up only the reads
    matching this ``samtools view -e`` expression (a ``samtools view`` stage in front of the pileup, streamed);
    ignored without a samtools executable."""
    import pandas as pd

    columns = ["chrom", "pos", "A", "C", "G", "T"]
    intervals = [iv for iv in intervals if iv[2] > iv[1]]
    if not intervals:
        return pd.DataFrame({c: pd.Series(dtype=str if c == "chrom" else np.int64) for c in columns})
    fd, bed = tempfile.mkstemp(suffix=".bed", prefix="erbbscreen-mpileup.")
    frames = []
    proc = filt = view = view_err = None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{c}\t{s}\t{e}\n" for c, s, e in intervals)
        args = [*_MPILEUP_AS_COUNT_COVERAGE, "-Q", str(int(min_baseq)), "-d", str(int(max_depth)), "-l", bed]
        if fasta:
            args += ["-f", fasta]
        exe = executable()
        grep = _nonref_filter(min_nonref) if fasta else None
        if exe is None:  # pysam's bundled samtools: whole output at once
            import pysam

            stream = io.StringIO(pysam.samtools.mpileup(*args, path, split_lines=False))
        else:
            # stderr to a file: a pipe read only at the end could fill up (many warnings) and stall samtools
            err_file = tempfile.TemporaryFile()
            source, source_out = path, None
            if reads_expr:
                view_err = tempfile.TemporaryFile()
                view = subprocess.Popen([exe, "view", "-u", "-e", reads_expr, *(["-T", fasta] if fasta else []),
                                         path], stdout=subprocess.PIPE, stderr=view_err)
                source, source_out = "-", view.stdout
            proc = subprocess.Popen([exe, "mpileup", *args, source], stdin=source_out, stdout=subprocess.PIPE,
                                    stderr=err_file, text=grep is None, errors="replace" if grep is None else None)
            if view is not None:
                view.stdout.close()  # mpileup owns the pipe
            stream = proc.stdout
            if grep is not None:
                filt = subprocess.Popen(grep, stdin=proc.stdout, stdout=subprocess.PIPE, text=True,
                                        errors="replace", env={**os.environ, "LC_ALL": "C"})
                proc.stdout.close()  # grep owns the pipe: samtools sees a closed reader if grep dies
                stream = filt.stdout
        reader = pd.read_csv(stream, sep="\t", header=None, usecols=[0, 1, 2, 4],
                             names=["chrom", "pos", "ref", "bases"],
                             dtype={"chrom": str, "pos": np.int64, "ref": str, "bases": str},
                             quoting=3, na_filter=False, chunksize=_MPILEUP_CHUNK)
        try:
            for chunk in reader:
                counts, letters = _count_bases(chunk)
                frames.append(pd.DataFrame({"chrom": chunk["chrom"].to_numpy(), "pos": chunk["pos"].to_numpy(),
                                            **counts, "nonref": letters}))
        except pd.errors.EmptyDataError:  # no covered position at all
            pass
        if filt is not None and filt.wait() > 1:  # 1: no line matched
            raise RuntimeError(f"grep filtering samtools mpileup of {path} returned with error {filt.returncode}")
        if view is not None and view.wait() != 0:
            import pysam

            view_err.seek(0)  # the reads' filter failed: the pileup saw a truncated stream
            raise pysam.utils.SamtoolsError(f"samtools view -e '{reads_expr}' of {path} returned with error "
                                            f"{view.returncode}: stderr="
                                            f"{view_err.read().decode('utf-8', 'replace').strip()[-1000:]}")
        if proc is not None:
            rc = proc.wait()
            err_file.seek(0)
            err = err_file.read().decode("utf-8", "replace")
            err_file.close()
            if rc != 0:
                import pysam

                raise pysam.utils.SamtoolsError(f"samtools mpileup returned with error {proc.returncode}: "
                                                f"stderr={err.strip()[-1000:]}")
    finally:
        os.unlink(bed)
        for running in (filt, proc, view):  # after an error: no process outlives the call
            if running is not None and running.poll() is None:
                running.kill()
                running.wait()
        if view_err is not None:
            view_err.close()
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=str if c == "chrom" else np.int64) for c in columns})
    table = pd.concat(frames, ignore_index=True)
    keep = table[["A", "C", "G", "T"]].sum(axis=1) > 0
    if min_nonref > 0 and fasta and grep is None:  # the same filter as grep's, after parsing
        keep &= table["nonref"] >= min_nonref
    return table.loc[keep, columns].reset_index(drop=True)


def bin_base_counts(path: str, bins, **kwargs) -> np.ndarray:
    """Sum of per-base depth in each of ``bins`` ((chrom, start, end), any order, may overlap): what
    ``samtools bedcov`` reports with the same filters (``exclude_flags``, ``min_mapq``, ``include_deletions``)."""
    bins = list(bins)
    union = merge_intervals([b for b in bins if b[2] > b[1]])
    cums = np.concatenate([[0], np.cumsum(region_depth(path, union, **kwargs))])
    sizes = np.array([e - s for _, s, e in union], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    out = np.zeros(len(bins), dtype=np.int64)
    chroms = np.array([b[0] for b in bins], dtype=object)
    starts = np.array([b[1] for b in bins], dtype=np.int64)
    ends = np.array([b[2] for b in bins], dtype=np.int64)
    union_chroms = np.array([u[0] for u in union], dtype=object)
    union_starts = np.array([u[1] for u in union], dtype=np.int64)
    for chrom in set(union_chroms):
        rows = np.flatnonzero((chroms == chrom) & (ends > starts))
        on = np.flatnonzero(union_chroms == chrom)
        k = on[np.searchsorted(union_starts[on], starts[rows], side="right") - 1]  # the union interval of each bin
        base = offsets[k] - union_starts[k]
        out[rows] = cums[base + ends[rows]] - cums[base + starts[rows]]
    return out


def union_span(bins) -> int:
    """Bases covered by ``bins`` (overlaps counted once)."""
    return sum(e - s for _, s, e in merge_intervals([b for b in bins if b[2] > b[1]]))
