"""Target and antitarget bins of a panel (``targets.bed`` / ``antitargets.bed``), the same bytes CNVkit 0.9.14
writes (``cnvkit.py target --split`` + ``access`` + ``antitarget``), without importing CNVkit.

Why: the ``cnv_bins`` job runs first in every run, at the head of the critical chain, and ``import cnvlib`` was most
of its CPU (1.36 s of ~2.3 s: skgenome + bioframe 0.6 s, scipy.stats 0.4 s, matplotlib 0.35 s) while the work itself
is interval arithmetic on a few hundred regions. This module imports only numpy, pandas, pysam and erbbscreen
(tests/test_cnv_bins.py checks that ``cnvlib``, ``skgenome``, ``scipy.stats`` and ``matplotlib`` stay out of
``sys.modules``, and compares both BEDs byte for byte with CNVkit's on the cohort reference and edge cases).

What it mirrors (CNVkit 0.9.14 / its bundled skgenome, pinned in requirements.txt), and why each matters for bytes:

* ``skgenome.tabio.read_auto`` for a BED (``sniff_region_format`` says "bed"): ``bedio.read_bed`` (a first
  ``browser``/``track`` line skipped, reading stops at the next ``track`` line; name = 4th field right-stripped, "-"
  when absent), then ``GenomicArray.sort`` - chromosome by ``chromsort.sorter_chrom`` (numbers, then X/Y, then
  others; "chr" ignored), start, end, stable - which fixes the row order and so the order gene names are joined in;
* ``cnvlib.target.do_target(baits, None, False, True, avg_size)``: zero-width regions dropped, then
  ``GenomicArray.subdivide(avg_size, 0)`` = ``skgenome.merge.merge`` (no-op when every start lies past the running
  maximum end in table order - across chromosomes too - else a sort by chromosome name/start/end, clusters of
  overlapping *or abutting* regions (``bioframe.cluster(min_dist=0)``), names joined by ``combiners.join_strings``:
  unique, first-seen order, comma-separated; then chromosomes reordered by ``sorter_chrom``) and
  ``subdivide._split_targets``: ``nbins = round(span / avg) or 1`` (Python's round-half-even), cut points
  ``start + int(i * span / nbins)``;
* ``cnvlib.access.do_access(fasta)`` (defaults: no exclusions, ``min_gap_size`` 5000, non-canonical contigs
  skipped): maximal runs of non-``N`` characters (upper-case N only, as CNVkit scans), contigs matching
  ``chromnames.is_alternative_contig`` / ``is_mitochondrial`` dropped, runs closer than 5000 bp joined; FASTA order;
* ``cnvlib.antitarget.do_antitarget(targets, access, avg_bin_size)``: ``min_bin_size = 2 * int(avg * 2**-5)``
  (``params.MIN_REF_COVERAGE``), untargeted non-canonical contigs dropped (``drop_noncanonical_contigs``), access
  shrunk by 2 x ``params.INSERT_SIZE`` (500 bp) at each end, minus the targets grown by 500 bp (``bioframe.subtract``:
  per access region, its pieces outside the targets' union, in order), then subdivided as above (pieces shorter than
  ``min_bin_size`` dropped), named "Antitarget";
* ``skgenome.tabio.write(arr, path, "bed4")``: chromosome, start, end, gene; tab-separated, no header, no index.

Not reproduced (:class:`Unsupported` -> :func:`erbbscreen.copynumber.make_bins` uses CNVkit's own path, imported only
then): Picard interval_list and any other panel format than BED, a BED line CNVkit's parser rejects (its error is
then CNVkit's), regions with end < start, a FASTA whose sequence lines carry blank lines, spaces, tabs or carriage
returns or that repeats a contig name, a panel left without regions on the reference, an access set left empty (CNVkit
then guesses chromosome extents), a given access BED whose chromosome names share none with the targets' (CNVkit's
error). The whole-genome mode and a reference .cnn's bins stay with CNVkit too.
"""
from __future__ import annotations

