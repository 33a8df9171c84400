"""Hotspot codons from imported variant records: codon-aware protein changes and the absence rules.

For each codon of the hotspot table (the same table and :class:`erbbscreen.hotspots.Codon` model as the BAM
path), the PASS substitution records that touch its three bases are applied together to the reference codon,
so two SNV records in one codon are one protein change (c.34G>T + c.35G>T = p.G12F), as the BAM path does
per fragment. A VCF/MAF cannot phase two records; they are assumed to be in cis and the evidence says so.

The reference codon comes from, in order: the reference FASTA (``--fasta``), the producer's ``Codons``
annotation, or the codons that encode the table's ``ref_aa`` and agree with the records' REF bases (used only
when every candidate gives the same amino acid). A single record whose producer annotation names this codon
(``p.G12D``) is taken as given when the codon cannot be resolved otherwise.

Absence (docs/import.md, "Absence rules"): a codon with no record is ``not_detected`` only when the coverage
evidence (a callable BED, gVCF reference blocks, record-level depth) covers all three bases at the configured
depth; otherwise ``not_evaluable``: "not tested: no coverage information". Plasma needs tumour DNA evidence
(a ctDNA fraction or a detected somatic variant) for any ``not_detected``, as in the BAM path.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from erbbscreen.annotation import GENETIC_CODE, complement
from erbbscreen.hotspots import BIOMARKER_GENES, Codon, resolve_contig

#: Imported files carry no reads, so the purity stage's SNP and segment estimators cannot run; the tumour fraction
#: of an imported sample comes from the sheet/--purity or from its highest hotspot VAF under this assumption.
TF_ASSUMPTION = ("f = multiplier x max somatic VAF: a clonal heterozygous variant in a diploid region "
                 "(UNVERIFIED, domain-spec §2.2)")

NO_COVERAGE = "not tested: no coverage information"
THREE_TO_ONE = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
                "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
                "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Ter": "*", "Sec": "U"}
_P_ONE = re.compile(r"^(?:p\.)?\(?([A-Z*])(\d+)([A-Z*=]|fs|del|ins|dup|delins)?(.*?)\)?$")
_P_THREE = re.compile(r"^(?:p\.)?\(?([A-Z][a-z]{2})(\d+)([A-Z][a-z]{2}|=|Ter|\*)?(.*?)\)?$")


def normalise_protein(text: str) -> str:
    """'p.Gly12Asp', 'G12D', 'p.(G12D)' -> 'p.G12D'; '' when not a protein change."""
    text = (text or "").strip()
    if not text or text in (".", "-", "NA"):
        return ""
    m = _P_THREE.match(text)
    if m and m.group(1) in THREE_TO_ONE:
        alt = m.group(3) or ""
        alt = THREE_TO_ONE.get(alt, alt)
        return f"p.{THREE_TO_ONE[m.group(1)]}{m.group(2)}{alt}{m.group(4) or ''}"
    m = _P_ONE.match(text)
    if m:
        return f"p.{m.group(1)}{m.group(2)}{m.group(3) or ''}{m.group(4) or ''}"
    return ""


def protein_codon(protein_change: str):
    """(ref_aa, codon number, alt) of a normalised p. change, or None."""
    m = re.match(r"^p\.([A-Z*])(\d+)(.*)$", protein_change or "")
    return (m.group(1), int(m.group(2)), m.group(3)) if m else None


@dataclass
class CodonSettings:
    min_depth: int            # configured depth for "covered" (hotspots.depth_tiers.low, [TWIST])
    ok_depth: int             # depth tier "ok" (hotspots.depth_tiers.ok, [TWIST]): below it a caveat
    vaf_multiplier: float     # tumour fraction = multiplier x max somatic VAF (UNVERIFIED, as the BAM path)


def _ref_codon_candidates(cd: Codon, recs, fasta_codon: str | None, pinned: str = ""):
    """Reference codons (coding strand) consistent with what is known, and where that knowledge came from.

    ``pinned``: coding-strand bases that public data pins (resources/hotspot_reference_bases.tsv, N = unknown).
    """
    if fasta_codon:
        return [fasta_codon], "reference FASTA"
    given = {r.ref_codon for r in recs if r.ref_codon and len(r.ref_codon) == 3}
    if len(given) == 1:
        return [given.pop()], "producer's Codons annotation"
    known = {i: b for i, b in enumerate(pinned or "") if b in "ACGT"}
    for r in recs:
        for i, base in enumerate(r.ref.upper()):
            g = r.pos + i
            if g in cd.positions:
                known[cd.positions.index(g)] = base if cd.strand == "+" else complement(base)
    cands = [c for c, aa in GENETIC_CODE.items() if aa == cd.ref_aa and all(c[i] == b for i, b in known.items())]
    return cands, (f"codons encoding {cd.ref_aa} that agree with the records' REF bases"
                   + (f" and the pinned reference bases {pinned}" if known and pinned else ""))


def _apply(cd: Codon, ref_codon: str, recs):
    alt = list(ref_codon)
    for r in recs:
        for i, (rb, ab) in enumerate(zip(r.ref.upper(), r.alt.upper())):
            g = r.pos + i
            if g in cd.positions and rb != ab:
                alt[cd.positions.index(g)] = ab if cd.strand == "+" else complement(ab)
    return "".join(alt)


def touches_codon(cd: Codon, rec) -> bool:
    """The record's REF span overlaps the codon (an indel's span includes its anchor and deleted bases)."""
    return _same_contig(rec.chrom, cd.chrom) and any(p in cd.positions for p in rec.positions())


def _same_contig(a: str, b: str) -> bool:
    return a == b or resolve_contig(a, [b]) == b


def assess_codon(cd: Codon, records, coverage, s: CodonSettings, fasta_codon: str | None = None,
                 pinned: str = "") -> dict:
    """One codon: dict(status, protein_change, vaf, depth, alt_reads, reason, hgvs_c, records, depth_tier)."""
    touching = [r for r in records if touches_codon(cd, r)]
    out = dict(gene=cd.gene, codon=cd.codon, status="", protein_change="", vaf=None, depth=None, alt_reads=None,
               reason="", alt_codon="", hgvs_c="", records=";".join(r.source for r in touching), depth_tier="")
    failed = [r for r in touching if not r.passed]
    indels = [r for r in touching if r.passed and not r.is_substitution]
    subs = [r for r in touching if r.passed and r.is_substitution]
    if indels:
        out.update(status="not_evaluable",
                   reason=("indel record(s) at the codon, not a hotspot substitution; review: "
                           + "; ".join(r.describe() for r in indels)))
        return out
    if subs:
        cands, basis = _ref_codon_candidates(cd, subs, fasta_codon, pinned)
        alts = {GENETIC_CODE.get(_apply(cd, c, subs), "X") for c in cands}
        annotated = [normalise_protein(r.protein_change) for r in subs]
        if len(alts) == 1 and cands:
            ref_codon = cands[0] if len(cands) == 1 else ""
            aa = alts.pop()
            alt_codon = _apply(cd, ref_codon, subs) if ref_codon else ""
        elif len(subs) == 1 and protein_codon(annotated[0]) and protein_codon(annotated[0])[1] == cd.codon:
            aa = protein_codon(annotated[0])[2]
            ref_codon, alt_codon, basis = "", "", "the producer's protein annotation"
        else:
            out.update(status="not_evaluable",
                       reason=(f"variant at {cd.label} but the amino-acid change cannot be determined "
                               f"({len(cands)} possible reference codons give {sorted(alts) or 'none'}); fix: give "
                               "the reference FASTA (--fasta) or an annotated file (MAF HGVSp_Short/Codons, VEP CSQ); "
                               + "; ".join(r.describe() for r in subs)))
            return out
        depths = [r.depth for r in subs if r.depth is not None]
        vafs = [r.vaf for r in subs if r.vaf is not None]
        alt_reads = [r.alt_reads for r in subs if r.alt_reads is not None]
        depth = min(depths) if depths else None
        vaf = min(vafs) if vafs else None
        cis = (f"; {len(subs)} records in one codon combined into one protein change (assumed in cis: the file "
               "does not phase them)") if len(subs) > 1 else ""
        if aa == cd.ref_aa:
            out.update(status="", reason=f"synonymous change at {cd.label} ({basis}){cis}")
            # a synonymous record is not a detection; the codon falls through to the coverage rule below
        else:
            pc = cd.protein_change(aa)
            out.update(status="detected", protein_change=pc, vaf=vaf, depth=depth,
                       alt_reads=min(alt_reads) if alt_reads else None, alt_codon=alt_codon,
                       reason=(f"{pc} called by the imported file: " + "; ".join(r.describe() for r in subs)
                               + (f"; VAF {vaf:.4g}" if vaf is not None else "; VAF not given")
                               + (f", depth {depth}" if depth is not None else "")
                               + f"; amino acid from the {basis}{cis}"))
            if ref_codon and alt_codon:
                out["hgvs_c"] = Codon(cd.gene, cd.codon, cd.ref_aa, cd.chrom, cd.strand, cd.positions,
                                      ref_codon).hgvs_c(alt_codon)
            return out
    prefix = out["reason"] + "; " if out["reason"] else ""
    if failed:
        out.update(status="not_evaluable",
                   reason=prefix + "record(s) at the codon failed the caller's filters (FILTER "
                                   + ",".join(sorted({r.filters for r in failed})) + "): neither a call nor a "
                                   "clean absence; review: " + "; ".join(r.describe() for r in failed))
        return out
    # absence: the coverage evidence must cover all three bases at the configured depth
    states = [coverage.depth_at(cd.chrom, p) for p in cd.positions]
    if any(c is None for c, _, _ in states):
        missing = [p for p, (c, _, _) in zip(cd.positions, states) if c is None]
        out.update(status="not_evaluable",
                   reason=prefix + f"{NO_COVERAGE} for {cd.chrom}:{','.join(map(str, missing))} (give --callable "
                                   "BED, a gVCF with reference blocks, or records with depth)")
        return out
    depths = [d for _, d, _ in states if d is not None]
    depth = min(depths) if depths else None
    srcs = sorted({src for _, _, src in states})
    out["depth"] = depth
    if depth is not None and depth < s.min_depth:
        out.update(status="not_evaluable", depth_tier="not_analyzable",
                   reason=prefix + f"depth {depth} < {s.min_depth} at the codon ({', '.join(srcs)}; "
                                   "[TWIST] not analyzable)")
        return out
    tier = "declared" if depth is None else ("ok" if depth >= s.ok_depth else "low")
    out["depth_tier"] = tier
    basis = (f"declared callable by {', '.join(srcs)}" if depth is None
             else f"depth {depth} >= {s.min_depth} ({', '.join(srcs)})")
    caveat = f"; depth tier low (< {s.ok_depth}, [TWIST])" if tier == "low" else ""
    out.update(status="not_detected",
               reason=prefix + f"no variant record at {cd.label}; codon covered: {basis}{caveat}; sensitivity is "
                               "the imported caller's (not re-assessed)")
    return out


def assess_sample(codons, records, coverage, sample: dict, s: CodonSettings, fasta_codons: dict | None = None,
                  pinned: dict | None = None):
    """Per-codon rows (hotspots.tsv columns) and biomarker rows (KRAS/NRAS/BRAF/PIK3CA + TUMOR_FRACTION)."""
    st = sample["sample_type"]
    results = [assess_codon(cd, records, coverage, s, (fasta_codons or {}).get(cd.key), (pinned or {}).get(cd.key, ""))
               for cd in codons]
    detected = [r for r in results if r["status"] == "detected"]
    vafs = [(r["vaf"], r) for r in detected if r["vaf"] is not None]
    max_vaf, top = max(vafs, key=lambda t: t[0]) if vafs else (None, None)
    purity = sample.get("purity")
    tumour_dna = bool(detected) or purity is not None
    if st == "plasma" and not tumour_dna:
        for r in results:
            if r["status"] == "not_detected":
                r.update(status="not_evaluable",
                         reason="no ctDNA detected: absence is not evidence (no somatic hotspot variant in the file "
                                "and no ctDNA fraction given); " + r["reason"])
    rows = []
    for r in results:
        rc = 100.0 * r["vaf"] / max_vaf if (r["status"] == "detected" and r["vaf"] is not None and max_vaf) else None
        r["relative_clonality"] = rc
        rows.append(dict(sample_id=sample["sample_id"], patient_id=sample["patient_id"], sample_type=st,
                         gene=r["gene"], codon=r["codon"], depth="" if r["depth"] is None else r["depth"],
                         alt_reads="" if r["alt_reads"] is None else r["alt_reads"],
                         vaf="" if r["vaf"] is None else f"{r['vaf']:.4g}", protein_change=r["protein_change"],
                         relative_clonality="" if rc is None else f"{rc:.4g}", status=r["status"],
                         reason=r["reason"], alt_codon=r["alt_codon"], hgvs_c=r["hgvs_c"],
                         depth_tier=r["depth_tier"], records=r["records"], source="imported"))
    return rows, gene_biomarkers(results, sample, s, max_vaf, top)


def gene_biomarkers(results, sample, s: CodonSettings, max_vaf, top) -> list:
    base = dict(patient_id=sample["patient_id"], sample_id=sample["sample_id"], sample_type=sample["sample_type"])
    out = []
    for gene in BIOMARKER_GENES:
        sub = [r for r in results if r["gene"] == gene]
        details = {"source": "imported", "codons": {
            str(r["codon"]): {"status": r["status"], "protein_change": r["protein_change"], "vaf": r["vaf"],
                              "depth": r["depth"], "alt_reads": r["alt_reads"],
                              "relative_clonality": r["relative_clonality"], "germline_like": False,
                              "reason": r["reason"], "depth_tier": r["depth_tier"]} for r in sub}}
        det = [r for r in sub if r["status"] == "detected"]
        ne = [r for r in sub if r["status"] == "not_evaluable"]
        if not sub:
            status, value, ev = "not_evaluable", "", f"no {gene} codon in the hotspot table"
        elif det:
            status, value = "positive", ",".join(r["protein_change"] for r in det)
            ev = f"{gene} " + "; ".join(f"codon {r['codon']} {r['reason']}" for r in det)
            if ne:
                ev += f"; not evaluable: codon(s) {','.join(str(r['codon']) for r in ne)}"
        elif ne:
            status, value = "not_evaluable", ""
            ev = (f"{gene} not evaluable at {len(ne)}/{len(sub)} codon(s): "
                  + "; ".join(f"codon {r['codon']}: {r['reason']}" for r in ne))
        else:
            status, value = "negative", ""
            ev = (f"{gene} codons {','.join(str(r['codon']) for r in sub)}: no variant record and every codon covered "
                  f"({sub[0]['reason'].split('codon covered: ')[-1]})")
        out.append(dict(base, biomarker=gene, status=status, value=value, evidence=ev,
                        details=json.dumps(details)))
    out.append(tumour_fraction_row(base, s, max_vaf, top, sample.get("purity")))
    return out


def tumour_fraction_row(base, s: CodonSettings, max_vaf, top, purity) -> dict:
    variant = f"{top['gene']} {top['protein_change']}" if top else None
    est = min(1.0, s.vaf_multiplier * max_vaf) if max_vaf is not None else None
    details = {"max_vaf": max_vaf, "variant": variant, "vaf_estimate": est, "vaf_multiplier": s.vaf_multiplier,
               "assumption": TF_ASSUMPTION, "unverified": True, "source": "imported"}
    if purity is not None:
        details["method"] = "sample_sheet"
        return dict(base, biomarker="TUMOR_FRACTION", status="positive", value=f"{purity:g}",
                    evidence=f"tumour fraction {purity:g} given (--purity / sheet purity)", details=json.dumps(details))
    details["method"] = "max_somatic_vaf"
    if est is None:
        return dict(base, biomarker="TUMOR_FRACTION", status="not_evaluable", value="",
                    evidence="no hotspot variant with a VAF in the imported file and no purity given: tumour fraction "
                             "unknown", details=json.dumps(details))
    return dict(base, biomarker="TUMOR_FRACTION", status="positive", value=f"{est:.4g}",
                evidence=(f"tumour fraction {est:.3g} = {s.vaf_multiplier:g} x max hotspot VAF {max_vaf:.4g} "
                          f"({variant}); {TF_ASSUMPTION}"), details=json.dumps(details))
