"""NRG1 fusion detection from DNA reads (split reads + discordant pairs), read through the BAM/CRAM index only.

What this stage answers, per sample (docs/fusions.md):

* ``positive``: at least one rearrangement joins a partner gene (5') to NRG1 (3') in an orientation that can make a
  partner-5'/NRG1-3' transcript, supported by enough unique fragments (domain-spec §4 proposal: >= 2 unique split
  reads, or >= 1 split read + >= 2 discordant pairs). At DNA level this is a **candidate**: RNA confirmation needed.
* ``negative``: the NRG1 introns where breakpoints are expected were covered (measured here, through the index) and
  no event passed the thresholds: "looked and saw none".
* ``not_evaluable``: the sample failed QC (its alignment is not opened), the NRG1 contig is absent, or the NRG1
  introns are not covered (an exome or a panel without intron baits).

Reads are taken only from NRG1 (+ flank), the configured partner genes and small windows around candidate
junctions, so the cost does not grow with off-target reads.

Orientation vocabulary ("keep"): at a breakend, ``L`` means the rearranged molecule keeps the reference sequence to
the *left* (lower coordinates) of the breakpoint, ``R`` to the right. A breakpoint coordinate is the 0-based position
of the last kept base next to the junction (``L``) or the first kept base (``R``). A partner-5'/NRG1-3' transcript
needs NRG1 to keep its 3' side (``R`` on '+', ``L`` on '-') and the partner its 5' side (``L`` on '+', ``R`` on '-').
BEDPE strands follow the LUMPY/SVTYPER convention ``+`` = keeps left, ``-`` = keeps right.

Command line (registered in :mod:`erbbscreen.cli` as ``fusions``)::

    erbb-screen fusions --bam S.bam --transcripts T.bed12 [--domains D.bed] --fasta ref.fa --out-dir D \
        [--sample-id S --patient-id P --sample-type tumor] [--qc qc.tsv] [--config config.yaml]
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from erbbscreen.annotation import harmonize_chroms, match_contigs, read_domains, read_transcripts, revcomp
from erbbscreen.errors import InputError

log = logging.getLogger("erbbscreen.fusions")

#: Default settings; the same values (with their sources) are in config/config.yaml `fusions:` and in
#: workflow/schemas/config.schema.yaml. A test checks the three agree.
DEFAULTS = {
    "gene": "NRG1",
    "flank": 5000,
    "partners": {
        "CD74": "S0 (as 'C74'); [JONNA] most common; [FC14]; [NAK14]; [KOR23] n=8; Arriba v2.1.0 known fusions and "
                "known-fusions.txt [FINDDNA]",
        "SLC3A2": "[JONNA]; [NAK14]; [KOR23] n=4; known-fusions.txt [FINDDNA]",
        "SDC4": "S0; [JONNA]; Arriba v2.1.0 known fusions [FINDDNA]",
        "ATP1B1": "S0; [JONNA]; Arriba v2.1.0 known fusions [FINDDNA]",
        "APP": "S0",
        "TNC": "[JONNA]",
        "MDK": "[JONNA]",
        "TENM4": "[BCR20] PPP6R3-TENM4-NRG1 (MDA-MB-175); Arriba v2.1.0 known fusions [FINDDNA]",
        "WRN": "[BCR20] (out of frame)",
        "SPPL2A": "known-fusions.txt [FINDDNA]",
    },
    "partner_flank": 2000,
    "min_mapq": 20,
    "exclude_duplicates": True,
    "exclude_secondary": True,
    "exclude_qcfail": True,
    "collapse_identical_fragments": "auto",
    "min_discordant_distance": 10000,
    "min_clip_length": 12,
    "max_clip_mismatch_fraction": 0.1,
    "cluster_distance": 1000,
    "junction_tolerance": 5,
    "reciprocal_max_distance": 10000,
    "min_split_reads": 2,
    "combined_min_split_reads": 1,
    "combined_min_discordant_pairs": 2,
    "min_intron_depth": 20,
    "min_intron_covered_fraction": 0.5,
    "evaluable_introns": [],
    "egf_domain": "EGF_like",
    "min_expected_junction_reads": 1,
}

EVIDENCE_NOTE = "DNA-level candidate; RNA confirmation required"
UNVERIFIED_NOTE = ("UNVERIFIED: thresholds are the domain-spec §4 proposal (not a published standard); which NRG1 "
                   "introns carry breakpoints is derived from the transcript/domain model, not from a source")

_CIGAR_RE = re.compile(r"(\d+)([MIDNSHP=X])")
_QUERY_OPS = set("MIS=XH")   # operations that consume (original) read bases, hard clips included
_REF_OPS = set("MDN=X")
_BAM_SOFT, _BAM_HARD = 4, 5


# ---------------------------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------------------------


def settings_from(config: dict | None) -> dict:
    """Defaults overlaid with ``config`` (the ``fusions:`` section); unknown keys raise InputError."""
    out = json.loads(json.dumps(DEFAULTS))
    if not config:
        return out
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise InputError([f"fusions: unknown setting '{k}'; allowed: {', '.join(sorted(DEFAULTS))}" for k in unknown],
                         header="Fusion settings are invalid")
    for k, v in config.items():
        out[k] = v
    if out["collapse_identical_fragments"] not in ("auto", "always", "never", True, False):
        raise InputError([f"fusions.collapse_identical_fragments must be auto, always or never, got "
                          f"{out['collapse_identical_fragments']!r}"], header="Fusion settings are invalid")
    return out


# ---------------------------------------------------------------------------------------------------------------
# alignment geometry
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One alignment of (part of) a read: reference span and where it sits in the original read."""

    chrom: str
    ref_start: int      # 0-based
    ref_end: int        # 0-based, exclusive
    reverse: bool
    lead_clip: int      # clipped bases at the reference-left end (soft + hard)
    trail_clip: int
    read_len: int       # original read length (hard clips included)
    mapq: int

    @property
    def orig_start(self) -> int:
        """Start of the aligned part in the read as sequenced."""
        return self.trail_clip if self.reverse else self.lead_clip

    def unclipped_5p(self) -> int:
        return self.ref_end - 1 + self.trail_clip if self.reverse else self.ref_start - self.lead_clip

    def junction_end(self, other: "Piece"):
        """(keep, bp) of this piece at its junction with ``other`` (another part of the same read)."""
        precedes = self.orig_start < other.orig_start
        if precedes != self.reverse:       # junction at the reference-right end of this piece
            return "L", self.ref_end - 1
        return "R", self.ref_start


def _parse_cigar(cigar: str):
    return [(int(n), op) for n, op in _CIGAR_RE.findall(cigar)]


def piece_from_cigar(chrom: str, pos0: int, reverse: bool, cigar: str, mapq: int) -> Piece:
    ops = _parse_cigar(cigar)
    ref_len = sum(n for n, op in ops if op in _REF_OPS)
    read_len = sum(n for n, op in ops if op in _QUERY_OPS)
    lead = 0
    for n, op in ops:
        if op in "SH":
            lead += n
        else:
            break
    trail = 0
    for n, op in reversed(ops):
        if op in "SH":
            trail += n
        else:
            break
    return Piece(chrom, pos0, pos0 + ref_len, reverse, lead, trail, read_len, mapq)