import os
import re
from itertools import takewhile

import numpy as np
import pandas as pd

from erbbscreen.tables import atomic_output

#: bases added to each side of a target / removed from each side of an accessible region before antitargets are cut
#: (2 x ``cnvlib.params.INSERT_SIZE``, 250 bp, CNVkit 0.9.14)
ANTITARGET_PAD = 2 * 250
#: ``cnvlib.params.MIN_REF_COVERAGE``: the smallest antitarget bin is ``2 * int(avg * 2**MIN_REF_COVERAGE)``
MIN_REF_COVERAGE = -5.0
#: name of every off-target bin (``cnvlib.params.ANTITARGET_NAME``)
ANTITARGET_NAME = "Antitarget"
#: gaps of N shorter than this do not split accessible regions (``cnvlib.access.do_access`` default)
ACCESS_MIN_GAP = 5000
#: contig names CNVkit treats as alternative/unplaced or mitochondrial (``skgenome.chromnames``, CNVkit 0.9.14)
_ALTERNATIVE_CONTIG = re.compile(r"^chrEBV$|^NC[_\-]|_random$|Un_|^HLA[\-_]|_alt$|hap\d+$|_decoy$")
_MITOCHONDRIAL = re.compile(r"^(?:chr|Chr)?(?:M|MT|Mito)$", re.IGNORECASE)
#: the first-line patterns ``skgenome.tabio.sniff_region_format`` tries, in its order (CNVkit 0.9.14)
_FORMATS = {"text": re.compile(r"\w+:\d*-\d*.*"), "tab": re.compile("chromosome\tstart\tend"),
            "interval": re.compile(r"\w+\t\d+\t\d+\t[.+-]\t\S+$"),
            "refflat": re.compile(r"\S+\t\S+\t\w+\t[+-]\t\d+\t\d+\t\d+\t\d+\t\d+\t(\d+,)+\t(\d+,)+$"),
            "gff": re.compile(r"\w+\t\S+\t\w+\t\d+\t\d+\t\S+\t[.?+-]\t[012.]\t.*"),
            "bed": re.compile(r"\S+\t\d+\t\d+")}
_COLUMNS = ["chromosome", "start", "end", "gene"]


class Unsupported(Exception):
    """An input this module does not reproduce CNVkit on; the caller uses CNVkit itself."""


def _canonical(name: str) -> bool:
    return not (_ALTERNATIVE_CONTIG.search(name) or _MITOCHONDRIAL.match(name))


def sorter_chrom(label: str) -> tuple:
    """CNVkit's chromosome sort key (``skgenome.chromsort.sorter_chrom``): 1 < 2 < 10 < X < Y < M < others."""
    chrom = label[3:] if label.lower().startswith("chr") else label
    if chrom in ("X", "Y"):
        return (1000, chrom)
    digits = "".join(takewhile(str.isdigit, chrom))
    rest = chrom[len(digits):]
    number = int(digits) if digits else 0
    if not rest:
        return (number, "")
    return (2000 + number, rest) if len(rest) == 1 else (3000 + number, rest)


def _frame(chroms, starts, ends, genes) -> pd.DataFrame:
    return pd.DataFrame({"chromosome": pd.Series(chroms, dtype=object), "start": np.asarray(starts, dtype=np.int64),
                         "end": np.asarray(ends, dtype=np.int64), "gene": pd.Series(genes, dtype=object)})


