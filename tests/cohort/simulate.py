"""Read simulation for the SYNTHETIC erbb-screen test cohort (numpy-vectorised).

Everything produced here is synthetic: a random-sequence genome carrying real gene structures, and simulated
paired-end reads from mixtures of a normal diploid genome and a tumour genome. The pieces:

- sequences: ``random_sequence`` (GC varying by block), codes 0..3 = A,C,G,T and 4 = N;
- gene models: ``Transcript`` (exons, strand, CDS) with c. <-> genome mapping, intron shrinking, codon helpers;
- capture: ``capture_weights`` (per-base weight of a fragment midpoint: off-target floor + a Gaussian kernel around
  every target, scaled by the target's efficiency);
- fragments: ``fragment_lengths`` (tissue normal / cfDNA mono- and di-nucleosome mixture), ``sample_midpoints``;
- haplotypes: ``HapSet`` (weighted haplotypes with piecewise-constant copy-number profiles and own sequences);
- reads: ``add_duplicates``, ``make_reads`` (sequence gather, strand, per-cycle Phred bins and errors, Ns) and
  ``fastq_interleaved`` (bytes for ``bwa mem -p``).

All randomness comes from a ``numpy.random.Generator`` passed in, so a fixed seed gives identical output.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

BASES = np.frombuffer(b"ACGTN", dtype=np.uint8)
_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
    _CODE[ord(chr(_b).lower())] = _i
COMP = np.array([3, 2, 1, 0, 4], dtype=np.uint8)

CODON_TABLE = {
    a + b + c: aa
    for (a, b, c), aa in zip(
        ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
    )
}


def encode(seq: str | bytes) -> np.ndarray:
    """ASCII bases -> codes 0..4."""
    if isinstance(seq, str):
        seq = seq.encode()
    return _CODE[np.frombuffer(seq, dtype=np.uint8)]


def decode(codes: np.ndarray) -> str:
    return BASES[np.asarray(codes, dtype=np.uint8)].tobytes().decode()


def revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGTNacgtn", "TGCANtgcan"))


def translate(codon: str) -> str:
    return CODON_TABLE.get(codon.upper(), "X")


# ----------------------------------------------------------------------------------------------------------------
# sequence

def random_sequence(rng: np.random.Generator, length: int, gc_min: float = 0.36, gc_max: float = 0.50,
                    block: int = 10000) -> np.ndarray:
    """Random bases (codes 0..3) whose GC fraction is drawn uniformly in [gc_min, gc_max] per block."""
    nblock = -(-length // block)
    gc = rng.uniform(gc_min, gc_max, nblock)
    p_gc = np.repeat(gc, block)[:length]
    u = rng.random(length)
    v = rng.random(length)
    is_gc = u < p_gc
    # GC -> C(1)/G(2); AT -> A(0)/T(3)
    return np.where(is_gc, np.where(v < 0.5, 1, 2), np.where(v < 0.5, 0, 3)).astype(np.uint8)


def gc_fraction(codes: np.ndarray) -> float:
    codes = codes[codes < 4]
    return float(np.isin(codes, (1, 2)).mean()) if codes.size else 0.0


# ----------------------------------------------------------------------------------------------------------------
# gene models

@dataclasses.dataclass
class Transcript:
    """One transcript. ``exons`` are (start, end) 0-based half-open in ascending genomic order; exon numbers follow
    the transcript (exon 1 = 5' end). ``cds_tx_start`` = 0-based offset of c.1 in the spliced transcript."""
    gene: str
    transcript_id: str
    chrom: str
    strand: str
    exons: list[tuple[int, int]]
    cds_tx_start: int | None = None
    cds_len: int | None = None

    @property
    def tx_exons(self) -> list[tuple[int, int]]:
        """Exons in transcript order (5' -> 3')."""
        return list(self.exons) if self.strand == "+" else list(reversed(self.exons))

    @property
    def exon_lengths(self) -> list[int]:
        return [e - s for s, e in self.tx_exons]

    @property
    def tx_length(self) -> int:
        return sum(self.exon_lengths)

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    def tx_to_genome(self, off: int) -> int:
        """0-based transcript offset -> 0-based genomic position."""
        if off < 0:
            raise ValueError("negative transcript offset")
        for s, e in self.tx_exons:
            n = e - s
            if off < n:
                return s + off if self.strand == "+" else e - 1 - off
            off -= n
        raise ValueError("offset beyond the transcript")

    def genome_to_tx(self, pos: int) -> int | None:
        """0-based genomic position -> 0-based transcript offset (None if intronic/outside)."""
        off = 0
        for s, e in self.tx_exons:
            if s <= pos < e:
                return off + (pos - s if self.strand == "+" else e - 1 - pos)
            off += e - s
        return None

    def c_to_genome(self, c: int) -> int:
        """c. position (1-based, CDS) -> 0-based genomic position."""
        return self.tx_to_genome(self.cds_tx_start + c - 1)

    def codon_positions(self, codon: int) -> list[int]:
        """0-based genomic positions of the codon's 1st, 2nd, 3rd coding base."""
        return [self.c_to_genome(3 * (codon - 1) + k) for k in (1, 2, 3)]

    @property
    def cds_genomic(self) -> tuple[int, int]:
        """(thickStart, thickEnd) 0-based half-open."""
        a = self.tx_to_genome(self.cds_tx_start)
        b = self.tx_to_genome(self.cds_tx_start + self.cds_len - 1)
        return (min(a, b), max(a, b) + 1)

    def introns_tx(self) -> list[tuple[int, int]]:
        """Introns in transcript order (intron k between exon k and k+1), genomic half-open."""
        ex = self.tx_exons
        out = []
        for (s1, e1), (s2, e2) in zip(ex[:-1], ex[1:]):
            out.append((e1, s2) if self.strand == "+" else (e2, s1))
        return out

    def exon_coding_ranges(self) -> list[tuple[int, int] | None]:
        """Per transcript-order exon: the CDS offsets (c.-1 based, half-open) it contains, or None."""
        out = []
        off = 0
        a, b = self.cds_tx_start, self.cds_tx_start + self.cds_len
        for n in self.exon_lengths:
            lo, hi = max(off, a), min(off + n, b)
            out.append((lo - a, hi - a) if lo < hi else None)
            off += n
        return out

    def exon_phase_after(self, exon_number: int) -> int:
        """Coding bases up to the end of exon `exon_number`, mod 3 (the frame a fusion junction leaves)."""
        rng = self.exon_coding_ranges()[exon_number - 1]
        if rng is None:
            raise ValueError("exon is not coding")
        return rng[1] % 3

    def exon_phase_before(self, exon_number: int) -> int:
        """Coding bases before the start of exon `exon_number`, mod 3."""
        rng = self.exon_coding_ranges()[exon_number - 1]
        if rng is None:
            raise ValueError("exon is not coding")
        return rng[0] % 3


def shrink_layout(tx: Transcript, intron_cap: int, new_start: int, new_chrom: str) -> Transcript:
    """Same exons (lengths, order, strand) placed at new_start with every intron shortened to <= intron_cap."""
    exons = []
    pos = new_start
    prev_end = None
    for s, e in tx.exons:
        if prev_end is not None:
            pos += min(s - prev_end, intron_cap)
        exons.append((pos, pos + (e - s)))
        pos += e - s
        prev_end = e
    return dataclasses.replace(tx, chrom=new_chrom, exons=exons)


# ----------------------------------------------------------------------------------------------------------------
# capture

def capture_weights(length: int, targets: Sequence[tuple[int, int, float]], kernel_sd: float,
                    off_rate: float) -> np.ndarray:
    """Per-base weight of a fragment midpoint: off_rate everywhere + eff inside each target, with Gaussian tails
    (sd = kernel_sd) off the target edges. targets: (start, end, efficiency) in the same coordinate system."""
    w = np.full(length, off_rate, dtype=np.float64)
    reach = int(4 * kernel_sd)
    for s, e, eff in targets:
        lo, hi = max(0, s - reach), min(length, e + reach)
        x = np.arange(lo, hi)
        d = np.maximum(np.maximum(s - x, x - (e - 1)), 0)
        w[lo:hi] += eff * np.exp(-0.5 * (d / kernel_sd) ** 2)
    return w


def fragment_lengths(rng: np.random.Generator, n: int, spec: dict) -> np.ndarray:
    """Fragment lengths. spec['model'] 'normal' (tissue, truncated normal) or 'cfdna' (mono-nucleosome peak at
    ~167 bp with a short-fragment shoulder, plus a ~330 bp di-nucleosome peak)."""
    lo, hi = int(spec["min"]), int(spec["max"])
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        m = int((n - out.size) * 1.2) + 16
        if spec["model"] == "normal":
            x = rng.normal(spec["mean"], spec["sd"], m)
        elif spec["model"] == "cfdna":
            u = rng.random(m)
            w_di, w_sh = spec["di_weight"], spec["shoulder_weight"]
            x = np.where(
                u < w_di, rng.normal(spec["di"], spec["di_sd"], m),
                np.where(u < w_di + w_sh, rng.normal(spec["shoulder"], spec["shoulder_sd"], m),
                         rng.normal(spec["mono"], spec["mono_sd"], m)))
        else:
            raise ValueError(f"unknown fragment model {spec['model']!r}")
        x = np.rint(x).astype(np.int64)
        out = np.concatenate([out, x[(x >= lo) & (x <= hi)]])
    return out[:n]


def sample_midpoints(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """n positions drawn with probability proportional to weights (float array)."""
    cs = np.cumsum(weights, dtype=np.float64)
    u = rng.random(n) * cs[-1]
    return np.searchsorted(cs, u, side="right").astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# haplotypes and copy number

class Profile:
    """Piecewise-constant function over [0, length): value `default` except on set intervals (later wins)."""

    def __init__(self, length: int, default: float = 1.0):
        self.length = length
        self.default = float(default)
        self.segments: list[tuple[int, int, float]] = []

    def set(self, start: int, end: int, value: float) -> "Profile":
        self.segments.append((int(start), int(end), float(value)))
        return self

    def to_array(self) -> np.ndarray:
        a = np.full(self.length, self.default, dtype=np.float64)
        for s, e, v in self.segments:
            a[s:e] = v
        return a

    def at(self, pos: np.ndarray) -> np.ndarray:
        out = np.full(pos.shape, self.default, dtype=np.float64)
        for s, e, v in self.segments:
            out[(pos >= s) & (pos < e)] = v
        return out


@dataclasses.dataclass
class Haplotype:
    name: str
    weight: float            # DNA share per copy (cell fraction of the component it belongs to)
    cn: Profile              # copies of this haplotype along the (extended) genome
    variants: dict[int, int]  # position -> base code


class HapSet:
    """Weighted haplotypes sharing one reference; each gets its own sequence with its variants applied."""

    def __init__(self, ref: np.ndarray, haps: list[Haplotype]):
        self.ref = ref
        self.haps = [h for h in haps if h.weight > 0]
        self.seqs = np.empty((len(self.haps), ref.size), dtype=np.uint8)
        for i, h in enumerate(self.haps):
            self.seqs[i] = ref
            if h.variants:
                pos = np.fromiter(h.variants.keys(), dtype=np.int64)
                self.seqs[i, pos] = np.fromiter(h.variants.values(), dtype=np.uint8)

    def mass(self) -> np.ndarray:
        """sum_h weight_h * cn_h(x): the relative amount of DNA at each position."""
        m = np.zeros(self.ref.size, dtype=np.float64)
        for h in self.haps:
            m += h.weight * h.cn.to_array()
        return m

    def assign(self, rng: np.random.Generator, pos: np.ndarray) -> np.ndarray:
        """Haplotype index for fragments with midpoints `pos`, proportional to weight * copies there."""
        w = np.stack([h.weight * h.cn.at(pos) for h in self.haps], axis=1)
        cw = np.cumsum(w, axis=1)
        u = rng.random(pos.size) * cw[:, -1]
        return (u[:, None] >= cw).sum(axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# fragments -> reads

@dataclasses.dataclass
class Fragments:
    start: np.ndarray   # 0-based, in the extended genome coordinate system
    length: np.ndarray
    hap: np.ndarray
    flip: np.ndarray    # True: read 1 is the bottom-strand read
    dup_of: np.ndarray  # -1 for the original molecule, else index of the original

    def __len__(self) -> int:
        return int(self.start.size)

    def take(self, idx: np.ndarray) -> "Fragments":
        return Fragments(self.start[idx], self.length[idx], self.hap[idx], self.flip[idx], self.dup_of[idx])


def drop_crossing(starts: np.ndarray, lengths: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mask of fragments lying inside one segment of the concatenated coordinate system (bounds = segment starts
    plus the total length)."""
    ok = (starts >= 0) & (starts + lengths <= bounds[-1])
    seg_s = np.searchsorted(bounds, starts, side="right")
    seg_e = np.searchsorted(bounds, starts + lengths - 1, side="right")
    return ok & (seg_s == seg_e)


def add_duplicates(rng: np.random.Generator, frags: Fragments, dup_fraction: float) -> Fragments:
    """PCR duplicates: each molecule gets Poisson(d / (1 - d)) extra copies with identical coordinates and strand
    (each copy later gets its own sequencing errors). Output keeps copies next to their original."""
    if dup_fraction <= 0:
        return frags
    lam = dup_fraction / (1.0 - dup_fraction)
    extra = rng.poisson(lam, len(frags))
    idx = np.repeat(np.arange(len(frags)), 1 + extra)
    first = np.ones(idx.size, dtype=bool)
    first[1:] = idx[1:] != idx[:-1]
    out = frags.take(idx)
    out.dup_of = np.where(first, -1, idx)
    return out


def error_model(read_len: int, spec: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cycle cumulative probabilities of the quality bins, the bin Q values and their error probabilities."""
    q = np.array(spec["q_bins"], dtype=np.int64)
    p0 = np.array(spec["p_start"], dtype=np.float64)
    p1 = np.array(spec["p_end"], dtype=np.float64)
    t = (np.arange(read_len) / max(read_len - 1, 1)) ** 1.5
    p = p0[None, :] + (p1 - p0)[None, :] * t[:, None]
    p /= p.sum(axis=1, keepdims=True)
    return np.cumsum(p, axis=1), q, 10.0 ** (-q / 10.0)


def make_reads(rng: np.random.Generator, seqs: np.ndarray, frags: Fragments, read_len: int, err_spec: dict):
    """Read 1 / read 2 base codes and Phred qualities (uint8 arrays, shape (n, read_len)) for the fragments.
    Fragments must be at least read_len long."""
    n = len(frags)
    ar = np.arange(read_len, dtype=np.int64)
    flat = seqs.reshape(-1)
    base = frags.hap * seqs.shape[1]
    top = np.take(flat, (base + frags.start)[:, None] + ar[None, :])
    bot = COMP[np.take(flat, (base + frags.start + frags.length - read_len)[:, None] + ar[None, :])][:, ::-1]
    flip = frags.flip[:, None]
    r1 = np.where(flip, bot, top)
    r2 = np.where(flip, top, bot)
    cum, qv, perr = error_model(read_len, err_spec)
    nb = cum.shape[1]
    lower = np.concatenate([np.zeros((read_len, 1)), cum[:, :-1]], axis=1)
    # a base is wrong when its uniform falls in the first perr fraction of its quality bin's interval
    thr = (lower + (cum - lower) * perr[None, :]).astype(np.float32).reshape(-1)
    cyc_base = (np.arange(read_len, dtype=np.int32) * nb)[None, :]
    bounds = cum[:, :-1].T.astype(np.float32)
    quals = []
    for r in (r1, r2):
        u = rng.random((n, read_len), dtype=np.float32)
        qi = np.zeros((n, read_len), dtype=np.uint8)
        for b in range(nb - 1):
            qi += u >= bounds[b][None, :]
        err = u < np.take(thr, cyc_base + qi)
        k = int(err.sum())
        r[err] = (r[err] + rng.integers(1, 4, size=k, dtype=np.uint8)) % 4
        q = qv.astype(np.uint8)[qi]
        n_n = rng.binomial(n * read_len, err_spec["n_rate"])
        pos = rng.integers(0, n * read_len, n_n)
        r.reshape(-1)[pos] = 4
        q.reshape(-1)[pos] = 2
        quals.append(q)
    return r1.astype(np.uint8), quals[0], r2.astype(np.uint8), quals[1]


def fastq_interleaved(prefix: str, first_index: int, r1, q1, r2, q2) -> bytes:
    """Interleaved FASTQ (read 1 then read 2 of each pair, same name) as bytes, built without per-read Python."""
    n, rl = r1.shape
    names = np.char.encode(np.char.add(f"@{prefix}:", np.char.zfill(
        np.arange(first_index, first_index + n).astype(str), 9)))
    w = len(names[0]) if n else 0
    names = np.frombuffer(names.tobytes(), dtype=np.uint8).reshape(n, w)
    rec = w + 1 + rl + 3 + rl + 1
    out = np.empty((n, 2, rec), dtype=np.uint8)
    for k, (r, q) in enumerate(((r1, q1), (r2, q2))):
        o = out[:, k, :]
        o[:, :w] = names
        o[:, w] = 10
        o[:, w + 1:w + 1 + rl] = BASES[r]
        o[:, w + 1 + rl:w + 4 + rl] = np.frombuffer(b"\n+\n", dtype=np.uint8)
        o[:, w + 4 + rl:w + 4 + 2 * rl] = q + 33
        o[:, -1] = 10
    return out.tobytes()


def read_coverage(length: int, frags: Fragments, read_len: int) -> np.ndarray:
    """Per-base depth the fragments' reads give (overlapping mates counted once), over [0, length)."""
    s = frags.start
    e = frags.start + frags.length
    inner = frags.length > 2 * read_len
    diff = np.zeros(length + 1, dtype=np.int64)
    starts = np.concatenate([s, (e - read_len)[inner]])
    ends = np.concatenate([np.where(inner, s + read_len, e), e[inner]])
    keep = (starts < length)
    np.add.at(diff, np.clip(starts[keep], 0, length), 1)
    np.add.at(diff, np.clip(ends[keep], 0, length), -1)
    return np.cumsum(diff)[:length]
