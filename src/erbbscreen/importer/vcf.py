"""VCF / gVCF reader (pysam.VariantFile): variant records, their depth/VAF, and coverage from reference blocks.

Sample column: ``--vcf-sample`` when given; else the only sample; else a column named TUMOR (Strelka, VarScan,
vcf2maf conventions); else the ``##tumor_sample=`` header line (GATK Mutect2). Otherwise the message lists the
columns and asks for ``--vcf-sample``.

Read support per allele, first found (FORMAT of the chosen sample, then INFO for single-sample files):
depth ``DP`` / ``DPT`` (FORMAT) / ``TDP`` (INFO); allele depths ``AD`` / ``ADT`` (ref, alt1, ...); Strelka SNV
tier-1 counts ``AU/CU/GU/TU``; allele fraction ``AF`` (Mutect2) / ``TVAF`` (INFO) / ``FREQ`` (VarScan, "31%").
The tag names can be forced with ``--vcf-depth-tag/--vcf-ad-tag/--vcf-af-tag``.

gVCF / all-sites VCF: a record without a real ALT (``.``, ``<NON_REF>``, ``<*>``) is a reference block from POS
to INFO/END with depth ``MIN_DP`` (else ``DP``); variant records count as covered at their own positions with
their own depth. Only intervals that overlap the hotspot codons are kept.
"""
from __future__ import annotations

from pathlib import Path

import pysam

from erbbscreen.errors import InputError
from erbbscreen.importer.codons import normalise_protein
from erbbscreen.importer.records import Coverage, VariantRecord

SYMBOLIC_REF = {None, ".", "<NON_REF>", "<*>", "*"}
DEPTH_TAGS = ("DP", "DPT")
AD_TAGS = ("AD", "ADT")
AF_TAGS = ("AF", "FREQ", "VAF")
INFO_DEPTH_TAGS = ("TDP", "DP")
INFO_AF_TAGS = ("TVAF", "AF")


def choose_sample(header, path, requested: str | None) -> str | None:
    """The sample column to read (None for a sites-only VCF)."""
    names = list(header.samples)
    if requested:
        if requested not in names:
            raise InputError([f"{path}: --vcf-sample {requested!r} is not a sample column; columns: "
                              f"{', '.join(names) or '(none: sites-only VCF)'}; fix: give one of these"])
        return requested
    if not names:
        return None
    if len(names) == 1:
        return names[0]
    if "TUMOR" in names:
        return "TUMOR"
    for rec in header.records:
        if rec.key == "tumor_sample" and rec.value in names:
            return rec.value
    raise InputError([f"{path}: {len(names)} sample columns ({', '.join(names)}) and none is marked as the tumour "
                      "(no TUMOR column, no ##tumor_sample header line); fix: --vcf-sample NAME "
                      "(sheet column vcf_sample)"])


def _num_list(v):
    """FORMAT/INFO value -> list of numbers (handles '37,17' strings, tuples, '31%')."""
    if v is None:
        return []
    if isinstance(v, (tuple, list)):
        items = list(v)
    else:
        items = str(v).split(",")
    out = []
    for x in items:
        if x is None or x == ".":
            out.append(None)
            continue
        try:
            s = str(x).strip()
            out.append(float(s[:-1]) / 100 if s.endswith("%") else float(s))
        except ValueError:
            out.append(None)
    return out


def _get(container, tag):
    try:
        return container[tag] if tag in container else None
    except (KeyError, ValueError, TypeError):
        return None


def _csq_fields(header):
    fields = {}
    for key in ("CSQ", "ANN"):
        if key in header.info:
            desc = header.info[key].description or ""
            fmt = desc.split("Format:")[-1] if "Format:" in desc else desc.split("'")[1] if "'" in desc else ""
            fields[key] = [f.strip().strip("'\" ") for f in fmt.split("|")]
    return fields


def _annotation(rec, alt, csq_fields):
    """(gene, protein change, ref codon) from VEP CSQ or snpEff ANN for this allele (first matching entry)."""
    for key, names in csq_fields.items():
        entries = _get(rec.info, key)
        if not entries:
            continue
        for entry in (entries if isinstance(entries, (tuple, list)) else [entries]):
            vals = dict(zip(names, str(entry).split("|")))
            allele = vals.get("Allele") or vals.get("ALLELE") or ""
            if allele and allele not in (alt, alt[1:], "-") and not (len(rec.ref) > len(alt) and allele == "-"):
                continue
            gene = vals.get("SYMBOL") or vals.get("Gene_Name") or ""
            hgvsp = vals.get("HGVSp") or vals.get("HGVS.p") or ""
            codons = vals.get("Codons") or ""
            ref_codon = codons.split("/")[0].upper() if "/" in codons else ""
            return gene, normalise_protein(hgvsp.split(":")[-1]), ref_codon if len(ref_codon) == 3 else ""
    return "", "", ""