def _genome_sorted(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by (``sorter_chrom``, start, end), ties in their order (``GenomicArray.sort``, a stable sort)."""
    keys = list(zip(map(sorter_chrom, table["chromosome"]), table["start"].tolist(), table["end"].tolist()))
    order = sorted(range(len(table)), key=keys.__getitem__)
    return table.iloc[order].reset_index(drop=True)


def _sniff(path: str, lines: list) -> str | None:
    """The format ``skgenome.tabio.sniff_region_format`` names ("bed3" for a file without a data line)."""
    ext = os.path.splitext(path)[1].removeprefix(".")
    by_name = ext if ext in _FORMATS else None
    for line in lines:
        if not line.strip() or line.startswith(("track", "browser ")):
            continue
        if by_name and _FORMATS[by_name].match(line):
            return by_name
        if line.startswith("##gff-version") or _FORMATS["gff"].match(line):
            return "gff"
        if line.startswith(("##fileformat=VCF", "#CHROM\tPOS\tID")):
            return "vcf"
        if line.startswith("#"):
            continue
        for fmt in ("text", "tab", "interval", "refflat", "bed"):
            if fmt == "interval" and line.startswith("@") or _FORMATS[fmt].match(line):
                return fmt
        return "unknown"
    return "bed3"


def read_bed_regions(path: str) -> pd.DataFrame:
    """A panel BED as ``tabio.read_auto`` reads it: chromosome, start, end, gene (name or "-"), genome-sorted."""
    try:
        with open(path) as fh:
            lines = fh.readlines()
    except UnicodeDecodeError as exc:  # gzip or binary: CNVkit's reader fails on it too, with its message
        raise Unsupported(f"{path}: not a text BED") from exc
    if _sniff(path, lines) not in ("bed", "bed3"):
        raise Unsupported(f"{path}: not a BED for CNVkit's format sniffing")
    body = lines
    if body and body[0].startswith("browser "):
        body = body[1:]
    if body and body[0].startswith("track"):
        body = body[1:]
    rows = []
    for line in body:
        if line.startswith("track"):
            break
        fields = line.split("\t", 6)
        try:
            rows.append((fields[0], int(fields[1]), int(fields[2]), fields[3].rstrip() if len(fields) >= 4 else "-"))
        except (ValueError, IndexError) as exc:  # CNVkit raises its own "Bad line" error: let it
            raise Unsupported(f"{path}: line CNVkit's BED parser rejects: {line!r}") from exc
    table = pd.DataFrame.from_records(rows, columns=_COLUMNS)
    return _genome_sorted(table) if len(table) else _frame([], [], [], [])


def merge(table: pd.DataFrame) -> pd.DataFrame:
    """``skgenome.merge.merge(table)`` (bp=0, unstranded) for chromosome/start/end/gene tables."""
    if table.empty:
        return table
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    if (starts[1:] - np.maximum.accumulate(ends)[:-1] > 0).all():
        return table
    table = table.sort_values(["chromosome", "start", "end"], kind="stable").reset_index(drop=True)
    chroms = table["chromosome"].to_numpy()
    starts, ends, genes = table["start"].to_numpy(), table["end"].to_numpy(), table["gene"].to_numpy()
    out_c, out_s, out_e, out_g = [], [], [], []
    i, n = 0, len(table)
    while i < n:  # rows are sorted: a cluster continues while the next start is within the running maximum end
        j, reach = i + 1, ends[i]
        while j < n and chroms[j] == chroms[i] and starts[j] <= reach:
            reach = max(reach, ends[j])
            j += 1
        out_c.append(chroms[i])
        out_s.append(starts[i])
        out_e.append(reach)
        if j - i == 1:
            out_g.append(genes[i] if isinstance(genes[i], str) else "-")
        else:
            names = dict.fromkeys(g for g in genes[i:j] if isinstance(g, str))
            out_g.append(",".join(names) or "-")
        i = j
    merged = _frame(out_c, out_s, out_e, out_g)
    keys = [sorter_chrom(c) for c in merged["chromosome"]]
    order = sorted(range(len(merged)), key=keys.__getitem__)
    return merged.iloc[order].reset_index(drop=True)


def subdivide(table: pd.DataFrame, avg_size: float, min_size: int = 0) -> pd.DataFrame:
    """``GenomicArray.subdivide(avg_size, min_size)``: merged regions cut into ~``avg_size`` bins."""
    merged = merge(table)
    out_c, out_s, out_e, out_g = [], [], [], []
    for chrom, start, end, gene in zip(merged["chromosome"], merged["start"].tolist(), merged["end"].tolist(),
                                       merged["gene"]):
        span = end - start
        if span < min_size:
            continue
        nbins = round(span / avg_size) or 1
        size = span / nbins
        cuts = [start] + [start + int(i * size) for i in range(1, nbins)] + [end]
        out_c += [chrom] * nbins
        out_s += cuts[:-1]
        out_e += cuts[1:]
        out_g += [gene] * nbins
    return _frame(out_c, out_s, out_e, out_g)


def targets(baits: pd.DataFrame, avg_size: float) -> pd.DataFrame:
    """``cnvlib.target.do_target(baits, None, False, True, avg_size)``: baits merged and split into ~avg_size bins."""
    if (baits["end"] < baits["start"]).any():
        raise Unsupported("a panel region ends before it starts")
    return subdivide(baits[baits["start"] != baits["end"]], avg_size, 0)


#: bytes read at a time from the FASTA (one contig is held in memory at once, as a byte string and a mask)
_FASTA_BLOCK = 1 << 24


def _fasta_records(fasta: str):
    """(header, sequence lines) of each FASTA record, read in blocks: a human chromosome at a time, not the genome.
    The file's final newline is not part of the last record (a blank line there would be)."""
    with open(fasta, "rb") as fh:
        carry = fh.read(_FASTA_BLOCK)
        if not carry:
            return
        if not carry.startswith(b">"):
            raise Unsupported(f"{fasta}: text before the first '>' header")
        carry, pieces = carry[1:], []
        while True:
            idx = carry.find(b"\n>")
            if idx >= 0:
                pieces.append(carry[:idx])
                carry = carry[idx + 2:]
                last = False
            else:
                more = fh.read(_FASTA_BLOCK)
                if more:  # keep the last byte: it may be the newline of a "\n>" split across blocks
                    pieces.append(carry[:-1])
                    carry = carry[-1:] + more
                    continue
                pieces.append(carry[:-1] if carry.endswith(b"\n") else carry)
                last = True
            record = b"".join(pieces)
            pieces = []
            header, _, body = record.partition(b"\n")
            yield header, body
            if last:
                return


def access_regions(fasta: str) -> pd.DataFrame:
    """``cnvlib.access.do_access(fasta)`` with its defaults: accessible (non-N) regions, FASTA order."""
    out_c, out_s, out_e, seen = [], [], [], set()
    for header, body in _fasta_records(fasta):
        try:
            chrom = header.decode().split(None, 1)[0] if header[:1].strip() else None
        except UnicodeDecodeError:
            chrom = None
        if chrom is None or chrom in seen or body.startswith(b"\n") or body.endswith(b"\n") or any(
                ch in body for ch in (b"\r", b" ", b"\t", b"\n\n")):
            raise Unsupported(f"{fasta}: FASTA layout CNVkit's line scanner treats specially (contig {chrom})")
        seen.add(chrom)
        if not _canonical(chrom):
            continue
        seq = body.replace(b"\n", b"")
        del body
        if not seq:
            continue
        is_n = np.frombuffer(seq, dtype=np.uint8) == ord("N")
        del seq
        # run boundaries: a non-N base after an N (or at 0) starts a run, an N after a non-N base (or the end) ends it
        change = np.flatnonzero(is_n[1:] != is_n[:-1]) + 1
        bounds = np.concatenate(([0], change, [len(is_n)]))
        first_is_n = bool(is_n[0])
        del is_n
        run_starts = bounds[:-1][1::2] if first_is_n else bounds[:-1][0::2]
        run_ends = bounds[1:][1::2] if first_is_n else bounds[1:][0::2]
        if not len(run_starts):
            continue
        keep = np.concatenate(([True], run_starts[1:] - run_ends[:-1] >= ACCESS_MIN_GAP))
        last = np.concatenate((np.flatnonzero(keep)[1:] - 1, [len(keep) - 1]))
        out_c += [chrom] * int(keep.sum())
        out_s += run_starts[keep].tolist()
        out_e += run_ends[last].tolist()
    return _frame(out_c, out_s, out_e, [np.nan] * len(out_c))


def _subtract(access: pd.DataFrame, tgt: pd.DataFrame) -> pd.DataFrame:
    """``bioframe.subtract(access, tgt)``: each access region's pieces outside the union of ``tgt``, in order."""
    union = {}
    for chrom, sub in tgt.groupby("chromosome", sort=False):
        order = np.lexsort([sub["end"].to_numpy(), sub["start"].to_numpy()])
        s, e = sub["start"].to_numpy()[order], sub["end"].to_numpy()[order]
        spans = []
        for a, b in zip(s.tolist(), e.tolist()):
            if spans and a <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], b)
            else:
                spans.append([a, b])
        union[chrom] = spans
    out_c, out_s, out_e = [], [], []
    for chrom, start, end in zip(access["chromosome"], access["start"].tolist(), access["end"].tolist()):
        pos = start
        for a, b in union.get(chrom, ()):
            if b <= pos or a >= end:
                if a >= end:
                    break
                continue
            if a > pos:
                out_c.append(chrom)
                out_s.append(pos)
                out_e.append(a)
            pos = max(pos, b)
        if pos < end:
            out_c.append(chrom)
            out_s.append(pos)
            out_e.append(end)
    return _frame(out_c, out_s, out_e, [np.nan] * len(out_c))


