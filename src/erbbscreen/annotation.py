"""Annotation library: canonical transcripts (BED12), hotspot codon table, protein-domain BED.

Everything downstream (hotspot genotyping, NRG1 fusion interpretation, copy number per gene)
reads its annotation through this module. Coordinates follow one convention:

* ``Transcript`` fields and every ``pos0`` argument are **0-based** (BED); intervals are half-open.
* The hotspot table (shared/interfaces.md) holds **1-based** positions ``pos1, pos2, pos3``:
  the genomic positions of the codon's first, second and third coding base (c.3k-2, c.3k-1, c.3k).

Command line (registered in ``erbbscreen.cli`` as ``check-hotspots``)::

    erbb-screen check-hotspots --hotspots resources/GRCh38/hotspots.tsv --fasta ref.fa \
        [--transcripts resources/GRCh38/transcripts.bed12]

exits 0 when every codon translates to its ``ref_aa`` (and, with ``--transcripts``, sits at the
c. positions the transcript's CDS gives), 1 with one message per problem otherwise.
"""
from __future__ import annotations

import argparse
import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from erbbscreen.errors import InputError

# ---------------------------------------------------------------------------------------------
# sequence helpers
# ---------------------------------------------------------------------------------------------

_COMPLEMENT = str.maketrans("ACGTNacgtnRYKMSWBDHVrykmswbdhv", "TGCANtgcanYRMKSWVHDByrmkswvhdb")

#: The standard genetic code (NCBI translation table 1), codon -> one-letter amino acid, '*' = stop.
_BASES = "TCAG"
_AA_TABLE1 = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
GENETIC_CODE = {
    a + b + c: _AA_TABLE1[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES)
    for j, b in enumerate(_BASES)
    for k, c in enumerate(_BASES)
}
AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")


def revcomp(seq: str) -> str:
    """Reverse complement (IUPAC-aware, case kept)."""
    return seq.translate(_COMPLEMENT)[::-1]


def complement(seq: str) -> str:
    """Complement without reversing (IUPAC-aware, case kept)."""
    return seq.translate(_COMPLEMENT)


def translate_codon(bases: str) -> str:
    """Translate one codon with the standard code; 'X' when it holds anything but A/C/G/T."""
    if len(bases) != 3:
        raise ValueError(f"a codon has 3 bases, got {bases!r}")
    return GENETIC_CODE.get(bases.upper(), "X")


def _open_text(path):
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt")
    return open(path)


# ---------------------------------------------------------------------------------------------
# transcripts
# ---------------------------------------------------------------------------------------------