def _support(rec, sample, alt_index, tags, single_sample):
    """(depth, alt_reads, vaf) for allele ``alt_index`` (1-based) of one record."""
    fmt = rec.samples[sample] if sample is not None else {}
    depth_tags = [tags["depth"]] if tags.get("depth") else list(DEPTH_TAGS)
    ad_tags = [tags["ad"]] if tags.get("ad") else list(AD_TAGS)
    af_tags = [tags["af"]] if tags.get("af") else list(AF_TAGS)
    depth = alt_reads = vaf = None
    for t in ad_tags:
        ad = _num_list(_get(fmt, t)) if sample is not None else []
        if len(ad) > alt_index and ad[alt_index] is not None:
            alt_reads = int(ad[alt_index])
            if all(x is not None for x in ad):
                depth = int(sum(ad))
            break
    if alt_reads is None and sample is not None and len(rec.ref) == 1 and len(rec.alts[alt_index - 1]) == 1:
        tier = _num_list(_get(fmt, f"{rec.alts[alt_index - 1]}U"))  # Strelka SNV: (tier1, tier2)
        if tier and tier[0] is not None:
            alt_reads = int(tier[0])
    for t in depth_tags:
        d = _num_list(_get(fmt, t)) if sample is not None else []
        if d and d[0] is not None:
            depth = int(d[0])
            break
    if depth is None and single_sample:
        for t in ([tags["depth"]] if tags.get("depth") else INFO_DEPTH_TAGS):
            d = _num_list(_get(rec.info, t))
            if d and d[0] is not None:
                depth = int(d[0])
                break
    for t in af_tags:
        a = _num_list(_get(fmt, t)) if sample is not None else []
        if len(a) >= alt_index and a[alt_index - 1] is not None:
            vaf = float(a[alt_index - 1])
            break
    if vaf is None and single_sample:
        for t in ([tags["af"]] if tags.get("af") else INFO_AF_TAGS):
            a = _num_list(_get(rec.info, t))
            if len(a) >= alt_index and a[alt_index - 1] is not None:
                vaf = float(a[alt_index - 1])
                break
    if vaf is None and alt_reads is not None and depth:
        vaf = alt_reads / depth
    if vaf is not None and vaf > 1:  # percent
        vaf = vaf / 100
    return depth, alt_reads, vaf


def _block_depth(rec, sample):
    fmt = rec.samples[sample] if sample is not None else {}
    for t in ("MIN_DP", "DP"):
        d = _num_list(_get(fmt, t)) if sample is not None else []
        if d and d[0] is not None:
            return int(d[0])
    d = _num_list(_get(rec.info, "DP"))
    return int(d[0]) if d and d[0] is not None else None


def read_vcf(path, sample: str | None = None, tags: dict | None = None, regions=None, keep_coverage=None):
    """Read one VCF/BCF (plain or bgzipped). Returns (records, coverage, chosen sample).

    ``regions``: [(chrom, start0, end0)] to fetch when the file is indexed (else the whole file is read).
    ``keep_coverage(chrom, start0, end0)``: coverage intervals kept only when this returns True.
    """
    path = str(path)
    tags = tags or {}
    if not Path(path).is_file():
        raise InputError([f"{path}: VCF not found; fix: check the --vcf path / sheet column vcf"])
    try:
        vf = pysam.VariantFile(path)
    except (OSError, ValueError) as exc:
        raise InputError([f"{path}: cannot be read as VCF/BCF ({exc}); fix: give a VCF 4.x file (plain or bgzip)"])
    records, cov = [], Coverage(sources=[f"VCF {Path(path).name}"])
    with vf:
        chosen = choose_sample(vf.header, path, sample)
        single = len(vf.header.samples) <= 1
        csq = _csq_fields(vf.header)
        contigs = set(vf.header.contigs)
        iterator = None
        if regions and vf.index is not None:
            from erbbscreen.hotspots import resolve_contig

            def fetch_all():
                seen = set()
                for chrom, s0, e0 in regions:
                    c = resolve_contig(chrom, contigs)
                    if c is None:
                        continue
                    for rec in vf.fetch(c, s0, e0):
                        key = (rec.chrom, rec.pos, rec.ref, rec.alts)
                        if key not in seen:
                            seen.add(key)
                            yield rec
            iterator = fetch_all()
        n = 0
        try:
            for rec in iterator if iterator is not None else vf:
                n += 1
                where = f"{Path(path).name}:{rec.chrom}:{rec.pos}"
                alts = [a for a in (rec.alts or ()) if a not in SYMBOLIC_REF]
                if not alts:
                    end = rec.stop  # INFO/END for blocks
                    if keep_coverage is None or keep_coverage(rec.chrom, rec.start, end):
                        cov.add(rec.chrom, rec.start, end, _block_depth(rec, chosen), f"gVCF block {where}")
                    continue
                if chosen is not None:
                    gt = _get(rec.samples[chosen], "GT")
                    if gt is not None and all(g in (0, None) for g in gt) and any(g == 0 for g in gt):
                        # the tumour column says reference here (e.g. a germline call in a multi-sample file)
                        d = _block_depth(rec, chosen)
                        if keep_coverage is None or keep_coverage(rec.chrom, rec.start, rec.stop):
                            cov.add(rec.chrom, rec.start, rec.stop, d, f"reference genotype {where}")
                        continue
                filters = list(rec.filter.keys())
                passed = not filters or filters == ["PASS"]
                for i, alt in enumerate(rec.alts or (), start=1):
                    if alt in SYMBOLIC_REF or alt.startswith("<") or "[" in alt or "]" in alt:
                        continue
                    depth, alt_reads, vaf = _support(rec, chosen, i, tags, single)
                    gene, prot, ref_codon = _annotation(rec, alt, csq)
                    records.append(VariantRecord(rec.chrom, rec.pos, rec.ref, alt, where, gene, prot, ref_codon,
                                                 depth, alt_reads, vaf, passed, ",".join(filters)))
                    if depth is not None and (keep_coverage is None or keep_coverage(rec.chrom, rec.start, rec.stop)):
                        cov.add(rec.chrom, rec.start, rec.stop, depth, f"record depth {where}")
        except (OSError, ValueError) as exc:
            raise InputError([f"{path}: reading stopped after {n} records ({exc}); fix: check the file with "
                              "`bcftools view` (truncated or malformed?)"])
    return records, cov, chosen