def antitargets(tgt: pd.DataFrame, access: pd.DataFrame, avg_bin_size: int) -> pd.DataFrame:
    """``cnvlib.antitarget.do_antitarget(tgt, access=access, avg_bin_size=avg_bin_size)``."""
    min_bin_size = 2 * int(avg_bin_size * (2 ** MIN_REF_COVERAGE))
    if not len(access) or not len(tgt):
        raise Unsupported("no accessible region or no target: CNVkit guesses chromosome extents or raises")
    access_chroms, target_chroms = set(access["chromosome"]), set(tgt["chromosome"])
    if access_chroms.isdisjoint(target_chroms):
        raise Unsupported("access and targets share no chromosome name (CNVkit's error)")
    untargeted = access_chroms - target_chroms
    if any(_canonical(c) for c in target_chroms):
        skip = {c for c in untargeted if not _canonical(c)}
    else:
        longest = max(map(len, target_chroms))
        skip = {c for c in untargeted if len(c) > longest}
    access = access[~access["chromosome"].isin(skip)]
    shrunk = access.assign(start=(access["start"] + ANTITARGET_PAD).clip(lower=0),
                           end=(access["end"] - ANTITARGET_PAD).clip(lower=0))
    shrunk = shrunk[shrunk["end"] - shrunk["start"] > 0]
    grown = tgt.assign(start=(tgt["start"] - ANTITARGET_PAD).clip(lower=0),
                       end=(tgt["end"] + ANTITARGET_PAD).clip(lower=0))
    bins = subdivide(_subtract(shrunk, grown), avg_bin_size, min_bin_size)
    bins["gene"] = ANTITARGET_NAME
    return bins


def write_bed4(table: pd.DataFrame, path) -> None:
    """``skgenome.tabio.write(arr, path, "bed4")``; an empty table gives an empty file (erbbscreen's choice)."""
    with atomic_output(path) as tmp:
        if len(table):
            out = table.copy()
            if "gene" not in out:
                out["gene"] = "-"
            out.loc[:, _COLUMNS].to_csv(tmp, header=False, index=False, sep="\t", float_format="%.6g")
        else:
            tmp.write_text("")
