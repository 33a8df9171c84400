"""Small synthetic reference + BAM builder for the hotspot unit tests (SYNTHETIC data, built with pysam).

The reference has two random contigs with planted codons:
  KRAS-like '-' strand: codon 12 = GGT at chr12:1502,1501,1500; codon 13 = GGC at chr12:1499,1498,1497
  PIK3CA-like '+' strand: codon 1047 = CAT at chr3:1500,1501,1502
Reads are 100 bp, base quality 30 unless stated, MAPQ 60, paired (read1 forward, read2 reverse).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pysam

from erbbscreen.annotation import complement

READ_LEN = 100
KRAS12 = (1502, 1501, 1500)
KRAS13 = (1499, 1498, 1497)
PIK3CA1047 = (1500, 1501, 1502)
HOTSPOTS_TSV = ("gene\tcodon\tref_aa\tchrom\tstrand\tpos1\tpos2\tpos3\n"
                "KRAS\t12\tG\t{c12}\t-\t1502\t1501\t1500\n"
                "KRAS\t13\tG\t{c12}\t-\t1499\t1498\t1497\n"
                "PIK3CA\t1047\tH\t{c3}\t+\t1500\t1501\t1502\n")


def make_reference(d, seed=1, prefix="chr"):
    """FASTA (+.fai) and hotspot table in directory ``d``; returns (fasta, hotspots, {contig: seq})."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    seqs = {f"{prefix}12": [rng.choice("ACGT") for _ in range(3000)],
            f"{prefix}3": [rng.choice("ACGT") for _ in range(3000)]}

    def plant(name, positions, coding, strand):
        for p, b in zip(positions, coding):
            seqs[name][p - 1] = b if strand == "+" else complement(b)

    plant(f"{prefix}12", KRAS12, "GGT", "-")
    plant(f"{prefix}12", KRAS13, "GGC", "-")
    plant(f"{prefix}3", PIK3CA1047, "CAT", "+")
    fa = d / "ref.fa"
    with open(fa, "w") as fh:
        for n, s in seqs.items():
            s = "".join(s)
            fh.write(f">{n}\n" + "".join(s[i:i + 60] + "\n" for i in range(0, len(s), 60)))
    pysam.faidx(str(fa))
    hs = d / "hotspots.tsv"
    hs.write_text(HOTSPOTS_TSV.format(c12=f"{prefix}12", c3=f"{prefix}3"))
    return fa, hs, {n: "".join(s) for n, s in seqs.items()}


def coding_subs(positions, strand, alt_coding: str, ref_coding: str) -> dict:
    """{1-based genomic position: genomic base} turning ref_coding into alt_coding."""
    out = {}
    for p, a, r in zip(positions, alt_coding, ref_coding):
        if a != r:
            out[p] = a if strand == "+" else complement(a)
    return out


@dataclass
class Frag:
    contig: str
    start: int                      # 0-based start of read1
    insert: int                     # fragment length (read2 ends at start + insert)
    subs: dict = field(default_factory=dict)       # 1-based pos -> base, both mates
    subs_r2: dict | None = None     # 1-based pos -> base for read2 only (None = same as subs)
    dup: bool = False
    mapq: int = 60
    lowq: dict = field(default_factory=dict)       # 1-based pos -> base quality (both mates)
    single_end: bool = False
    secondary: bool = False
    qcfail: bool = False
    deletion: int | None = None     # 1-based reference position deleted in both mates


def covering_starts(span, insert, overlap: bool):
    """Range of read1 starts so that read1 (and read2 when ``overlap``) cover the 1-based span."""
    lo0, hi0 = min(span) - 1, max(span) - 1
    if overlap:
        return range(hi0 - READ_LEN + 1, lo0 - insert + READ_LEN + 1)
    return range(hi0 - READ_LEN + 1, lo0 + 1)


def fragments(n, contig, span, rng, overlap=True, subs=None, **kw):
    """``n`` fragments covering ``span`` with reads from both mates (overlap) or read1 only (insert 400)."""
    out = []
    for _ in range(n):
        insert = rng.randint(130, 180) if overlap else 400
        start = rng.choice(covering_starts(span, insert, overlap))
        out.append(Frag(contig, start, insert, dict(subs or {}), **kw))
    return out


def _read(name, contig_id, start, seq, quals, flag, mapq, mate_start, tlen, cigar=None):
    a = pysam.AlignedSegment()
    a.query_name = name
    a.query_sequence = seq
    a.flag = flag
    a.reference_id = contig_id
    a.reference_start = start
    a.mapping_quality = mapq
    a.cigarstring = cigar or f"{len(seq)}M"
    a.next_reference_id = contig_id if mate_start is not None else -1
    a.next_reference_start = mate_start if mate_start is not None else -1
    a.template_length = tlen
    a.query_qualities = pysam.qualitystring_to_array("".join(chr(q + 33) for q in quals))
    a.set_tag("RG", "rg1")
    return a


def write_bam(path, seqs: dict, frags, error_rate=0.0, seed=7, sample="S1", extra_reads=()):
    """Write a sorted, indexed BAM of ``frags`` (+ ``extra_reads`` AlignedSegment factories).

    ``error_rate``: independent per-base substitution errors in every read (quality stays 30).
    """
    rng = random.Random(seed)
    path = Path(path)
    names = list(seqs)
    header = {"HD": {"VN": "1.6", "SO": "unsorted"},
              "SQ": [{"SN": n, "LN": len(seqs[n])} for n in names],
              "RG": [{"ID": "rg1", "SM": sample}]}
    tmp = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(tmp), "wb", header=header) as out:
        for i, f in enumerate(frags):
            cid = names.index(f.contig)
            ref = seqs[f.contig]
            r2_start = f.start + f.insert - READ_LEN

            def build(s, subs):
                if f.deletion is not None and s <= f.deletion - 1 < s + READ_LEN - 1:
                    d = f.deletion - 1
                    cig = f"{d - s}M1D{READ_LEN - (d - s)}M"
                    bases = list(ref[s:d] + ref[d + 1:s + READ_LEN + 1])
                else:
                    cig = None
                    bases = list(ref[s:s + READ_LEN])
                quals = [30] * READ_LEN
                for p, b in subs.items():
                    if s <= p - 1 < s + READ_LEN:
                        bases[p - 1 - s] = b
                for p, q in f.lowq.items():
                    if s <= p - 1 < s + READ_LEN:
                        quals[p - 1 - s] = q
                if error_rate:
                    for j in range(READ_LEN):
                        if rng.random() < error_rate:
                            bases[j] = rng.choice([b for b in "ACGT" if b != bases[j]])
                return "".join(bases), quals, cig

            extra = (0x400 if f.dup else 0) | (0x100 if f.secondary else 0) | (0x200 if f.qcfail else 0)
            name = f"frag{i}"
            if f.single_end:
                seq, q, cig = build(f.start, f.subs)
                out.write(_read(name, cid, f.start, seq, q, extra, f.mapq, None, 0, cig))
                continue
            seq1, q1, c1 = build(f.start, f.subs)
            seq2, q2, c2 = build(r2_start, f.subs if f.subs_r2 is None else f.subs_r2)
            out.write(_read(name, cid, f.start, seq1, q1, 1 | 2 | 32 | 64 | extra, f.mapq, r2_start, f.insert, c1))
            out.write(_read(name, cid, r2_start, seq2, q2, 1 | 2 | 16 | 128 | extra, f.mapq, f.start, -f.insert, c2))
        for make in extra_reads:
            out.write(make(out.header))
    pysam.sort("-o", str(path), str(tmp))
    tmp.unlink()
    pysam.index(str(path))
    return path
