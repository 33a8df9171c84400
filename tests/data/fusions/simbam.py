"""Tiny read simulator for the fusion tests: builds BAMs from known molecules with pysam (no aligner).

A *molecule* is a list of genome segments ``(chrom, start, end, strand)`` joined 5'->3'; a normal chromosome is one
'+' segment, a fusion is two. Fragments are cut from a molecule at chosen offsets; each read is "aligned" from the
truth: a read inside one segment becomes a plain alignment; a read crossing a junction becomes a primary alignment of
its longer part with a soft clip plus, when the shorter part is >= ``min_supplementary`` bases, a supplementary
alignment (hard-clipped) and SA tags on both, the way bwa mem reports chimeric reads. Shorter parts stay soft clips
without SA (bwa cannot place them), which is what the soft-clip rescue must handle.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pysam

_COMP = str.maketrans("ACGTN", "TGCAN")


def revcomp(s: str) -> str:
    return s.translate(_COMP)[::-1]


def random_genome(sizes: dict, seed: int = 7) -> dict:
    rng = random.Random(seed)
    return {c: "".join(rng.choice("ACGT") for _ in range(n)) for c, n in sizes.items()}


def write_fasta(genome: dict, path) -> Path:
    path = Path(path)
    with open(path, "w") as fh:
        for c, seq in genome.items():
            fh.write(f">{c}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i:i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def bed12_line(gene, chrom, strand, exons, cds=None, tid=None) -> str:
    """exons: list of (start, end) 0-based, any order."""
    exons = sorted(exons)
    start, end = exons[0][0], exons[-1][1]
    cs, ce = cds if cds else (start, start)
    sizes = ",".join(str(e - s) for s, e in exons) + ","
    starts = ",".join(str(s - start) for s, _ in exons) + ","
    return "\t".join(str(x) for x in (chrom, start, end, gene, 0, strand, cs, ce, 0, len(exons), sizes, starts,
                                       tid or f"T_{gene}"))


@dataclass
class Part:
    chrom: str
    gstart: int
    gend: int
    reverse: bool
    qs: int          # aligned interval in the read as sequenced
    qe: int


class SimBam:
    def __init__(self, genome: dict, seed: int = 11, read_len: int = 100, min_supplementary: int = 20):
        self.genome = genome
        self.rng = random.Random(seed)
        self.read_len = read_len
        self.min_supp = min_supplementary
        self.header = pysam.AlignmentHeader.from_dict(
            {"HD": {"VN": "1.6", "SO": "coordinate"},
             "SQ": [{"SN": c, "LN": len(s)} for c, s in genome.items()],
             "RG": [{"ID": "sim", "SM": "sim"}]})
        self.records = []
        self.n = 0

    # -- molecules ------------------------------------------------------------------------------
    def molecule_seq(self, segments) -> str:
        out = []
        for chrom, s, e, strand in segments:
            seq = self.genome[chrom][s:e]
            out.append(seq if strand == "+" else revcomp(seq))
        return "".join(out)

    def _parts(self, segments, a, b, rev_on_mol):
        parts, off = [], 0
        for chrom, s, e, strand in segments:
            lo, hi = max(a, off), min(b, off + (e - s))
            if lo < hi:
                if strand == "+":
                    gs, ge = s + (lo - off), s + (hi - off)
                else:
                    gs, ge = e - (hi - off), e - (lo - off)
                qs, qe = (lo - a, hi - a) if not rev_on_mol else (b - hi, b - lo)
                parts.append(Part(chrom, gs, ge, rev_on_mol != (strand == "-"), qs, qe))
            off += e - s
        return parts

    # -- records --------------------------------------------------------------------------------
    @staticmethod
    def _cigar(part: Part, n: int, clip_op: str) -> str:
        lead, trail = (part.qs, n - part.qe) if not part.reverse else (n - part.qe, part.qs)
        c = ""
        if lead:
            c += f"{lead}{clip_op}"
        c += f"{part.gend - part.gstart}M"
        if trail:
            c += f"{trail}{clip_op}"
        return c

    def add_fragment(self, segments, start: int, length: int, name: str | None = None, duplicate_of: str | None = None,
                     dup_flag: bool = True, mapq: int = 60, supp_mapq: int = 60, swap: bool = False):
        """Add a read pair for molecule[start:start+length); returns the fragment name."""
        mol = self.molecule_seq(segments)
        rl = self.read_len
        if name is None:
            self.n += 1
            name = f"frag{self.n:06d}"
        reads = [(start, start + rl, False), (start + length - rl, start + length, True)]
        if swap:
            reads = reads[::-1]
        aligned = []
        for a, b, rev in reads:
            seq = mol[a:b] if not rev else revcomp(mol[a:b])
            parts = self._parts(segments, a, b, rev)
            parts.sort(key=lambda p: -(p.qe - p.qs))
            aligned.append((seq, parts))
        prim = [p[1][0] for p in aligned]
        for i, (seq, parts) in enumerate(aligned):
            mate_p = prim[1 - i]
            n = len(seq)
            primary = parts[0]
            supp = [p for p in parts[1:] if p.qe - p.qs >= self.min_supp]
            sa_entries = {id(p): f"{p.chrom},{p.gstart + 1},{'-' if p.reverse else '+'},{self._cigar(p, n, 'S')},"
                                 f"{supp_mapq if p is not primary else mapq},0" for p in [primary] + supp}
            mate_cigar = self._cigar(mate_p, n, "S")
            for k, p in enumerate([primary] + supp):
                r = pysam.AlignedSegment(self.header)
                r.query_name = name
                is_supp = k > 0
                flag = 1 | (64 if i == 0 else 128)
                if p.reverse:
                    flag |= 16
                if mate_p.reverse:
                    flag |= 32
                if is_supp:
                    flag |= 2048
                if duplicate_of is not None and dup_flag:
                    flag |= 1024
                same = primary.chrom == mate_p.chrom and abs(primary.gstart - mate_p.gstart) < 1000
                if same and all(len(x[1]) == 1 for x in aligned) and primary.reverse != mate_p.reverse:
                    flag |= 2
                r.flag = flag
                r.reference_name = p.chrom
                r.reference_start = p.gstart
                r.mapping_quality = mapq if not is_supp else supp_mapq
                gseq = seq if not p.reverse else revcomp(seq)
                if is_supp:
                    lead = p.qs if not p.reverse else n - p.qe
                    r.cigarstring = self._cigar(p, n, "H")
                    r.query_sequence = gseq[lead:lead + (p.gend - p.gstart)]
                    r.query_qualities = pysam.qualitystring_to_array("I" * (p.gend - p.gstart))
                else:
                    r.cigarstring = self._cigar(p, n, "S")
                    r.query_sequence = gseq
                    r.query_qualities = pysam.qualitystring_to_array("I" * n)
                r.next_reference_name = mate_p.chrom
                r.next_reference_start = mate_p.gstart
                if p.chrom == mate_p.chrom and not is_supp:
                    left = min(p.gstart, mate_p.gstart)
                    right = max(p.gend, mate_p.gend)
                    r.template_length = (right - left) * (1 if p.gstart <= mate_p.gstart else -1)
                tags = [("MC", mate_cigar), ("MQ", mapq), ("NM", 0), ("RG", "sim")]
                others = [sa_entries[id(q)] for q in [primary] + supp if q is not p]
                if others:
                    tags.append(("SA", ";".join(others) + ";"))
                r.set_tags(tags)
                self.records.append(r)
        return name

    def add_fragments_across(self, segments, junction: int, offsets, length: int = 300, **kw):
        """Fragments whose start is ``junction - offset`` for each offset (offset in (0, length))."""
        return [self.add_fragment(segments, junction - o, length, **kw) for o in offsets]

    def background(self, chrom: str, start: int, end: int, depth: float, length: int = 300, mapq: int = 60,
                   dup_fraction: float = 0.0):
        """Normal read pairs over chrom:start-end at about ``depth`` x (reads of read_len)."""
        seg = [(chrom, 0, len(self.genome[chrom]), "+")]
        n_frag = int(depth * (end - start) / (2 * self.read_len))
        for _ in range(n_frag):
            s = self.rng.randint(max(0, start - length // 2), min(len(self.genome[chrom]) - length, end - length // 2))
            name = self.add_fragment(seg, s, length, mapq=mapq, swap=self.rng.random() < 0.5)
            if dup_fraction and self.rng.random() < dup_fraction:
                self.add_fragment(seg, s, length, name=name + "_dup", duplicate_of=name)

    def write(self, path) -> Path:
        path = Path(path)
        self.records.sort(key=lambda r: (r.reference_id, r.reference_start))
        with pysam.AlignmentFile(str(path), "wb", header=self.header) as out:
            for r in self.records:
                out.write(r)
        pysam.index(str(path))
        return path
