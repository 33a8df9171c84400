"""Command line of `erbb-screen import` (registered in erbbscreen.cli)."""
from __future__ import annotations

import argparse
import logging
import sys

from erbbscreen.errors import InputError
from erbbscreen.importer import BUILDS, ImportInputs, import_sample, write_outputs


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="erbb-screen import",
        description="Write biomarkers.tsv rows (docs/biomarkers.md) for one sample from result files a lab already "
                    "has: variants (VCF or MAF), copy number (CNVkit .cnr/.cns or PURPLE purple.cnv.gene.tsv), "
                    "fusions (Arriba, STAR-Fusion, BEDPE, VCF breakends) and callable regions. A hotspot without a "
                    "record is negative only where --callable / gVCF blocks / record depth show the codon covered; "
                    "no NRG1 fusion is negative only with --fusion-assay rna|dna-nrg1-introns. Rules: docs/import.md.")
    ap.add_argument("--patient", required=True, help="patient id (contract pattern)")
    ap.add_argument("--sample", required=True, help="sample id (contract pattern)")
    ap.add_argument("--type", required=True, choices=("tumor", "plasma"), help="sample type")
    ap.add_argument("--build", required=True, choices=BUILDS + ("custom",),
                    help="genome build of every input file (custom needs --hotspots)")
    ap.add_argument("--purity", type=float, help="tumour purity (tumor) or ctDNA fraction (plasma), 0 < p <= 1")
    g = ap.add_argument_group("variants")
    g.add_argument("--vcf", help="somatic VCF/BCF (plain or bgzip; gVCF accepted)")
    g.add_argument("--vcf-sample", help="sample column of a multi-sample VCF (default: the only one, TUMOR, or "
                                        "##tumor_sample)")
    g.add_argument("--vcf-depth-tag", help="FORMAT/INFO tag holding the depth (default: DP, DPT, TDP)")
    g.add_argument("--vcf-ad-tag", help="FORMAT tag holding ref,alt allele depths (default: AD, ADT)")
    g.add_argument("--vcf-af-tag", help="FORMAT/INFO tag holding the allele fraction (default: AF, FREQ, VAF, TVAF)")
    g.add_argument("--maf", help="MAF (TCGA/GDC, cBioPortal, vcf2maf; plain or gzip)")
    g.add_argument("--maf-sample", help="Tumor_Sample_Barcode to import (default: the only one)")
    g.add_argument("--callable", help="BED of adequately covered regions, or a gVCF with reference blocks")
    g.add_argument("--min-depth", type=int,
                   help="depth at which a codon counts as covered (default: hotspots.depth_tiers.low of the config, 30)")
    g.add_argument("--fasta", help="reference FASTA (+ .fai) of the build: exact reference codons (recommended)")
    c = ap.add_argument_group("copy number")
    c.add_argument("--cnr", help="CNVkit bin-level .cnr")
    c.add_argument("--cns", help="CNVkit segments .cns (with --cnr)")
    c.add_argument("--purple-gene-cn", help="PURPLE purple.cnv.gene.tsv")
    f = ap.add_argument_group("fusions")
    f.add_argument("--fusions", help="Arriba fusions.tsv, STAR-Fusion *.tsv, BEDPE, or VCF breakends")
    f.add_argument("--fusion-assay", choices=("rna", "dna-nrg1-introns", "unknown"), default="unknown",
                   help="what the fusion caller ran on: rna, dna-nrg1-introns (DNA covering the NRG1 introns), or "
                        "unknown (default: no NRG1 fusion is then not_evaluable, never negative)")
    a = ap.add_argument_group("annotation (defaults: resources/<build>/)")
    a.add_argument("--hotspots", help="hotspot codon table (TSV)")
    a.add_argument("--transcripts", help="BED12 of canonical transcripts")
    a.add_argument("--genes", help="BED of gene spans")
    a.add_argument("--domains", help="BED6 of protein domains (NRG1:EGF_like)")
    ap.add_argument("--config", help="workflow config YAML: its hotspots:, cnv:, fusions: sections are used")
    ap.add_argument("--out-dir", required=True, help="writes biomarkers.tsv, hotspots.tsv, copy_number.tsv, "
                                                     "fusions.tsv, variants.tsv, qc.tsv here")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(argv=None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if a.purity is not None and not 0 < a.purity <= 1:
        ap.error("--purity must be in (0, 1]")
    from erbbscreen.settings import config_section

    try:
        config = config_section(a.config)
    except InputError as exc:
        print(f"erbb-screen import: {exc}", file=sys.stderr)
        return 1
    if a.min_depth is not None:
        config.setdefault("import", {})["min_depth"] = a.min_depth
    inp = ImportInputs(vcf=a.vcf, vcf_sample=a.vcf_sample,
                       vcf_tags={k: v for k, v in (("depth", a.vcf_depth_tag), ("ad", a.vcf_ad_tag),
                                                   ("af", a.vcf_af_tag)) if v},
                       maf=a.maf, maf_sample=a.maf_sample, cnr=a.cnr, cns=a.cns, purple_gene_cn=a.purple_gene_cn,
                       fusions=a.fusions, fusion_assay=a.fusion_assay, callable=a.callable)
    sample = dict(sample_id=a.sample, patient_id=a.patient, sample_type=a.type, purity=a.purity)
    from erbbscreen.samplesheet import ID_PATTERN

    bad = [f"--{k} {v!r} must match {ID_PATTERN.pattern}" for k, v in (("patient", a.patient), ("sample", a.sample))
           if not ID_PATTERN.match(v)]
    try:
        if bad:
            raise InputError(bad)
        result = import_sample(inp, sample, a.build, config=config, fasta=a.fasta, hotspots=a.hotspots,
                               transcripts=a.transcripts, genes_bed=a.genes, domains=a.domains)
    except InputError as exc:
        print(f"erbb-screen import: {exc}", file=sys.stderr)
        return 1
    paths = write_outputs(result, a.out_dir)
    for r in result["biomarkers"].itertuples(index=False):
        if not r.biomarker.endswith("_OTHER_VARIANTS"):
            print(f"{a.sample}\t{r.biomarker}\t{r.status}\t{r.value}")
    print(f"wrote {paths['biomarkers']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