def piece_from_read(read) -> Piece:
    ct = read.cigartuples or []
    lead = 0
    for op, n in ct:
        if op in (_BAM_SOFT, _BAM_HARD):
            lead += n
        else:
            break
    trail = 0
    for op, n in reversed(ct):
        if op in (_BAM_SOFT, _BAM_HARD):
            trail += n
        else:
            break
    read_len = read.infer_read_length() or read.query_length
    return Piece(read.reference_name, read.reference_start, read.reference_end, read.is_reverse, lead, trail,
                 read_len, read.mapping_quality)


def parse_sa(tag: str):
    """SA:Z entries -> list of Piece (1-based positions in the tag)."""
    out = []
    for entry in tag.strip(";").split(";"):
        if not entry:
            continue
        chrom, pos, strand, cigar, mapq, _nm = entry.split(",")[:6]
        out.append(piece_from_cigar(chrom, int(pos) - 1, strand == "-", cigar, int(mapq)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Evidence:
    kind: str            # "split" or "pair"
    name: str
    frag_key: tuple
    g_chrom: str         # the screened gene's (NRG1) side
    g_bp: int
    g_keep: str
    o_chrom: str         # the other side
    o_bp: int
    o_keep: str


@dataclass
class ClipCandidate:
    name: str
    frag_key: tuple
    chrom: str
    pos: int             # 0-based clip position = first (keep R) or last (keep L) aligned base
    keep: str
    seq: str             # clipped bases, in reference orientation of the read


@dataclass
class Region:
    chrom: str
    start: int
    end: int

    def contains(self, chrom, pos) -> bool:
        return chrom == self.chrom and self.start <= pos < self.end

    def overlaps(self, chrom, start, end) -> bool:
        return chrom == self.chrom and start < self.end and end > self.start


def _mate_piece(read) -> Piece | None:
    if not read.is_paired or read.mate_is_unmapped or read.next_reference_id < 0:
        return None
    mc = read.get_tag("MC") if read.has_tag("MC") else None
    mq = read.get_tag("MQ") if read.has_tag("MQ") else 255
    if mc:
        return piece_from_cigar(read.next_reference_name, read.next_reference_start, read.mate_is_reverse, mc, mq)
    n = read.infer_read_length() or read.query_length or 0
    return Piece(read.next_reference_name, read.next_reference_start, read.next_reference_start + n,
                 read.mate_is_reverse, 0, 0, n, mq)


def fragment_key(read, primary: Piece, mate: Piece | None) -> tuple:
    """Fragment coordinates (both ends' unclipped 5' positions and strands), the same for both reads of a pair."""
    a = (primary.chrom, primary.unclipped_5p(), primary.reverse)
    b = (mate.chrom, mate.unclipped_5p(), mate.reverse) if mate is not None else ("", -1, False)
    return tuple(sorted([a, b]))


class EvidenceCollector:
    """Turns reads into split/pair evidence between the gene region and anywhere else, plus soft-clip candidates."""

    def __init__(self, gene_region: Region, settings: dict):
        self.region = gene_region
        self.s = settings
        self.evidence: list[Evidence] = []
        self.clips: list[ClipCandidate] = []
        self.n_duplicate_flagged = 0
        self.n_reads = 0
        # flags that exclude a read: unmapped always, the others per configuration
        self.skip_mask = 0x4 | (0x400 if settings["exclude_duplicates"] else 0) \
            | (0x100 if settings["exclude_secondary"] else 0) | (0x200 if settings["exclude_qcfail"] else 0)

    def scan_gene(self, reads, start: int, end: int):
        """One pass over the gene region: coverage (returned as start/end lists clipped to [start, end)), evidence
        and soft-clip candidates. The common read (no SA, mate nearby, no long soft clip) costs a few attribute
        reads only."""
        skip, mq = self.skip_mask, self.s["min_mapq"]
        far, mclip = self.s["min_discordant_distance"], self.s["min_clip_length"]
        starts, ends = [], []
        ndup = 0
        for read in reads:
            f = read.flag
            if f & 0x400:
                ndup += 1
            if f & skip or read.mapping_quality < mq:
                continue
            rs, re_ = read.reference_start, read.reference_end
            starts.append(rs if rs > start else start)
            ends.append(re_ if re_ < end else end)
            if read.has_tag("SA") or ((f & 0x9) == 0x1 and (read.next_reference_id != read.reference_id
                                                             or abs(read.next_reference_start - rs) >= far)):
                self.n_reads += 1
                self.add(read)
            elif read.query_alignment_start >= mclip or read.query_length - read.query_alignment_end >= mclip:
                self.n_reads += 1
                self._add_clips(read, fragment_key(read, piece_from_read(read), _mate_piece(read)))
            else:
                self.n_reads += 1
        self.n_duplicate_flagged += ndup
        return starts, ends

    def scan_partner(self, reads, gene_tid: int):
        """Reads of a partner gene: only those with an SA tag or a mate in the gene region can be evidence (the same
        evidence is usually seen from the gene side too; fragments are counted once)."""
        skip, mq = self.skip_mask, self.s["min_mapq"]
        reg = self.region
        for read in reads:
            f = read.flag
            if f & skip:
                continue
            mate_in = ((f & 0x9) == 0x1 and read.next_reference_id == gene_tid
                       and reg.start <= read.next_reference_start < reg.end)
            if not mate_in and not read.has_tag("SA"):
                continue
            if read.mapping_quality < mq:
                continue
            if read.reference_id == gene_tid and read.reference_start < reg.end and read.reference_end > reg.start:
                continue        # already seen in the gene pass
            self.n_reads += 1
            self.add(read, collect_clips=False)

    def passes(self, read) -> bool:
        """Read filters of the configuration (unmapped, duplicate, secondary, QC-fail flags; MAPQ)."""
        f = read.flag
        if f & 0x400:
            self.n_duplicate_flagged += 1
        return not f & self.skip_mask and read.mapping_quality >= self.s["min_mapq"]

    def _in_gene(self, piece: Piece) -> bool:
        return self.region.overlaps(piece.chrom, piece.ref_start, piece.ref_end)

    def _far(self, a: Piece, b: Piece) -> bool:
        if a.chrom != b.chrom:
            return True
        return abs(a.ref_start - b.ref_start) >= self.s["min_discordant_distance"]

    def add(self, read, collect_clips: bool = True):
        """Split-read and discordant-pair evidence of one read that passed :meth:`passes` (+ soft-clip candidates)."""
        has_sa = read.has_tag("SA")
        me = piece_from_read(read)
        sa = parse_sa(read.get_tag("SA")) if has_sa else []
        mate = _mate_piece(read)
        primary = sa[0] if (read.is_supplementary and sa) else me
        key = fragment_key(read, primary, mate)
        me_in = self._in_gene(me)
        split_found = False
        for other in sa:
            if other.mapq < self.s["min_mapq"]:
                continue
            other_in = self._in_gene(other)
            if me_in == other_in or not self._far(me, other):
                continue
            g, o = (me, other) if me_in else (other, me)
            gk, gbp = g.junction_end(o)
            ok, obp = o.junction_end(g)
            self.evidence.append(Evidence("split", read.query_name, key, g.chrom, gbp, gk, o.chrom, obp, ok))
            split_found = True
        if mate is not None and not read.is_supplementary and not read.is_secondary:
            mate_in = self._in_gene(mate)
            if me_in != mate_in and self._far(me, mate) and mate.mapq >= self.s["min_mapq"]:
                g, o = (me, mate) if me_in else (mate, me)
                gk, gbp = ("R", g.ref_start) if g.reverse else ("L", g.ref_end - 1)
                ok, obp = ("R", o.ref_start) if o.reverse else ("L", o.ref_end - 1)
                self.evidence.append(Evidence("pair", read.query_name, key, g.chrom, gbp, gk, o.chrom, obp, ok))
        if collect_clips and not split_found:
            self._add_clips(read, key)

    def _add_clips(self, read, key):
        ct = read.cigartuples
        if not ct or read.query_sequence is None:
            return
        m = self.s["min_clip_length"]
        if ct[0][0] == _BAM_SOFT and ct[0][1] >= m:
            self.clips.append(ClipCandidate(read.query_name, key, read.reference_name, read.reference_start, "R",
                                            read.query_sequence[:ct[0][1]]))
        if ct[-1][0] == _BAM_SOFT and ct[-1][1] >= m:
            self.clips.append(ClipCandidate(read.query_name, key, read.reference_name, read.reference_end - 1, "L",
                                            read.query_sequence[-ct[-1][1]:]))


# ---------------------------------------------------------------------------------------------------------------
# soft-clip matching against the reference
# ---------------------------------------------------------------------------------------------------------------


def clip_target(clip: str, this_keep: str, other_keep: str) -> tuple[str, bool]:
    """(sequence to find on the other side's reference, whether the junction base is its last base).

    ``this_keep`` R means the clip is on the read's left (the junction precedes the kept sequence); L on its right.
    """
    same = (this_keep == "R") == (other_keep == "L")      # R-L and L-R joins keep both sides in one orientation
    target = clip.upper() if same else revcomp(clip.upper())
    junction_last = (this_keep == "R") == same            # the other side's junction base is the target's last base
    return target, junction_last


def _mismatches(a: str, b: str) -> int:
    return sum(1 for x, y in zip(a, b) if x != y or x == "N")


def find_clip(clip: str, this_keep: str, other_keep: str, ref_seq: str, ref_offset: int, max_mm_frac: float,
              seed_len: int = 12):
    """Locate a soft-clipped sequence on the other side's reference window.

    Returns (other_bp 0-based, mismatches) of the best placement with mismatch fraction <= ``max_mm_frac``, or None.
    The seed is the junction-proximal end of the clip (sequencing errors grow towards the read end).
    """
    target, junction_last = clip_target(clip, this_keep, other_keep)
    n = len(target)
    if n == 0:
        return None
    k = min(seed_len, n)
    seed = target[n - k:] if junction_last else target[:k]
    ref = ref_seq.upper()
    best = None
    start = ref.find(seed)
    while start != -1:
        tstart = start - (n - k) if junction_last else start
        if tstart >= 0 and tstart + n <= len(ref):
            mm = _mismatches(target, ref[tstart:tstart + n])
            if mm <= max_mm_frac * n and (best is None or mm < best[1]):
                bp = ref_offset + (tstart + n - 1 if junction_last else tstart)
                best = (bp, mm)
        start = ref.find(seed, start + 1)
    return best


# ---------------------------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Event:
    g_chrom: str
    g_keep: str
    o_chrom: str
    o_keep: str
    items: list = field(default_factory=list)
    rescued: dict = field(default_factory=dict)        # read name -> fragment key, split reads from soft clips
    g_bp: int = -1
    o_bp: int = -1
    precise: bool = False
    split_fragments: int = 0
    pair_fragments: int = 0
    split_names: list = field(default_factory=list)
    pair_names: list = field(default_factory=list)

    @property
    def unique_fragments(self) -> int:
        return self.split_fragments + self.pair_fragments


def cluster_evidence(evidence: list[Evidence], distance: int) -> list[Event]:
    """Single-linkage clusters of evidence with the same chromosomes and keeps, within ``distance`` on both sides."""
    groups = defaultdict(list)
    for ev in evidence:
        groups[(ev.g_chrom, ev.g_keep, ev.o_chrom, ev.o_keep)].append(ev)
    events = []
    for (gc, gk, oc, ok), items in sorted(groups.items()):
        items.sort(key=lambda e: e.g_bp)
        g_clusters, cur = [], [items[0]]
        for ev in items[1:]:
            if ev.g_bp - cur[-1].g_bp <= distance:
                cur.append(ev)
            else:
                g_clusters.append(cur)
                cur = [ev]
        g_clusters.append(cur)
        for gcl in g_clusters:
            gcl.sort(key=lambda e: e.o_bp)
            cur = [gcl[0]]
            for ev in gcl[1:]:
                if ev.o_bp - cur[-1].o_bp <= distance:
                    cur.append(ev)
                else:
                    events.append(Event(gc, gk, oc, ok, cur))
                    cur = [ev]
            events.append(Event(gc, gk, oc, ok, cur))
    return events


def _set_junction(ev: Event):
    splits = [e for e in ev.items if e.kind == "split"]
    if splits:
        (ev.g_bp, ev.o_bp), _ = Counter((e.g_bp, e.o_bp) for e in splits).most_common(1)[0]
        ev.precise = True
        return
    # discordant pairs only: the junction lies beyond the innermost read ends
    gb = [e.g_bp for e in ev.items]
    ob = [e.o_bp for e in ev.items]
    ev.g_bp = max(gb) if ev.g_keep == "L" else min(gb)
    ev.o_bp = max(ob) if ev.o_keep == "L" else min(ob)
    ev.precise = False


def _count(ev: Event, collapse: bool):
    split = {e.name: e.frag_key for e in ev.items if e.kind == "split"}
    split.update(ev.rescued)
    pairs = {e.name: e.frag_key for e in ev.items if e.kind == "pair" and e.name not in split}
    if collapse:
        split_keys = {}
        for name, key in sorted(split.items()):
            split_keys.setdefault(key, name)
        pair_keys = {}
        for name, key in sorted(pairs.items()):
            if key not in split_keys:
                pair_keys.setdefault(key, name)
        ev.split_names, ev.pair_names = sorted(split_keys.values()), sorted(pair_keys.values())
    else:
        ev.split_names, ev.pair_names = sorted(split), sorted(pairs)
    ev.split_fragments, ev.pair_fragments = len(ev.split_names), len(ev.pair_names)


# ---------------------------------------------------------------------------------------------------------------
# annotation
# ---------------------------------------------------------------------------------------------------------------


def required_keeps(gene_strand: str, partner_strand: str | None):
    """Keeps that make a partner-5'/gene-3' transcript: (gene keep, partner keep or None when strand unknown)."""
    g = "R" if gene_strand == "+" else "L"
    if partner_strand not in ("+", "-"):
        return g, None
    return g, ("L" if partner_strand == "+" else "R")


def gene_at(transcripts: dict, chrom: str, pos0: int, prefer=()):
    """Transcript overlapping ``pos0`` (a preferred gene first, then the shortest span), or None."""
    hits = [t for t in transcripts.values() if t.chrom == chrom and t.start <= pos0 < t.end]
    if not hits:
        return None
    hits.sort(key=lambda t: (t.gene not in prefer, t.end - t.start, t.gene))
    return hits[0]


def describe_location(tx, pos0: int) -> str:
    """'CD74 intron 6', 'NRG1 exon 2', 'NRG1 upstream (5')'."""
    if tx is None:
        return "intergenic"
    kind, n = tx.locate(pos0)
    if kind in ("exon", "intron"):
        return f"{tx.gene} {kind} {n}"
    return f"{tx.gene} {kind} ({'5' if kind == 'upstream' else '3'}')"


def egf_retained(domains, gene: str, domain_name: str, g_keep: str, g_bp: int):
    """True/False whether the gene's kept part (3' side) contains the whole domain; None when unknown."""
    if domains is None:
        return None
    rows = domains[(domains["gene"] == gene) & (domains["domain"].str.lower() == domain_name.lower())]
    if rows.empty:
        return None
    lo, hi = int(rows["start"].min()), int(rows["end"].max())
    if g_keep == "R":
        return g_bp <= lo
    return g_bp >= hi - 1


def predict_frame(partner_tx, p_bp: int, gene_tx, g_bp: int):
    """(frame, reason): 'in_frame' / 'out_of_frame' / 'unknown' from exon phases.

    Intronic breakpoints keep partner exons 1..k (breakpoint in partner intron k) and gene exons j+1.. (gene intron
    j); the frame is compatible when the last kept partner exon's end phase equals the first kept gene exon's start
    phase (Ensembl phase convention). Splicing of the real transcript can differ: RNA decides.
    """
    if partner_tx is None:
        return "unknown", "partner breakpoint not in an annotated gene"
    if not partner_tx.has_cds or not gene_tx.has_cds:
        which = partner_tx.gene if not partner_tx.has_cds else gene_tx.gene
        return "unknown", f"no CDS in the {which} transcript model"
    p_kind, k = partner_tx.locate(p_bp)
    g_kind, j = gene_tx.locate(g_bp)
    if p_kind != "intron":
        return "unknown", f"{partner_tx.gene} breakpoint is {p_kind}{f' {k}' if k else ''}, not intronic; " \
                          "the fusion transcript's splicing cannot be predicted from DNA"
    if g_kind == "upstream":
        first = 1
    elif g_kind == "intron":
        first = j + 1
    else:
        return "unknown", f"{gene_tx.gene} breakpoint is {g_kind}{f' {j}' if j else ''}, not intronic"
    p_phase = partner_tx.coding_exon_phases()[k - 1][1]
    g_phase = gene_tx.coding_exon_phases()[first - 1][0]
    where = f"{partner_tx.gene} exon {k} end phase {p_phase}, {gene_tx.gene} exon {first} start phase {g_phase}"
    if p_phase < 0 or g_phase < 0:
        return "unknown", f"{where} (-1 = non-coding boundary)"
    return ("in_frame" if p_phase == g_phase else "out_of_frame"), where


def evaluable_introns(gene_tx, domains, domain_name: str, configured) -> list[int]:
    """Intron numbers whose coverage decides evaluability.

    Configured numbers when given; else the introns 5' of the EGF-like domain (a breakpoint there keeps the domain,
    domain-spec §4); else every intron. Which introns really carry breakpoints is UNVERIFIED (domain-spec §4, §6.4).
    """
    introns = gene_tx.introns_in_transcript_order()
    if configured:
        return [int(k) for k in configured if 1 <= int(k) <= len(introns)]
    if domains is not None:
        rows = domains[(domains["gene"] == gene_tx.gene) & (domains["domain"].str.lower() == domain_name.lower())]
        if not rows.empty:
            lo, hi = int(rows["start"].min()), int(rows["end"].max())
            keep = [k for k, (s, e) in enumerate(introns, 1) if (e <= lo if gene_tx.strand == "+" else s >= hi)]
            if keep:
                return keep
    return list(range(1, len(introns) + 1))


# ---------------------------------------------------------------------------------------------------------------
# the detector
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class FusionResult:
    status: str                       # positive / negative / not_evaluable
    reason: str
    fusions: list = field(default_factory=list)          # dict rows (reported candidates)
    events: list = field(default_factory=list)           # dict rows (every cluster, with verdict)
    intron_coverage: list = field(default_factory=list)  # dict rows
    evidence_reads: list = field(default_factory=list)   # (event_id, fusion, kind, read name)
    coverage_fraction: float | None = None
    intron_mean_depth: float | None = None
    fraction: float | None = None
    fraction_source: str = ""
    contigs: list = field(default_factory=list)          # (name, length) for the VCF header


def _open_alignment(path, fasta):
    import pysam

    return pysam.AlignmentFile(str(path), "rc" if str(path).endswith(".cram") else "rb",
                               reference_filename=str(fasta) if fasta else None)


def _fetch(bam, chrom, start, end):
    start = max(0, start)
    return bam.fetch(chrom, start, end)


def detect(bam_path, transcripts: dict, domains=None, fasta=None, settings: dict | None = None) -> FusionResult:
    """Collect evidence through the index, cluster, annotate and decide. Does not write anything."""
    s = settings_from(settings)
    gene = s["gene"]
    if gene not in transcripts:
        return FusionResult("not_evaluable", f"{gene} not in the annotation/reference: the transcripts BED12 has no "
                                             f"{gene} transcript (fusions.gene); add its canonical transcript")
    bam = _open_alignment(bam_path, fasta)
    # the annotation may name contigs '8' where the reference says 'chr8' (bundled GRCh37 vs UCSC hg19)
    transcripts = match_contigs(transcripts, bam.references)
    if domains is not None:
        domains = harmonize_chroms(domains, bam.references)
    gtx = transcripts[gene]
    fa = None
    if fasta:
        import pysam

        fa = pysam.FastaFile(str(fasta))
    try:
        contigs = list(zip(bam.references, bam.lengths))
        lengths = dict(contigs)
        if gtx.chrom not in lengths:
            return FusionResult("not_evaluable", f"{gene} not in the annotation/reference: its contig {gtx.chrom} "
                                f"(transcripts BED12) is not in the alignment header (a reference holding only some "
                                f"chromosomes, or another genome build)", contigs=contigs)
        if fa is not None and gtx.chrom not in fa.references:
            return FusionResult("not_evaluable", f"{gene} not in the annotation/reference: its contig {gtx.chrom} is "
                                f"not in the reference FASTA (a reference holding only some chromosomes)",
                                contigs=contigs)
        if fa is not None and not _has_sequence(fa, gtx):
            return FusionResult("not_evaluable", f"{gene} not in the annotation/reference: the reference sequence "
                                f"of {gene} ({gtx.chrom}:{gtx.start + 1}-{gtx.end}) is all N", contigs=contigs)
        region = Region(gtx.chrom, max(0, gtx.start - s["flank"]), min(lengths[gtx.chrom], gtx.end + s["flank"]))
        col = EvidenceCollector(region, s)
        starts, ends = col.scan_gene(_fetch(bam, region.chrom, region.start, region.end), region.start, region.end)
        n = region.end - region.start
        depth = (np.bincount(np.asarray(starts, dtype=np.int64) - region.start, minlength=n + 1)
                 - np.bincount(np.asarray(ends, dtype=np.int64) - region.start, minlength=n + 1))
        depth = np.cumsum(depth)[:n]
        # listed partner genes: reads there whose mate or supplementary part lies in the gene region
        missing = []
        for partner in s["partners"]:
            ptx = transcripts.get(partner)
            if ptx is None:
                missing.append(partner)
                continue
            if ptx.chrom not in lengths:
                continue
            col.scan_partner(_fetch(bam, ptx.chrom, ptx.start - s["partner_flank"], ptx.end + s["partner_flank"]),
                             bam.get_tid(region.chrom))
        if missing:
            log.warning("partner gene(s) %s not in the transcripts BED12: not fetched (still found through "
                        "reads in %s)", ", ".join(missing), gene)
        if s["collapse_identical_fragments"] in ("auto",):
            collapse = col.n_duplicate_flagged == 0
        else:
            collapse = s["collapse_identical_fragments"] in ("always", True)
        log.info("%s region %s:%d-%d: %d reads kept, %d duplicate-flagged seen, %d evidence items, %d soft-clip "
                 "candidates; identical-coordinate collapsing %s", gene, region.chrom, region.start, region.end,
                 col.n_reads, col.n_duplicate_flagged, len(col.evidence), len(col.clips), "on" if collapse else "off")

        events = cluster_evidence(col.evidence, s["cluster_distance"]) if col.evidence else []
        for ev in events:
            _set_junction(ev)
            if fa is not None:
                _rescue_clips(ev, col, bam, fa, s, lengths)
            _count(ev, collapse)

        cov_rows, frac, mean = _intron_coverage(gtx, region, depth, domains, s)
        result = _decide(events, transcripts, gtx, domains, s, cov_rows, frac, contigs, fa)
        result.intron_mean_depth = mean
        return result
    finally:
        bam.close()
        if fa is not None:
            fa.close()


def _has_sequence(fa, tx) -> bool:
    """True when the gene's exons hold any base other than N in the reference (a mostly-N contig may not)."""
    return any(set(fa.fetch(tx.chrom, a, b).upper()) - {"N"} for a, b in tx.exons)


def _ref(fa, lengths, chrom, start, end) -> str:
    start, end = max(0, start), min(lengths.get(chrom, 0), end)
    if end <= start or chrom not in fa.references:
        return ""
    return fa.fetch(chrom, start, end)


def _rescue_clips(ev: Event, col: EvidenceCollector, bam, fa, s, lengths):
    """Soft-clipped reads (without an SA explanation) whose clip continues into the other side count as split reads.

    With no split read yet (a discordant-only cluster) the junction is first searched: the clip positions beyond the
    innermost discordant reads are tried, their clipped bases looked up in a window around the partner reads.
    """
    tol, win, mmf = s["junction_tolerance"], s["cluster_distance"], s["max_clip_mismatch_fraction"]
    gene_clips = [c for c in col.clips if c.chrom == ev.g_chrom and c.keep == ev.g_keep]
    if not ev.precise:
        if ev.g_keep == "L":
            cands = [c for c in gene_clips if ev.g_bp <= c.pos <= ev.g_bp + win]
        else:
            cands = [c for c in gene_clips if ev.g_bp - win <= c.pos <= ev.g_bp]
        if ev.o_keep == "L":       # the junction lies beyond the innermost partner reads too
            lo, hi = ev.o_bp - 200, ev.o_bp + win + 200
        else:
            lo, hi = ev.o_bp - win - 200, ev.o_bp + 200
        ref = _ref(fa, lengths, ev.o_chrom, lo, hi)
        by_pos = Counter(c.pos for c in cands)
        for pos, _n in by_pos.most_common():
            hits = [find_clip(c.seq, ev.g_keep, ev.o_keep, ref, max(0, lo), mmf) for c in cands if c.pos == pos]
            hits = [h for h in hits if h]
            if hits:
                ev.g_bp = pos
                ev.o_bp = Counter(h[0] for h in hits).most_common(1)[0][0]
                ev.precise = True
                break
        if not ev.precise:
            return
    have = {e.name for e in ev.items if e.kind == "split"}
    # gene side: clip at the gene junction continuing into the other side's reference
    pad = tol + 200
    oref = _ref(fa, lengths, ev.o_chrom, ev.o_bp - pad, ev.o_bp + pad)
    for c in gene_clips:
        if c.name in have or abs(c.pos - ev.g_bp) > tol:
            continue
        hit = find_clip(c.seq, ev.g_keep, ev.o_keep, oref, max(0, ev.o_bp - pad), mmf)
        if hit and abs(hit[0] - ev.o_bp) <= tol:
            ev.rescued[c.name] = c.frag_key
    # other side: fetch a window around its junction (also covers partners that are not listed)
    gref = _ref(fa, lengths, ev.g_chrom, ev.g_bp - pad, ev.g_bp + pad)
    if ev.o_chrom not in lengths:
        return
    other = EvidenceCollector(Region(ev.o_chrom, 0, 0), s)
    for read in _fetch(bam, ev.o_chrom, ev.o_bp - tol - 1, ev.o_bp + tol + 1):
        if other.passes(read) and not read.has_tag("SA"):
            other._add_clips(read, fragment_key(read, piece_from_read(read), _mate_piece(read)))
    for c in other.clips:
        if c.keep != ev.o_keep or c.name in have or c.name in ev.rescued or abs(c.pos - ev.o_bp) > tol:
            continue
        hit = find_clip(c.seq, ev.o_keep, ev.g_keep, gref, max(0, ev.g_bp - pad), mmf)
        if hit and abs(hit[0] - ev.g_bp) <= tol:
            ev.rescued[c.name] = c.frag_key


def _intron_coverage(gtx, region: Region, depth, domains, s):
    chosen = set(evaluable_introns(gtx, domains, s["egf_domain"], s["evaluable_introns"]))
    rows, covered, total, used = [], 0, 0, []
    for k, (a, b) in enumerate(gtx.introns_in_transcript_order(), 1):
        d = depth[a - region.start:b - region.start]
        n_ok = int((d >= s["min_intron_depth"]).sum())
        rows.append({"gene": gtx.gene, "intron": k, "chrom": gtx.chrom, "start": a, "end": b, "length": b - a,
                     "mean_depth": round(float(d.mean()), 1) if len(d) else 0.0,
                     "fraction_at_min_depth": round(n_ok / len(d), 4) if len(d) else 0.0,
                     "min_depth": s["min_intron_depth"], "used_for_evaluability": "yes" if k in chosen else "no"})
        if k in chosen:
            covered += n_ok
            total += len(d)
            used.append(d)
    mean = float(np.concatenate(used).mean()) if used and total else 0.0
    return rows, (covered / total if total else 0.0), mean


def _bp1(bp0: int) -> int:
    return bp0 + 1


def _supports(ev: Event, s) -> bool:
    return (ev.split_fragments >= s["min_split_reads"]
            or (ev.split_fragments >= s["combined_min_split_reads"]
                and ev.pair_fragments >= s["combined_min_discordant_pairs"]))


def _decide(events, transcripts, gtx, domains, s, cov_rows, frac, contigs, fa) -> FusionResult:
    gene = gtx.gene
    known = s["partners"]
    want_g, _ = required_keeps(gtx.strand, None)
    ev_rows, fusions, reads = [], [], []
    events = sorted(events, key=lambda e: (-e.unique_fragments, e.o_chrom, e.o_bp))
    # reciprocal partners: the opposite keeps on both sides, near the same breakpoints
    def reciprocal_of(ev):
        best = None
        for o in events:
            if o is ev or o.o_chrom != ev.o_chrom or o.g_keep == ev.g_keep or o.o_keep == ev.o_keep:
                continue
            if (abs(o.g_bp - ev.g_bp) <= s["reciprocal_max_distance"]
                    and abs(o.o_bp - ev.o_bp) <= s["reciprocal_max_distance"]):
                if best is None or o.unique_fragments > best.unique_fragments:
                    best = o
        return best

    for i, ev in enumerate(events, 1):
        ev.event_id = f"E{i}"
    for ev in events:
        ptx = gene_at(transcripts, ev.o_chrom, ev.o_bp, prefer=tuple(known))
        if ptx is not None and ptx.gene == gene:
            ptx = None
        partner = ptx.gene if ptx else f"intergenic:{ev.o_chrom}:{_bp1(ev.o_bp)}"
        _, want_o = required_keeps(gtx.strand, ptx.strand if ptx else None)
        orient_ok = ev.g_keep == want_g and (want_o is None or ev.o_keep == want_o)
        support_ok = _supports(ev, s)
        verdict = []
        if not orient_ok:
            verdict.append(f"orientation cannot make a {partner}-5'/{gene}-3' transcript ({gene} keeps "
                           f"{'left' if ev.g_keep == 'L' else 'right'} of {_bp1(ev.g_bp)}, {partner} keeps "
                           f"{'left' if ev.o_keep == 'L' else 'right'} of {_bp1(ev.o_bp)})")
        if not support_ok:
            verdict.append(f"support below threshold ({ev.split_fragments} split, {ev.pair_fragments} discordant; "
                           f"need >= {s['min_split_reads']} split or >= {s['combined_min_split_reads']} split + >= "
                           f"{s['combined_min_discordant_pairs']} discordant)")
        ev.partner, ev.ptx, ev.reported = partner, ptx, orient_ok and support_ok
        ev_rows.append({
            "event_id": ev.event_id, "partner": partner, "chrom_partner": ev.o_chrom, "pos_partner": _bp1(ev.o_bp),
            "keep_partner": ev.o_keep, "chrom_gene": ev.g_chrom, "pos_gene": _bp1(ev.g_bp), "keep_gene": ev.g_keep,
            "split_reads": ev.split_fragments, "discordant_pairs": ev.pair_fragments,
            "split_from_soft_clips": len(ev.rescued), "precise": "yes" if ev.precise else "no",
            "verdict": "reported" if ev.reported else "rejected: " + "; ".join(verdict)})
        for kind, names in (("split", ev.split_names), ("discordant", ev.pair_names)):
            for n in names:
                reads.append((ev.event_id, f"{partner}-{gene}", kind, n))

    for ev in events:
        if not ev.reported:
            continue
        ptx = ev.ptx
        recip = reciprocal_of(ev)
        retained = egf_retained(domains, gene, s["egf_domain"], ev.g_keep, ev.g_bp)
        frame, frame_reason = predict_frame(ptx, ev.o_bp, gtx, ev.g_bp)
        pstrand = ptx.strand if ptx else "."
        fusions.append({
            "gene_5p": ev.partner, "gene_3p": gene,
            "chrom_5p": ev.o_chrom, "pos_5p": _bp1(ev.o_bp), "chrom_3p": ev.g_chrom, "pos_3p": _bp1(ev.g_bp),
            "split_reads": ev.split_fragments, "discordant_pairs": ev.pair_fragments,
            "fusion": f"{ev.partner}-{gene}", "event_id": ev.event_id,
            "orientation": f"{ev.partner}({pstrand}) 5' / {gene}({gtx.strand}) 3'"
                           + ("" if ptx else "; partner strand unknown (intergenic)"),
            "strand_5p": "+" if ev.o_keep == "L" else "-", "strand_3p": "+" if ev.g_keep == "L" else "-",
            "partner_status": "known" if ev.partner in known else "novel",
            "partner_source": known.get(ev.partner, ""),
            "location_5p": describe_location(ptx, ev.o_bp), "location_3p": describe_location(gtx, ev.g_bp),
            "transcript_5p": ptx.transcript_id if ptx else "", "transcript_3p": gtx.transcript_id,
            "egf_domain_retained": {True: "yes", False: "no", None: "unknown"}[retained],
            "frame": frame, "frame_basis": frame_reason,
            "reciprocal": (f"yes: {ev.g_chrom}:{_bp1(recip.g_bp)} / {recip.o_chrom}:{_bp1(recip.o_bp)} "
                           f"({recip.split_fragments} split, {recip.pair_fragments} discordant, {recip.event_id})"
                           if recip else "no"),
            "unique_fragments": ev.unique_fragments, "split_from_soft_clips": len(ev.rescued),
            "junction_precision": "precise" if ev.precise else "imprecise (discordant pairs only)",
            "evidence": EVIDENCE_NOTE,
            "_egf": retained, "_recip": recip.event_id if recip else None,
        })

    threshold = (f">= {s['min_split_reads']} unique split reads, or >= {s['combined_min_split_reads']} split + >= "
                 f"{s['combined_min_discordant_pairs']} discordant pairs (domain-spec §4 proposal, UNVERIFIED)")
    chosen = [r for r in cov_rows if r["used_for_evaluability"] == "yes"]
    intr = ",".join(str(r["intron"]) for r in chosen)
    cov_text = (f"{gene} introns {intr}: {100 * frac:.1f}% of intronic positions at >= {s['min_intron_depth']}x "
                f"(need >= {100 * s['min_intron_covered_fraction']:.0f}%)")
    if fusions:
        names = ", ".join(f"{f['fusion']} ({f['split_reads']} split, {f['discordant_pairs']} discordant)"
                          for f in fusions)
        status, reason = "positive", f"candidate {names}; {threshold}; {EVIDENCE_NOTE}; {cov_text}"
    elif frac < s["min_intron_covered_fraction"]:
        status, reason = "not_evaluable", (f"introns not covered: {cov_text}; a DNA breakpoint there cannot be seen "
                                           f"(exome or panel without {gene} intron baits)")
    else:
        sub = sum(1 for e in ev_rows if e["verdict"] != "reported")
        status, reason = "negative", (f"looked: {cov_text}; no partner-5'/{gene}-3' event with {threshold}"
                                      + (f" ({sub} sub-threshold or wrongly oriented cluster(s) in events.tsv)"
                                         if sub else ""))
    return FusionResult(status, reason, fusions, ev_rows, cov_rows, reads, frac, contigs)


# ---------------------------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------------------------

OUTPUT_NAMES = {
    "fusions": "fusions.tsv",
    "bedpe": "{sample}.bedpe",
    "vcf": "{sample}.vcf",
    "evidence_reads": "evidence_reads.txt",
    "biomarkers": "biomarkers.tsv",
    "events": "events.tsv",
    "intron_coverage": "intron_coverage.tsv",
}


def output_paths(out_dir, sample_id: str) -> dict:
    return {k: Path(out_dir) / v.format(sample=sample_id) for k, v in OUTPUT_NAMES.items()}


def biomarker_row(result: FusionResult, sample: dict, settings: dict) -> dict:
    gene = settings["gene"]
    details = {"dna_level": True, "rna_confirmation_required": True,
               "intron_covered_fraction": None if result.coverage_fraction is None
               else round(result.coverage_fraction, 4),
               "thresholds": {k: settings[k] for k in ("min_split_reads", "combined_min_split_reads",
                                                       "combined_min_discordant_pairs", "min_mapq")},
               "intron_mean_depth": None if result.intron_mean_depth is None else round(result.intron_mean_depth, 1),
               "tumor_fraction": result.fraction,
               "tumor_fraction_source": result.fraction_source,
               "unverified": UNVERIFIED_NOTE}
    value = ""
    if result.fusions:
        best = result.fusions[0]
        value = ",".join(f["fusion"] for f in result.fusions)
        details.update({
            "partner": best["gene_5p"], "novel_partner": best["partner_status"] == "novel",
            "egf_domain_retained": best["_egf"], "frame": best["frame"],
            "split_reads": best["split_reads"], "discordant_pairs": best["discordant_pairs"],
            "junction_5p": f"{best['chrom_5p']}:{best['pos_5p']}",
            "junction_3p": f"{best['chrom_3p']}:{best['pos_3p']}",
            "candidates": len(result.fusions),
        })
    return {"patient_id": sample["patient_id"], "sample_id": sample["sample_id"], "sample_type": sample["sample_type"],
            "biomarker": f"{gene}_FUSION", "status": result.status, "value": value, "evidence": result.reason,
            "details": json.dumps(details, sort_keys=True)}


def _vcf_alt(ref_base: str, this_keep: str, mate_chrom: str, mate_pos1: int, mate_keep: str) -> str:
    br = "[" if mate_keep == "R" else "]"
    p = f"{br}{mate_chrom}:{mate_pos1}{br}"
    return f"{ref_base}{p}" if this_keep == "L" else f"{p}{ref_base}"


def write_vcf(path, result: FusionResult, sample_id: str, fasta=None):
    from erbbscreen.tables import write_text

    fa = None
    if fasta:
        import pysam

        fa = pysam.FastaFile(str(fasta))
    contigs = result.contigs
    if not contigs and fa is not None:
        contigs = list(zip(fa.references, fa.lengths))
    order = {c: i for i, (c, _) in enumerate(contigs)}

    def base(chrom, pos1):
        if fa is None or chrom not in fa.references:
            return "N"
        return fa.fetch(chrom, pos1 - 1, pos1).upper() or "N"

    lines = ["##fileformat=VCFv4.2", "##source=erbb-screen fusions",
             f"##reference={fasta or '.'}"]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in contigs]
    lines += [
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=MATEID,Number=.,Type=String,Description="ID of mate breakend">',
        '##INFO=<ID=EVENT,Number=1,Type=String,Description="ID of the event (erbb-screen event id)">',
        '##INFO=<ID=IMPRECISE,Number=0,Type=Flag,Description="Junction from discordant pairs only">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene at this breakend (or intergenic:chrom:pos)">',
        '##INFO=<ID=FUSION,Number=1,Type=String,Description="5prime-3prime fusion name">',
        '##INFO=<ID=PARTNER_STATUS,Number=1,Type=String,Description="known or novel 5prime partner">',
        '##INFO=<ID=LOCATION,Number=1,Type=String,Description="Exon or intron of the breakend">',
        '##INFO=<ID=SR,Number=1,Type=Integer,Description="Unique split-read fragments">',
        '##INFO=<ID=PE,Number=1,Type=Integer,Description="Unique discordant pairs (without a split read)">',
        '##INFO=<ID=EGF_RETAINED,Number=1,Type=String,Description="NRG1 EGF-like domain kept 3prime: yes/no/unknown">',
        '##INFO=<ID=FRAME,Number=1,Type=String,Description="Predicted frame from exon phases (DNA level)">',
        '##INFO=<ID=NOTE,Number=1,Type=String,Description="DNA-level candidate; RNA confirmation required">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    recs = []
    for f in result.fusions:
        e = f["event_id"]
        keep5 = "L" if f["strand_5p"] == "+" else "R"
        keep3 = "L" if f["strand_3p"] == "+" else "R"
        common = (f"SVTYPE=BND;EVENT={e};FUSION={f['fusion']};PARTNER_STATUS={f['partner_status']};"
                  f"SR={f['split_reads']};PE={f['discordant_pairs']};EGF_RETAINED={f['egf_domain_retained']};"
                  f"FRAME={f['frame']};NOTE=DNA-level_candidate_RNA_confirmation_required"
                  + ("" if f["junction_precision"] == "precise" else ";IMPRECISE"))
        for side, chrom, pos, keep, mchrom, mpos, mkeep, gene, loc in (
                ("1", f["chrom_5p"], f["pos_5p"], keep5, f["chrom_3p"], f["pos_3p"], keep3, f["gene_5p"],
                 f["location_5p"]),
                ("2", f["chrom_3p"], f["pos_3p"], keep3, f["chrom_5p"], f["pos_5p"], keep5, f["gene_3p"],
                 f["location_3p"])):
            ref = base(chrom, pos)
            mate = "2" if side == "1" else "1"
            info = f"{common};MATEID={e}_{mate};GENE={gene};LOCATION={loc.replace(' ', '_')}"
            recs.append(((order.get(chrom, 1 << 30), pos),
                         f"{chrom}\t{pos}\t{e}_{side}\t{ref}\t{_vcf_alt(ref, keep, mchrom, mpos, mkeep)}\t.\tPASS\t"
                         f"{info}"))
    lines += [r for _, r in sorted(recs)]
    if fa is not None:
        fa.close()
    write_text(path, "\n".join(lines) + "\n")


def write_bedpe(path, result: FusionResult, sample_id: str):
    from erbbscreen.tables import write_text

    hdr = ["#chrom1", "start1", "end1", "chrom2", "start2", "end2", "name", "score", "strand1", "strand2",
           "sample_id", "split_reads", "discordant_pairs", "egf_domain_retained", "frame", "partner_status", "note"]
    lines = ["\t".join(hdr)]
    for f in result.fusions:
        lines.append("\t".join(str(x) for x in (
            f["chrom_5p"], f["pos_5p"] - 1, f["pos_5p"], f["chrom_3p"], f["pos_3p"] - 1, f["pos_3p"],
            f"{f['fusion']}|{f['event_id']}", f["unique_fragments"], f["strand_5p"], f["strand_3p"], sample_id,
            f["split_reads"], f["discordant_pairs"], f["egf_domain_retained"], f["frame"], f["partner_status"],
            EVIDENCE_NOTE)))
    write_text(path, "\n".join(lines) + "\n")


def write_outputs(result: FusionResult, sample: dict, out_dir, settings: dict, fasta=None) -> dict:
    import pandas as pd

    from erbbscreen.tables import atomic_output, write_table

    s = settings_from(settings)
    sid = sample["sample_id"]
    paths = output_paths(out_dir, sid)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    ident = {"sample_id": sid, "patient_id": sample["patient_id"], "sample_type": sample["sample_type"]}
    rows = [{**ident, **{k: v for k, v in f.items() if not k.startswith("_")}} for f in result.fusions]
    fus = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(ident) + ["split_reads", "discordant_pairs"])
    write_table(fus, paths["fusions"], "fusions")
    write_table(pd.DataFrame([biomarker_row(result, sample, s)]), paths["biomarkers"], "biomarkers")
    ev_cols = ["event_id", "partner", "chrom_partner", "pos_partner", "keep_partner", "chrom_gene", "pos_gene",
               "keep_gene", "split_reads", "discordant_pairs", "split_from_soft_clips", "precise", "verdict"]
    write_table(pd.DataFrame(result.events, columns=ev_cols), paths["events"])
    cov_cols = ["gene", "intron", "chrom", "start", "end", "length", "mean_depth", "fraction_at_min_depth",
                "min_depth", "used_for_evaluability"]
    write_table(pd.DataFrame(result.intron_coverage, columns=cov_cols), paths["intron_coverage"])
    with atomic_output(paths["evidence_reads"]) as tmp, open(tmp, "w") as fh:
        fh.write(f"# {sid}: read names supporting each event (load the BAM in IGV, filter/colour by these names)\n")
        fh.write("event_id\tfusion\tevidence\tread_name\n")
        for row in result.evidence_reads:
            fh.write("\t".join(row) + "\n")
    write_bedpe(paths["bedpe"], result, sid)
    write_vcf(paths["vcf"], result, sid, fasta)
    return paths


def not_evaluable_qc(reasons: str) -> FusionResult:
    return FusionResult("not_evaluable", f"sample failed QC ({reasons or 'no reason given'}); alignment not opened")


def read_tumor_fraction(path):
    """(fraction, source) from a published biomarkers TSV's TUMOR_FRACTION row.

    positive -> its value; negative -> 0.0 (no tumour DNA detected); not_evaluable or absent -> None.
    """
    from erbbscreen.tables import read_table

    df = read_table(path)
    rows = df[df["biomarker"] == "TUMOR_FRACTION"] if "biomarker" in df.columns else df.iloc[0:0]
    if rows.empty:
        return None, f"no TUMOR_FRACTION row in {path}"
    row = rows.iloc[0]
    status = row["status"]
    if status == "positive":
        try:
            return float(row["value"]), f"TUMOR_FRACTION {row['value']} ({path})"
        except ValueError:
            return None, f"TUMOR_FRACTION value {row['value']!r} is not a number ({path})"
    if status == "negative":
        return 0.0, f"TUMOR_FRACTION negative: no tumour DNA detected ({path})"
    return None, f"TUMOR_FRACTION {status} ({path})"


def apply_sensitivity(result: FusionResult, sample: dict, fraction, fraction_source: str, settings: dict):
    """Turn a 'negative' into 'not_evaluable' when a negative would not be confident (sensitivity check).

    The expected number of reads from the rearranged allele over a junction at a random position of the evaluable
    introns is about mean intronic depth x fraction / 2 (one derivative allele in the tumour cells). Below
    ``min_expected_junction_reads`` a real fusion would probably be missed. A plasma sample with no detectable tumour
    DNA, or an unknown fraction, gives no confident negative (targets: low shedding causes false-negative plasma
    results, seed 002 §3). A tissue sample without purity keeps its negative with a note.
    """
    if result.status != "negative":
        return result
    s = settings_from(settings)
    plasma = sample.get("sample_type") == "plasma"
    if fraction is None:
        if plasma:
            result.status = "not_evaluable"
            result.reason = (f"ctDNA fraction unknown ({fraction_source}): a negative plasma result is not confident; "
                             + result.reason)
        else:
            result.reason += f"; sensitivity not assessed: tumour fraction unknown ({fraction_source})"
        return result
    if fraction <= 0:
        result.status = "not_evaluable"
        result.reason = (f"no tumour DNA detected ({fraction_source}): a negative is not confident; " + result.reason)
        return result
    depth = result.intron_mean_depth or 0.0
    expected = depth * fraction / 2
    text = (f"expected ~{expected:.1f} reads from a rearranged allele at the junction (mean intronic depth "
            f"{depth:.0f}x x fraction {fraction:.3g} / 2; need >= {s['min_expected_junction_reads']}, project "
            f"choice)")
    if expected < s["min_expected_junction_reads"]:
        result.status = "not_evaluable"
        result.reason = f"too little tumour DNA to exclude a fusion: {text}; " + result.reason
    else:
        result.reason += f"; {text}"
    return result


def run(bam, transcripts_path, out_dir, sample: dict, fasta=None, domains_path=None, qc_path=None,
        settings: dict | None = None, tumor_fraction_path=None) -> FusionResult:
    """Whole stage for one sample: QC gate, detection, sensitivity check, every output file under ``out_dir``.

    ``sample``: dict with sample_id, patient_id, sample_type and optionally purity (sample sheet). The tumour fraction
    is the sheet purity when given, else the TUMOR_FRACTION row of ``tumor_fraction_path`` (published biomarkers).
    """
    s = settings_from(settings)
    transcripts = read_transcripts(transcripts_path)
    domains = read_domains(domains_path) if domains_path else None
    result = None
    if qc_path:
        from erbbscreen.tables import read_qc_row

        qc = read_qc_row(qc_path)
        if str(qc.get("status", "")).lower() != "pass":
            result = not_evaluable_qc(qc.get("reasons", ""))
    if result is None:
        result = detect(bam, transcripts, domains, fasta, s)
        fraction, source = sample.get("purity"), "sample sheet purity"
        if fraction is None and tumor_fraction_path:
            fraction, source = read_tumor_fraction(tumor_fraction_path)
        elif fraction is None:
            source = "no purity in the sample sheet, no published tumour fraction"
        result.fraction, result.fraction_source = fraction, source
        apply_sensitivity(result, sample, fraction, source, s)
    log.info("%s: NRG1_FUSION %s: %s", sample["sample_id"], result.status, result.reason)
    write_outputs(result, sample, out_dir, s, fasta)
    return result


# ---------------------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------------------


def _load_config(path):
    import yaml

    cfg = yaml.safe_load(Path(path).read_text()) or {}
    return cfg.get("fusions", cfg) if isinstance(cfg, dict) else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="erbb-screen fusions",
        description="Detect partner-5'/NRG1-3' rearrangements (DNA-level fusion candidates) in a coordinate-sorted, "
                    "indexed BAM/CRAM from split reads (SA tags, soft clips) and discordant pairs; reads are taken "
                    "through the index only. Writes fusions.tsv, <sample>.bedpe, <sample>.vcf (plain-text VCF 4.2 "
                    "BND records), evidence_reads.txt, events.tsv, intron_coverage.tsv and biomarkers.tsv.")
    ap.add_argument("--bam", required=True, help="coordinate-sorted BAM/CRAM with its index")
    ap.add_argument("--transcripts", required=True, help="BED12 of canonical transcripts (name = gene symbol)")
    ap.add_argument("--domains", help="optional BED6 of protein domains (name GENE:DOMAIN, e.g. NRG1:EGF_like)")
    ap.add_argument("--fasta", required=True, help="reference FASTA (.fai beside it); needed for soft-clip "
                                                   "matching, VCF REF bases and CRAM")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--sample-id", help="default: the BAM file name without extension")
    ap.add_argument("--patient-id", help="default: the sample id")
    ap.add_argument("--sample-type", default="tumor", choices=["tumor", "plasma", "normal"])
    ap.add_argument("--qc", help="optional one-row qc.tsv; status fail => not_evaluable without opening the BAM")
    ap.add_argument("--purity", type=float, help="tumour purity / ctDNA fraction (0-1], used for the sensitivity "
                                                 "check of a negative")
    ap.add_argument("--tumor-fraction", help="biomarkers TSV with a TUMOR_FRACTION row (used when --purity is not "
                                             "given)")
    ap.add_argument("--config", help="YAML with a fusions: section (or the section itself) overriding defaults")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    sid = args.sample_id or Path(args.bam).name.split(".")[0]
    sample = {"sample_id": sid, "patient_id": args.patient_id or sid, "sample_type": args.sample_type,
              "purity": args.purity}
    try:
        settings = _load_config(args.config) if args.config else None
        result = run(args.bam, args.transcripts, args.out_dir, sample, args.fasta, args.domains, args.qc, settings,
                     tumor_fraction_path=args.tumor_fraction)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{sid}\t{settings_from(settings)['gene']}_FUSION\t{result.status}\t{result.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