@dataclass
class Transcript:
    """One transcript from a BED12 line; all coordinates 0-based, half-open.

    ``exons`` are in genomic (ascending) order; ``cds_start``/``cds_end`` are BED thickStart/thickEnd
    (``cds_start == cds_end`` means no CDS is known). ``cds_status`` (optional BED column 14) says how much
    of the CDS the thick region holds: ``complete``; ``partial_3prime`` (c.1 is pinned but the CDS end is
    not known: thickStart..thickEnd covers only the known coding stretch, so ``cds_length`` is a lower bound
    and exons past it are reported as non-coding); ``none`` (no CDS). Empty = not stated (``complete``
    assumed when a thick region exists).
    """

    gene: str
    transcript_id: str
    chrom: str
    start: int
    end: int
    strand: str
    exons: list = field(default_factory=list)
    cds_start: int = 0
    cds_end: int = 0
    cds_status: str = ""

    # -- structure -----------------------------------------------------------------------------
    @property
    def has_cds(self) -> bool:
        return self.cds_end > self.cds_start

    def exons_in_transcript_order(self) -> list:
        """Exons 5'->3' along the transcript (descending genomic order on the '-' strand)."""
        return list(self.exons) if self.strand == "+" else list(reversed(self.exons))

    def introns_in_transcript_order(self) -> list:
        """Introns (start, end) 0-based half-open, 5'->3'; intron k lies between exon k and k+1."""
        ex = self.exons_in_transcript_order()
        out = []
        for a, b in zip(ex, ex[1:]):
            lo, hi = (a[1], b[0]) if self.strand == "+" else (b[1], a[0])
            out.append((lo, hi))
        return out

    def exon_number_at(self, pos0: int):
        """1-based exon number (transcript order) containing ``pos0``, else None."""
        for k, (s, e) in enumerate(self.exons_in_transcript_order(), start=1):
            if s <= pos0 < e:
                return k
        return None

    def intron_number_at(self, pos0: int):
        """1-based intron number (transcript order) containing ``pos0``, else None."""
        for k, (s, e) in enumerate(self.introns_in_transcript_order(), start=1):
            if s <= pos0 < e:
                return k
        return None

    def locate(self, pos0: int):
        """('exon', k) / ('intron', k) / ('upstream' | 'downstream', None) relative to transcription."""
        if pos0 < self.start or pos0 >= self.end:
            before = pos0 < self.start
            if self.strand == "+":
                return ("upstream" if before else "downstream", None)
            return ("downstream" if before else "upstream", None)
        k = self.exon_number_at(pos0)
        if k is not None:
            return ("exon", k)
        k = self.intron_number_at(pos0)
        if k is not None:
            return ("intron", k)
        raise AssertionError(f"{self.gene}: position {pos0} inside the transcript but in no exon or intron")

    def genome_to_transcript(self, pos0: int):
        """1-based position along the spliced transcript (n.N, from its 5' end) of genomic ``pos0``; None if not exonic."""
        done = 0
        for s, e in self.exons_in_transcript_order():
            if s <= pos0 < e:
                return done + (pos0 - s if self.strand == "+" else e - 1 - pos0) + 1
            done += e - s
        return None

    def transcript_to_genome(self, n_pos: int) -> int:
        """0-based genomic position of spliced-transcript position n.``n_pos`` (1-based from the 5' end)."""
        left = n_pos - 1
        if left < 0:
            raise ValueError(f"{self.gene}: transcript position {n_pos} < 1")
        for s, e in self.exons_in_transcript_order():
            if left < e - s:
                return s + left if self.strand == "+" else e - 1 - left
            left -= e - s
        raise ValueError(f"{self.gene}: transcript position {n_pos} beyond the transcript's "
                         f"{sum(e - s for s, e in self.exons)} exonic bases")

    # -- CDS -----------------------------------------------------------------------------------
    @property
    def cds_complete(self) -> bool:
        """True when the thick region is the whole CDS (not a pinned partial stretch)."""
        return self.has_cds and self.cds_status in ("", "complete")

    def _coding_segments(self) -> list:
        """Coding part of each exon, transcript order: list of (start, end) or None when non-coding."""
        segs = []
        for s, e in self.exons_in_transcript_order():
            lo, hi = max(s, self.cds_start), min(e, self.cds_end)
            segs.append((lo, hi) if self.has_cds and lo < hi else None)
        return segs

    @property
    def cds_length(self) -> int:
        return sum(seg[1] - seg[0] for seg in self._coding_segments() if seg)

    def coding_exon_phases(self) -> list:
        """(start_phase, end_phase) per exon in transcript order, Ensembl convention.

        start_phase = number of coding bases before the exon's 5' boundary, modulo 3, or -1 when the
        exon's first base is not coding (UTR, or a non-coding exon). end_phase = coding bases up to and
        including the exon's last base, modulo 3, or -1 when that base is not coding.
        """
        out = []
        done = 0
        for (s, e), seg in zip(self.exons_in_transcript_order(), self._coding_segments()):
            if seg is None:
                out.append((-1, -1))
                continue
            first, last = (s, e - 1) if self.strand == "+" else (e - 1, s)
            coding_first = self.cds_start <= first < self.cds_end
            coding_last = self.cds_start <= last < self.cds_end
            sp = done % 3 if coding_first else -1
            done += seg[1] - seg[0]
            ep = done % 3 if coding_last else -1
            out.append((sp, ep))
        return out

    def cdna_to_genome(self, c_pos: int) -> int:
        """0-based genomic position of CDS base c.``c_pos`` (1-based, c.1 = A of the start codon)."""
        if not self.has_cds:
            raise ValueError(f"{self.gene} ({self.transcript_id or 'no id'}): no CDS in the transcript model")
        if c_pos < 1 or c_pos > self.cds_length:
            raise ValueError(f"{self.gene}: c.{c_pos} outside the CDS (length {self.cds_length})")
        left = c_pos - 1
        for seg in self._coding_segments():
            if seg is None:
                continue
            n = seg[1] - seg[0]
            if left < n:
                return seg[0] + left if self.strand == "+" else seg[1] - 1 - left
            left -= n
        raise AssertionError("unreachable")

    def genome_to_cdna(self, pos0: int):
        """CDS position (1-based c.N) of genomic ``pos0``, or None when it is not a coding base."""
        if not self.has_cds:
            return None
        done = 0
        for seg in self._coding_segments():
            if seg is None:
                continue
            if seg[0] <= pos0 < seg[1]:
                off = pos0 - seg[0] if self.strand == "+" else seg[1] - 1 - pos0
                return done + off + 1
            done += seg[1] - seg[0]
        return None

    def codon_positions(self, codon_number: int) -> tuple:
        """1-based genomic positions of c.(3k-2), c.(3k-1), c.3k for codon k (contract pos1, pos2, pos3)."""
        k = int(codon_number)
        return tuple(self.cdna_to_genome(c) + 1 for c in (3 * k - 2, 3 * k - 1, 3 * k))

    def to_bed12(self) -> str:
        """One BED12 line (+ transcript id as column 13), no newline."""
        starts = ",".join(str(s - self.start) for s, _ in self.exons) + ","
        sizes = ",".join(str(e - s) for s, e in self.exons) + ","
        cols = [self.chrom, self.start, self.end, self.gene, 0, self.strand, self.cds_start, self.cds_end,
                0, len(self.exons), sizes, starts, self.transcript_id]
        if self.cds_status:
            cols.append(self.cds_status)
        return "\t".join(str(c) for c in cols)


