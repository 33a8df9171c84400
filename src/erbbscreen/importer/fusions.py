"""NRG1 fusions from a fusion caller's output: Arriba TSV, STAR-Fusion TSV, BEDPE, or VCF breakends
(Manta, Delly, GRIDSS, and this workflow's own fusion VCF).

RNA callers (Arriba, STAR-Fusion) name the 5' and 3' genes themselves; DNA breakpoints (BEDPE, VCF) are placed
on the build's genes here (gene spans from ``resources/<build>/genes.bed`` or the transcripts BED12, exon/intron,
EGF-like domain and frame with the fusion stage's own functions, ``erbbscreen.fusions``). A DNA breakpoint pair
counts as a partner-5'/NRG1-3' candidate only when the sides kept can make that transcript (the BAM path's
orientation rule, ``fusions.required_keeps``); without orientation it stays a candidate with
``orientation unknown`` and ``egf_domain_retained`` null (unknown to the trial engine).

Absence: "no NRG1 fusion" is ``negative`` only when the assay is declared (``--fusion-assay``):
``rna`` (an RNA fusion caller) or ``dna-nrg1-introns`` (a DNA assay whose baits tile the NRG1 introns, or a
genome). Otherwise ``not_evaluable``: a DNA panel without NRG1 intron baits cannot see an NRG1 breakpoint.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from erbbscreen.errors import InputError
from erbbscreen import fusions as fz

ASSAYS = ("rna", "dna-nrg1-introns", "unknown")
ASSAY_TEXT = {"rna": "an RNA fusion assay", "dna-nrg1-introns": "a DNA assay covering the NRG1 introns",
              "unknown": "an assay of unknown NRG1 coverage"}


@dataclass
class Junction:
    """One reported fusion/breakpoint pair. keep = 'L'/'R' (side of the breakpoint kept) or None unknown."""
    chrom_a: str
    pos_a: int               # 1-based
    chrom_b: str
    pos_b: int
    source: str
    gene_a: str = ""         # caller's gene names (RNA callers: a = 5', b = 3')
    gene_b: str = ""
    keep_a: str | None = None
    keep_b: str | None = None
    ordered: bool = False    # True: a is the 5' partner, b the 3' partner (RNA callers)
    split_reads: int | None = None
    discordant_pairs: int | None = None
    frame: str = "unknown"
    confidence: str = ""
    extra: dict = field(default_factory=dict)


def _genes(text: str) -> list:
    """Arriba 'GENE1,GENE2(123)' / STAR-Fusion 'GENE^ENSG...' -> gene symbols."""
    out = []
    for part in re.split(r"[,;]", text or ""):
        name = re.sub(r"\(.*?\)$", "", part.split("^")[0]).strip()
        if name and name != ".":
            out.append(name)
    return out


def _int(x):
    try:
        return int(float(x))
    except (TypeError, ValueError):
        return None


def _breakpoint(text, where):
    m = re.match(r"^(?:chr)?([^:]+):(\d+)", str(text).strip())
    if not m:
        raise InputError([f"{where}: breakpoint {text!r} is not CHROM:POS"])
    chrom = str(text).strip().split(":")[0]
    return chrom, int(m.group(2))


def detect_format(path) -> str:
    name = str(path).lower()
    if name.endswith((".vcf", ".vcf.gz", ".bcf")):
        return "vcf"
    with open(path, errors="replace") as fh:
        head = fh.readline().lstrip("#").strip().split("\t")
    low = [h.lower() for h in head]
    if low[:2] == ["gene1", "gene2"] and "breakpoint1" in low:
        return "arriba"
    if low and low[0] == "fusionname" and "leftbreakpoint" in low:
        return "star-fusion"
    if name.endswith(".bedpe") or (len(head) >= 6 and low[0] in ("chrom1", "chr1")):
        return "bedpe"
    first = " ".join(head)[:120]
    raise InputError([f"{path}: fusion file format not recognised (first line: {first!r}); "
                      "accepted: Arriba fusions.tsv, STAR-Fusion *.fusion_predictions(.abridged).tsv, BEDPE, VCF "
                      "breakends (Manta/Delly/GRIDSS)"])


def read_arriba(path) -> list:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.lstrip("#") for c in df.columns]
    out = []
    for i, r in df.iterrows():
        where = f"{Path(path).name}:{i + 2}"
        ca, pa = _breakpoint(r["breakpoint1"], where)
        cb, pb = _breakpoint(r["breakpoint2"], where)
        fusion_strands = [s.split("/")[-1] for s in (r.get("strand1(gene/fusion)", ""), r.get("strand2(gene/fusion)", ""))]
        frame = {"in-frame": "in_frame", "out-of-frame": "out_of_frame"}.get(r.get("reading_frame", ""), "unknown")
        out.append(Junction(ca, pa, cb, pb, where, ",".join(_genes(r["gene1"])), ",".join(_genes(r["gene2"])),
                            ordered="." not in fusion_strands,
                            split_reads=(_int(r.get("split_reads1")) or 0) + (_int(r.get("split_reads2")) or 0),
                            discordant_pairs=_int(r.get("discordant_mates")), frame=frame,
                            confidence=r.get("confidence", ""), extra={"caller": "Arriba", "type": r.get("type", "")}))
    return out


def read_star_fusion(path) -> list:
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.lstrip("#") for c in df.columns]
    out = []
    for i, r in df.iterrows():
        where = f"{Path(path).name}:{i + 2}"
        ca, pa = _breakpoint(r["LeftBreakpoint"], where)
        cb, pb = _breakpoint(r["RightBreakpoint"], where)
        effect = (r.get("PROT_FUSION_TYPE") or "").upper()
        frame = "in_frame" if effect == "INFRAME" else "out_of_frame" if effect == "FRAMESHIFT" else "unknown"
        out.append(Junction(ca, pa, cb, pb, where, ",".join(_genes(r["LeftGene"])), ",".join(_genes(r["RightGene"])),
                            ordered=True, split_reads=_int(r.get("JunctionReadCount")),
                            discordant_pairs=_int(r.get("SpanningFragCount")), frame=frame,
                            extra={"caller": "STAR-Fusion"}))
    return out


def read_bedpe(path) -> list:
    out = []
    with open(path) as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track")):
                continue
            f = line.rstrip("\r\n").split("\t")
            where = f"{Path(path).name}:{n}"
            if len(f) < 6:
                raise InputError([f"{where}: {len(f)} column(s); BEDPE needs chrom1 start1 end1 chrom2 start2 end2 "
                                  "[name score strand1 strand2]"])
            try:
                pa, pb = int(f[2]), int(f[5])  # end of the 0-based interval = 1-based last base
            except ValueError:
                raise InputError([f"{where}: end1/end2 {f[2]!r}/{f[5]!r} must be integers"])
            # strand '+' = the side left of the breakpoint is kept (lumpy/svtools and this workflow's convention)
            keep = {"+": "L", "-": "R"}
            out.append(Junction(f[0], pa, f[3], pb, where,
                                keep_a=keep.get(f[8]) if len(f) > 8 else None,
                                keep_b=keep.get(f[9]) if len(f) > 9 else None,
                                split_reads=_int(f[11]) if len(f) > 12 else None,
                                discordant_pairs=_int(f[12]) if len(f) > 12 else None,
                                extra={"caller": "BEDPE", "name": f[6] if len(f) > 6 else ""}))
    return out


_BND = re.compile(r"^([A-Za-z.]*)([\[\]])([^\[\]:]+):(\d+)([\[\]])([A-Za-z.]*)$")


def _support_from_vcf(rec):
    split = pairs = None
    for s in rec.samples.values():
        for tag, kind in (("SR", "split"), ("PR", "pairs"), ("RV", "split"), ("DV", "pairs")):
            v = s.get(tag) if tag in s else None
            if v is None:
                continue
            n = v[-1] if isinstance(v, tuple) else v
            if n is None:
                continue
            if kind == "split":
                split = (split or 0) + int(n)
            else:
                pairs = (pairs or 0) + int(n)
        break  # first sample = tumour in Manta/Delly somatic output
    if split is None and "SR" in rec.info:
        split = _int(rec.info["SR"] if not isinstance(rec.info["SR"], tuple) else rec.info["SR"][0])
    if pairs is None:
        for tag in ("PE", "RP"):
            if tag in rec.info:
                pairs = _int(rec.info[tag] if not isinstance(rec.info[tag], tuple) else rec.info[tag][0])
                break
    return split, pairs


def read_vcf_breakends(path) -> list:
    import pysam

    out = []
    try:
        vf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as exc:
        raise InputError([f"{path}: cannot be read as VCF ({exc})"])
    with vf:
        seen = set()
        for rec in vf:
            where = f"{Path(path).name}:{rec.chrom}:{rec.pos}"
            filters = list(rec.filter.keys())
            if filters and filters != ["PASS"]:
                continue
            alt = (rec.alts or ("",))[0]
            split, pairs = _support_from_vcf(rec)
            m = _BND.match(alt)
            if m:
                # t[p[ / t]p] : this side keeps left; ]p]t / [p[t : keeps right. '[' = mate keeps right.
                this_keep = "L" if m.group(1) else "R"
                mate_keep = "R" if m.group(2) == "[" else "L"
                key = tuple(sorted([(rec.chrom, rec.pos), (m.group(3), int(m.group(4)))]))
                if key in seen:      # the mate record describes the same junction
                    continue
                seen.add(key)
                out.append(Junction(rec.chrom, rec.pos, m.group(3), int(m.group(4)), where, keep_a=this_keep,
                                    keep_b=mate_keep, split_reads=split, discordant_pairs=pairs,
                                    extra={"caller": "VCF breakend", "id": rec.id or ""}))
                continue
            svtype = str(rec.info.get("SVTYPE", "")) if "SVTYPE" in rec.info else alt.strip("<>")
            if svtype in ("TRA", "BND", "DEL", "DUP", "INV") and alt.startswith("<"):
                chr2 = str(rec.info["CHR2"]) if "CHR2" in rec.info else rec.chrom
                pos2 = _int(rec.info["POS2"]) if "POS2" in rec.info else rec.stop
                ct = str(rec.info["CT"]) if "CT" in rec.info else ""  # Delly connection type, e.g. 3to5
                keeps = {"3to5": ("L", "R"), "5to3": ("R", "L"), "3to3": ("L", "L"), "5to5": ("R", "R")}.get(ct)
                if keeps is None:
                    keeps = {"DEL": ("L", "R"), "DUP": ("R", "L")}.get(svtype, (None, None))
                out.append(Junction(rec.chrom, rec.pos, chr2, pos2, where, keep_a=keeps[0], keep_b=keeps[1],
                                    split_reads=split, discordant_pairs=pairs,
                                    extra={"caller": "VCF symbolic SV", "svtype": svtype}))
    return out


READERS = {"arriba": read_arriba, "star-fusion": read_star_fusion, "bedpe": read_bedpe, "vcf": read_vcf_breakends}


class GeneModel:
    """Which gene holds a position (gene spans), and the transcript for exon/intron, EGF domain and frame."""

    def __init__(self, transcripts: dict | None, genes: pd.DataFrame | None, domains: pd.DataFrame | None):
        self.transcripts = transcripts or {}
        self.genes = genes
        self.domains = domains

    def gene_at(self, chrom, pos1):
        from erbbscreen.hotspots import resolve_contig

        hits = []
        if self.genes is not None and len(self.genes):
            name = resolve_contig(chrom, set(self.genes["chrom"]))
            sub = self.genes[(self.genes["chrom"] == name) & (self.genes["start"] < pos1) & (self.genes["end"] >= pos1)]
            hits = [(int(r.end - r.start), r.gene, r.strand) for r in sub.itertuples()]
        for t in self.transcripts.values():
            if resolve_contig(chrom, [t.chrom]) == t.chrom and t.start < pos1 <= t.end:
                hits.append((t.end - t.start, t.gene, t.strand))
        if not hits:
            return None, None
        hits.sort()
        return hits[0][1], hits[0][2]

    def strand_of(self, gene):
        if gene in self.transcripts:
            return self.transcripts[gene].strand
        if self.genes is not None:
            sub = self.genes[self.genes["gene"] == gene]
            if len(sub):
                return sub.iloc[0]["strand"]
        return None


def assess(junctions, model: GeneModel, assay: str, sample: dict, settings: dict, source: str):
    """(biomarker row dict, fusions table rows) for NRG1 from the caller's junctions."""
    s = fz.settings_from(settings)
    gene = s["gene"]
    known = s["partners"]
    gtx = model.transcripts.get(gene)
    rows, notes = [], []
    for j in junctions:
        cand = None
        names_a, names_b = j.gene_a.split(",") if j.gene_a else [], j.gene_b.split(",") if j.gene_b else []
        if j.gene_a or j.gene_b:   # RNA caller: its own gene names
            if gene in names_b and gene not in names_a and j.ordered:
                cand = dict(partner=names_a[0] if names_a else "intergenic", p_chrom=j.chrom_a, p_pos=j.pos_a,
                            g_chrom=j.chrom_b, g_pos=j.pos_b, orientation="caller (5'/3' as reported)")
            elif gene in names_a and gene not in names_b:
                notes.append(f"{j.source}: {gene} is the 5' gene ({j.gene_a}--{j.gene_b}): not an NRG1-3' fusion")
            elif gene in names_b and not j.ordered:
                cand = dict(partner=names_a[0] if names_a else "intergenic", p_chrom=j.chrom_a, p_pos=j.pos_a,
                            g_chrom=j.chrom_b, g_pos=j.pos_b, orientation="unknown (caller gives no fusion strand)")
        else:                      # DNA breakpoints: place them on the build's genes
            side_a = dict(chrom=j.chrom_a, pos=j.pos_a, keep=j.keep_a)
            side_b = dict(chrom=j.chrom_b, pos=j.pos_b, keep=j.keep_b)
            for side in (side_a, side_b):
                side["gene"], side["strand"] = model.gene_at(side["chrom"], side["pos"])
            for g, p in ((side_b, side_a), (side_a, side_b)):
                if g["gene"] != gene or p["gene"] == gene:
                    continue
                partner = p["gene"] or f"intergenic:{p['chrom']}:{p['pos']}"
                if g["keep"] is None or g["strand"] is None:
                    orient = "unknown (no breakend orientation)"
                else:
                    want_g, want_o = fz.required_keeps(g["strand"], p["strand"])
                    if g["keep"] != want_g or (want_o is not None and p["keep"] is not None and p["keep"] != want_o):
                        notes.append(f"{j.source}: {partner}/{gene} junction cannot make a {partner}-5'/{gene}-3' "
                                     "transcript (kept sides)")
                        break
                    orient = f"{partner} 5' / {gene} 3' (kept sides)"
                cand = dict(partner=partner, p_chrom=p["chrom"], p_pos=p["pos"], g_chrom=g["chrom"], g_pos=g["pos"],
                            orientation=orient, g_keep=g["keep"])
                break
        if cand is None:
            continue
        retained = None
        if model.domains is not None and gtx is not None and "unknown" not in cand["orientation"]:
            keep = cand.get("g_keep") or fz.required_keeps(gtx.strand, None)[0]
            retained = fz.egf_retained(model.domains, gene, s["egf_domain"], keep, cand["g_pos"] - 1)
        location = fz.describe_location(gtx, cand["g_pos"] - 1) if gtx is not None else ""
        rows.append(dict(gene_5p=cand["partner"], gene_3p=gene, chrom_5p=cand["p_chrom"], pos_5p=cand["p_pos"],
                         chrom_3p=cand["g_chrom"], pos_3p=cand["g_pos"],
                         split_reads="" if j.split_reads is None else j.split_reads,
                         discordant_pairs="" if j.discordant_pairs is None else j.discordant_pairs,
                         fusion=f"{cand['partner']}-{gene}", orientation=cand["orientation"],
                         partner_status="known" if cand["partner"] in known else "novel",
                         location_3p=location, egf_domain_retained={True: "yes", False: "no", None: "unknown"}[retained],
                         frame=j.frame, confidence=j.confidence, caller=j.extra.get("caller", ""), record=j.source,
                         _egf=retained, source="imported"))
    strong = [r for r in rows if r["confidence"].lower() != "low"]
    st = sample["sample_type"]
    details = {"source": "imported", "assay": assay, "file": source, "rna_confirmation_required": assay != "rna"}
    base = dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"], sample_type=st,
                biomarker=f"{gene}_FUSION")
    if strong:
        best = strong[0]
        details.update(partner=best["gene_5p"], novel_partner=best["partner_status"] == "novel",
                       egf_domain_retained=best["_egf"], frame=best["frame"],
                       split_reads=_int(best["split_reads"]), discordant_pairs=_int(best["discordant_pairs"]),
                       junction_5p=f"{best['chrom_5p']}:{best['pos_5p']}",
                       junction_3p=f"{best['chrom_3p']}:{best['pos_3p']}", candidates=len(strong))
        names = ", ".join(f"{r['fusion']} ({r['caller']} {r['record']}; orientation {r['orientation']}; "
                          f"EGF-like domain {r['egf_domain_retained']}; frame {r['frame']})" for r in strong)
        ev = (f"{gene} fusion reported by the imported file: {names}; thresholds are the caller's own"
              + ("" if assay == "rna" else "; DNA-level or unspecified assay: RNA confirmation required"))
        row = dict(base, status="positive", value=",".join(r["fusion"] for r in strong), evidence=ev)
    elif rows:
        row = dict(base, status="not_evaluable", value="",
                   evidence=f"only low-confidence {gene} fusion call(s) in the imported file ("
                            + ", ".join(f"{r['fusion']} {r['record']}" for r in rows) + "): neither a call nor a "
                            "clean absence; review")
    elif assay == "unknown":
        row = dict(base, status="not_evaluable", value="",
                   evidence=(f"no {gene} fusion in {source}, but the assay is not declared: a DNA panel without {gene} "
                             "intron baits cannot see the breakpoint; fix: --fusion-assay rna | dna-nrg1-introns "
                             "(sheet column fusion_assay) if that is what was run"))
    elif st == "plasma" and sample.get("purity") is None and not sample.get("tumour_dna"):
        row = dict(base, status="not_evaluable", value="",
                   evidence=f"no {gene} fusion in {source} ({ASSAY_TEXT[assay]}), but no ctDNA was detected and no "
                            "ctDNA fraction was given: absence is not evidence")
    else:
        row = dict(base, status="negative", value="",
                   evidence=(f"no {gene} fusion in {source}; assay declared as {ASSAY_TEXT[assay]} (--fusion-assay "
                             f"{assay}); sensitivity is the caller's"
                             + (f"; {len(notes)} other {gene} junction(s) not partner-5'/{gene}-3'" if notes else "")))
    row["details"] = json.dumps(details, sort_keys=True, default=str)
    for r in rows:
        r.pop("_egf", None)
        r.update(sample_id=sample["sample_id"], patient_id=sample["patient_id"], sample_type=st)
    return row, rows, notes


def read_fusions(path, fmt: str | None = None):
    path = Path(path)
    if not path.is_file():
        raise InputError([f"{path}: fusion file not found; fix: check the --fusions path / sheet column fusions"])
    fmt = fmt or detect_format(path)
    try:
        return READERS[fmt](path), fmt
    except KeyError as exc:
        raise InputError([f"{path}: {fmt} file lacks column {exc}; fix: give the caller's unmodified output"])