#: Allowed values of the optional BED12 column 14 ('' = not given).
CDS_STATUSES = ("", "complete", "partial_3prime", "none")


def _int_list(text):
    return [int(x) for x in text.strip().strip(",").split(",") if x != ""]


def read_transcripts(path) -> dict:
    """Parse a BED12 of canonical transcripts into {gene symbol: Transcript}.

    Column 4 is the gene symbol; an optional 13th column is the transcript id and an optional 14th the
    CDS status (``complete``, ``partial_3prime``, ``none``; see :class:`Transcript`). Blank lines and
    lines starting with '#', 'track' or 'browser' are skipped. Every problem is collected and raised
    together as :class:`erbbscreen.errors.InputError` naming file, line and fix.
    """
    path = Path(path)
    problems, out, first_line = [], {}, {}
    fix12 = "each line needs 12 tab-separated BED12 columns (+ optional transcript id)"
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise InputError([f"{path}: cannot open transcripts BED12 ({exc.strerror}); check annotation.transcripts"])
    with fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            where = f"{path}:{n}"
            cols = line.split("\t")
            if len(cols) < 12:
                problems.append(f"{where}: {len(cols)} column(s) found; {fix12} (is the file space- instead of tab-separated?)")
                continue
            chrom, name, strand = cols[0], cols[3], cols[5]
            try:
                start, end, tstart, tend, nblk = (int(cols[i]) for i in (1, 2, 6, 7, 9))
                sizes, rel = _int_list(cols[10]), _int_list(cols[11])
            except ValueError:
                problems.append(f"{where}: chromStart/chromEnd/thickStart/thickEnd/blockCount/blockSizes/blockStarts "
                                f"must be integers; {fix12}")
                continue
            bad = []
            if not name:
                bad.append("empty name column (column 4 must be the gene symbol)")
            if strand not in ("+", "-"):
                bad.append(f"strand {strand!r} must be '+' or '-' (column 6)")
            if not 0 <= start < end:
                bad.append(f"chromStart {start} must be >= 0 and < chromEnd {end}")
            if not (start <= tstart <= tend <= end):
                bad.append(f"thickStart/thickEnd {tstart}/{tend} must satisfy chromStart <= thickStart <= thickEnd "
                           f"<= chromEnd ({start}/{end}); use thickStart = thickEnd when no CDS is known")
            if nblk < 1 or len(sizes) != nblk or len(rel) != nblk:
                bad.append(f"blockCount {nblk} must equal the number of blockSizes ({len(sizes)}) and blockStarts "
                           f"({len(rel)})")
            if bad:
                problems += [f"{where}: {b}" for b in bad]
                continue
            if rel[0] != 0:
                problems.append(f"{where}: first blockStart is {rel[0]}, must be 0 (blockStarts are relative to "
                                f"chromStart; the first exon starts at chromStart)")
                continue
            exons = [(start + r, start + r + s) for r, s in zip(rel, sizes)]
            if any(s <= 0 for s in sizes):
                problems.append(f"{where}: blockSizes must be positive, got {cols[10]}")
                continue
            if any(b[0] < a[1] for a, b in zip(exons, exons[1:])):
                problems.append(f"{where}: blocks overlap or are not in ascending order ({cols[11]}); sort blocks by "
                                f"start and merge overlapping exons")
                continue
            if exons[-1][1] != end:
                problems.append(f"{where}: last block ends at {exons[-1][1]} but chromEnd is {end}; "
                                f"{'exons run beyond' if exons[-1][1] > end else 'the last exon must end at'} chromEnd "
                                f"(fix blockSizes/blockStarts or chromEnd)")
                continue
            if tend > tstart:
                in_exon = lambda p: any(s <= p < e for s, e in exons)  # noqa: E731
                if not in_exon(tstart) or not in_exon(tend - 1):
                    problems.append(f"{where}: CDS {tstart}-{tend} starts or ends in an intron; thickStart and "
                                    f"thickEnd-1 must be exonic bases")
                    continue
            if name in out:
                problems.append(f"{where}: gene {name} already defined on line {first_line[name]}; keep one canonical "
                                f"transcript per gene")
                continue
            tid = cols[12].strip() if len(cols) > 12 else ""
            status = cols[13].strip() if len(cols) > 13 else ""
            if status not in CDS_STATUSES:
                problems.append(f"{where}: column 14 (CDS status) {status!r} must be one of "
                                f"{', '.join(repr(x) for x in CDS_STATUSES)}")
                continue
            if (status == "none") != (tend == tstart) and status:
                problems.append(f"{where}: CDS status {status!r} contradicts thickStart/thickEnd {tstart}/{tend} "
                                f"(status 'none' exactly when thickStart = thickEnd)")
                continue
            out[name] = Transcript(name, tid, chrom, start, end, strand, exons, tstart, tend, status)
            first_line[name] = n
    if problems:
        raise InputError(problems, header=f"Transcript BED12 {path} is malformed")
    if not out:
        raise InputError([f"{path}: no transcript lines found; expected BED12 (one canonical transcript per gene)"],
                         header=f"Transcript BED12 {path} is malformed")
    return out


def gene_intervals(transcripts: dict) -> pd.DataFrame:
    """Gene spans from transcripts: DataFrame chrom, start, end (0-based half-open), gene, strand, transcript_id."""
    rows = [(t.chrom, t.start, t.end, t.gene, t.strand, t.transcript_id) for t in transcripts.values()]
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "gene", "strand", "transcript_id"])


# ---------------------------------------------------------------------------------------------
# hotspots
# ---------------------------------------------------------------------------------------------

HOTSPOT_COLUMNS = ["gene", "codon", "ref_aa", "chrom", "strand", "pos1", "pos2", "pos3"]


def read_hotspots(path) -> pd.DataFrame:
    """Read and validate the hotspot TSV (contract columns first, extras kept as strings).

    Checks: required columns present; gene/chrom non-empty; codon a positive integer; ref_aa one of
    the 20 standard one-letter amino acids; strand '+'/'-'; pos1..pos3 positive integers running in
    the strand's direction one base apart (pos2 = pos1 + 1 on '+', pos1 - 1 on '-'; a codon split by
    an intron is accepted when an extra column ``spans_splice`` says 'yes', then only the direction is
    checked); no (gene, codon) twice. All problems are raised together as InputError.
    """
    path = Path(path)
    hdr = f"Hotspot table {path} is malformed"
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise InputError([f"{path}: cannot open hotspot table ({exc.strerror}); check annotation.hotspots"])
    with fh:
        lines = [(n, ln.rstrip("\r\n")) for n, ln in enumerate(fh, start=1)]
    lines = [(n, ln) for n, ln in lines if ln.strip() and not ln.startswith("##")]
    if not lines:
        raise InputError([f"{path}: empty file; expected a TSV header {', '.join(HOTSPOT_COLUMNS)}"], header=hdr)
    hline, header = lines[0]
    cols = header.lstrip("#").split("\t")
    missing = [c for c in HOTSPOT_COLUMNS if c not in cols]
    if missing:
        raise InputError([f"{path}:{hline}: header lacks column(s) {', '.join(missing)}; the header must be "
                          f"tab-separated and name {', '.join(HOTSPOT_COLUMNS)} (extra columns allowed)"], header=hdr)
    problems, records, seen = [], [], {}
    for n, ln in lines[1:]:
        where = f"{path}:{n}"
        vals = ln.split("\t")
        if len(vals) != len(cols):
            problems.append(f"{where}: {len(vals)} field(s), header has {len(cols)}; separate every field by one tab")
            continue
        rec = dict(zip(cols, (v.strip() for v in vals)))
        bad = []
        for c in ("gene", "chrom"):
            if not rec[c]:
                bad.append(f"{c} is empty")
        try:
            codon = int(rec["codon"])
            if codon < 1:
                raise ValueError
        except ValueError:
            bad.append(f"codon {rec['codon']!r} must be a positive integer (the codon number, e.g. 12)")
            codon = None
        if rec["ref_aa"] not in AMINO_ACIDS:
            bad.append(f"ref_aa {rec['ref_aa']!r} must be one upper-case one-letter amino acid "
                       f"({''.join(sorted(AMINO_ACIDS))}), e.g. G for KRAS G12")
        if rec["strand"] not in ("+", "-"):
            bad.append(f"strand {rec['strand']!r} must be '+' or '-' (the gene's coding strand)")
        pos = []
        for c in ("pos1", "pos2", "pos3"):
            try:
                p = int(rec[c])
                if p < 1:
                    raise ValueError
                pos.append(p)
            except ValueError:
                bad.append(f"{c} {rec[c]!r} must be a positive integer (1-based genomic position)")
        if len(pos) == 3 and rec["strand"] in ("+", "-"):
            step = 1 if rec["strand"] == "+" else -1
            split = rec.get("spans_splice", "").lower() in ("yes", "true", "1")
            d1, d2 = pos[1] - pos[0], pos[2] - pos[1]
            if split:
                if d1 * step <= 0 or d2 * step <= 0:
                    bad.append(f"pos1..pos3 {pos} must run in the direction of strand {rec['strand']} "
                               f"({'ascending' if step > 0 else 'descending'})")
            elif d1 != step or d2 != step:
                bad.append(f"pos1..pos3 {pos} must be consecutive in the strand's direction: on strand "
                           f"{rec['strand']} pos2 = pos1 {'+' if step > 0 else '-'} 1 and pos3 = pos2 "
                           f"{'+' if step > 0 else '-'} 1 (for a codon split by an intron add a column "
                           f"spans_splice = yes)")
        if codon is not None and rec["gene"]:
            key = (rec["gene"], codon)
            if key in seen:
                bad.append(f"{rec['gene']} codon {codon} already listed on line {seen[key]}; list each codon once")
            else:
                seen[key] = n
        if bad:
            problems += [f"{where}: {b}" for b in bad]
            continue
        rec["codon"], rec["pos1"], rec["pos2"], rec["pos3"] = codon, *pos
        rec["_line"] = n
        records.append(rec)
    if problems:
        raise InputError(problems, header=hdr)
    if not records:
        raise InputError([f"{path}: header only, no hotspot rows"], header=hdr)
    df = pd.DataFrame.from_records(records)
    extra = [c for c in cols if c not in HOTSPOT_COLUMNS]
    df = df[HOTSPOT_COLUMNS + extra + ["_line"]]
    for c in ("codon", "pos1", "pos2", "pos3", "_line"):
        df[c] = df[c].astype("int64")
    df.attrs["path"] = str(path)
    return df


def _row_where(row, df) -> str:
    path = df.attrs.get("path")
    line = row.get("_line") if hasattr(row, "get") else None
    return f"{path}:{line}: " if path and line is not None else ""


def _contig_hint(chrom, references) -> str:
    refs = set(references)
    alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
    if alt in refs:
        return (f"; the FASTA names it '{alt}' (chr-prefix mismatch): use a hotspot table with the same contig "
                f"naming as the reference (UCSC 'chr1' vs Ensembl/NCBI '1')")
    if chrom in ("chrM", "MT") and ({"chrM", "MT"} & refs):
        return f"; the FASTA names the mitochondrial contig {sorted({'chrM', 'MT'} & refs)[0]}"
    return "; is the FASTA the same genome build as the hotspot table (annotation.hotspots / reference.build)?"


def contig_alias(chrom: str, references):
    """The name ``chrom`` has among ``references``: itself, or its 'chr'-prefixed / unprefixed form
    (chrM <-> MT too); None when neither exists."""
    refs = set(references)
    if chrom in refs:
        return chrom
    if chrom in ("chrM", "MT"):
        other = "MT" if chrom == "chrM" else "chrM"
        return other if other in refs else None
    alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
    return alt if alt in refs else None


def harmonize_chroms(df: pd.DataFrame, references, column: str = "chrom") -> pd.DataFrame:
    """Copy of ``df`` with ``column`` renamed to the reference's naming where only the 'chr' prefix differs.

    Names with no counterpart are left as they are, so a later check still reports them.
    """
    out = df.copy()
    out[column] = [contig_alias(str(c), references) or c for c in out[column]]
    return out


def match_contigs(transcripts: dict, references) -> dict:
    """Copy of ``{gene: Transcript}`` with each contig named as in ``references`` where only the 'chr' prefix
    differs (bundled GRCh37 '7' vs a UCSC hg19 'chr7' reference); others are left as they are."""
    import dataclasses

    return {g: dataclasses.replace(t, chrom=contig_alias(t.chrom, references) or t.chrom) for g, t in transcripts.items()}


def check_hotspots_against_fasta(hotspots_df: pd.DataFrame, fasta_path, partial_ok: bool = False) -> list:
    """Problems (empty list = all good): each codon's reference bases must translate to ``ref_aa``.

    Bases are read at pos1, pos2, pos3 (1-based) and complemented on the '-' strand, so the string is
    the codon 5'->3' on the coding strand. With ``partial_ok`` a codon on a contig the FASTA lacks, or on N
    bases (a reference holding only some chromosomes, an N-padded slice), is no problem: the hotspot stage
    reports it not_evaluable. At least one codon must then be checkable (else the naming/build is wrong).
    """
    import pysam

    problems, checked = [], 0
    try:
        fa = pysam.FastaFile(str(fasta_path))
    except (OSError, ValueError) as exc:
        return [f"{fasta_path}: cannot open FASTA ({exc}); it needs a .fai index beside it (samtools faidx), and a "
                f".gzi too when bgzip-compressed"]
    with fa:
        lengths = dict(zip(fa.references, fa.lengths))
        for _, row in hotspots_df.iterrows():
            where = _row_where(row, hotspots_df)
            label = f"{row['gene']} codon {row['codon']} ({row['ref_aa']}{row['codon']})"
            chrom = str(row["chrom"])
            if chrom not in lengths:
                if not partial_ok:
                    problems.append(f"{where}{label}: contig '{chrom}' is not in FASTA {fasta_path}"
                                    f"{_contig_hint(chrom, lengths)}")
                continue
            pos = [int(row[c]) for c in ("pos1", "pos2", "pos3")]
            if max(pos) > lengths[chrom]:
                problems.append(f"{where}{label}: position {max(pos)} beyond the end of {chrom} "
                                f"({lengths[chrom]} bp); wrong genome build?")
                continue
            bases = "".join(fa.fetch(chrom, p - 1, p) for p in pos).upper()
            if partial_ok and "N" in bases:
                continue
            checked += 1
            if row["strand"] == "-":
                bases = complement(bases)
            aa = translate_codon(bases)
            if aa != row["ref_aa"]:
                problems.append(
                    f"{where}{label}: reference codon at {chrom}:{pos[0]},{pos[1]},{pos[2]} (strand {row['strand']}) "
                    f"is {bases} = {aa}, expected {row['ref_aa']}; wrong genome build, wrong strand or shifted "
                    f"positions in the hotspot table")
    if partial_ok and not checked and len(hotspots_df):
        problems.append(f"no codon of the hotspot table lies on sequence of FASTA {fasta_path} (contigs absent or N): "
                        f"wrong contig naming or genome build? (FASTA contigs: {', '.join(list(lengths)[:5])}...)")
    return problems


def check_hotspots_against_transcripts(hotspots_df: pd.DataFrame, transcripts: dict) -> list:
    """Problems: each hotspot's pos1..pos3 must equal the transcript CDS's c.(3k-2..3k) positions.

    Genes without a transcript or without a CDS in the model are reported as not checkable.
    """
    problems = []
    for _, row in hotspots_df.iterrows():
        where = _row_where(row, hotspots_df)
        gene, codon = row["gene"], int(row["codon"])
        label = f"{gene} codon {codon}"
        tx = transcripts.get(gene)
        if tx is None:
            problems.append(f"{where}{label}: gene not in the transcript BED12; cannot check")
            continue
        if not tx.has_cds:
            problems.append(f"{where}{label}: transcript {tx.transcript_id or gene} has no CDS (thickStart = "
                            f"thickEnd); cannot check")
            continue
        if tx.chrom != row["chrom"] or tx.strand != row["strand"]:
            problems.append(f"{where}{label}: table says {row['chrom']} {row['strand']}, transcript "
                            f"{tx.transcript_id} is on {tx.chrom} {tx.strand}")
            continue
        try:
            want = tx.codon_positions(codon)
        except ValueError as exc:
            problems.append(f"{where}{label}: {exc}")
            continue
        have = (int(row["pos1"]), int(row["pos2"]), int(row["pos3"]))
        if want != have:
            problems.append(f"{where}{label}: table pos1..pos3 {have} but transcript {tx.transcript_id} CDS gives "
                            f"{want}")
    return problems


# ---------------------------------------------------------------------------------------------
# domains and gene spans
# ---------------------------------------------------------------------------------------------

DOMAIN_COLUMNS = ["chrom", "start", "end", "gene", "domain", "strand"]


def _read_bed6(path, kind, parse_name):
    path = Path(path)
    try:
        fh = _open_text(path)
    except OSError as exc:
        raise InputError([f"{path}: cannot open {kind} BED ({exc.strerror})"])
    problems, rows = [], []
    with fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            where = f"{path}:{n}"
            cols = line.split("\t")
            if len(cols) < 4:
                problems.append(f"{where}: {len(cols)} column(s); need tab-separated chrom, start, end, name "
                                f"(+ score, strand)")
                continue
            try:
                s, e = int(cols[1]), int(cols[2])
            except ValueError:
                problems.append(f"{where}: start/end {cols[1]!r}/{cols[2]!r} must be integers (0-based BED)")
                continue
            if not 0 <= s < e:
                problems.append(f"{where}: need 0 <= start < end, got {s}-{e}")
                continue
            strand = cols[5] if len(cols) > 5 else "."
            if strand not in ("+", "-", "."):
                problems.append(f"{where}: strand {strand!r} must be '+', '-' or '.'")
                continue
            parsed = parse_name(cols[3])
            if isinstance(parsed, str):
                problems.append(f"{where}: {parsed}")
                continue
            rows.append((cols[0], s, e, *parsed, strand))
    if problems:
        raise InputError(problems, header=f"{kind.capitalize()} BED {path} is malformed")
    return rows


def _domain_name(name):
    gene, sep, dom = name.partition(":")
    if not sep or not gene or not dom:
        return f"name {name!r} must be GENE:DOMAIN, e.g. NRG1:EGF_like"
    return (gene, dom)


def read_domains(path) -> pd.DataFrame:
    """BED6 of protein-domain intervals on the genome (name GENE:DOMAIN) -> DataFrame.

    Columns: chrom, start, end (0-based half-open), gene, domain, strand. A domain encoded by several
    exons has one line per exon segment, all with the same name.
    """
    rows = _read_bed6(path, "domain", _domain_name)
    return pd.DataFrame(rows, columns=DOMAIN_COLUMNS)


def read_genes(path) -> pd.DataFrame:
    """BED (chrom, start, end, gene[, score, strand]) of gene spans -> DataFrame chrom, start, end, gene, strand."""
    rows = _read_bed6(path, "gene", lambda name: (name,) if name else "empty gene name")
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "gene", "strand"])


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen check-hotspots",
        description="Check a hotspot table (TSV: gene, codon, ref_aa, chrom, strand, pos1, pos2, pos3) against a "
                    "reference FASTA: every codon must translate to its ref_aa. With --transcripts, also check the "
                    "positions against the transcript CDS.")
    ap.add_argument("--hotspots", required=True, help="hotspot TSV (e.g. resources/GRCh38/hotspots.tsv)")
    ap.add_argument("--fasta", required=True, help="reference FASTA with .fai (plain or bgzip + .gzi)")
    ap.add_argument("--transcripts", help="optional BED12 of canonical transcripts with CDS (thickStart/thickEnd)")
    args = ap.parse_args(argv)
    try:
        df = read_hotspots(args.hotspots)
        tx = read_transcripts(args.transcripts) if args.transcripts else None
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = check_hotspots_against_fasta(df, args.fasta)
    if tx is not None:
        problems += check_hotspots_against_transcripts(df, tx)
    if problems:
        print(f"Hotspot table {args.hotspots}: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    checked = "reference FASTA" + (" and transcript CDS" if tx is not None else "")
    print(f"{args.hotspots}: all {len(df)} codons agree with the {checked} ({args.fasta})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
