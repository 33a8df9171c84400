# Imported results (docs/import.md): sheet rows whose `bam` is empty and whose result-file columns (vcf, maf, cnr,
# cns, purple_gene_cn, fusions, fusion_assay, callable) point to a lab's own files. One job per such sample turns
# them into the same per-sample tables the BAM stages publish (biomarkers, hotspots, copy number, fusions, QC);
# the cohort tables (preflight, hotspots, copy_number, fusions, report rule files) merge both kinds, so eligibility and the report see one cohort. A file that cannot be
# imported gives a QC `fail` row and not_evaluable biomarkers, never a stopped cohort.

IMPORT_DIR = "results/import"
IMPORT_SHEET_COLUMNS = ("vcf", "vcf_sample", "maf", "maf_sample", "cnr", "cns", "purple_gene_cn", "fusions",
                        "fusion_assay", "callable")


def import_row(wildcards):
    row = SAMPLES.loc[wildcards.sample]
    return {c: row[c] for c in SAMPLES.columns if c in IMPORT_SHEET_COLUMNS and isinstance(row[c], str)}


def import_files(wildcards):
    """The sample's result files that exist (a missing one becomes a QC failure in the job, not a DAG error)."""
    row = import_row(wildcards)
    return [row[c] for c in ("vcf", "maf", "cnr", "cns", "purple_gene_cn", "fusions", "callable")
            if row.get(c) and os.path.exists(row[c])]


rule import_results:
    input:
        files=import_files,
        hotspots=ANNOTATION["hotspots"] or [],
        transcripts=ANNOTATION["transcripts"] or [],
        domains=ANNOTATION["domains"] or [],
    output:
        biomarkers=f"{IMPORT_DIR}/{{sample}}/biomarkers.tsv",
        hotspots=f"{IMPORT_DIR}/{{sample}}/hotspots.tsv",
        copy_number=f"{IMPORT_DIR}/{{sample}}/copy_number.tsv",
        fusions=f"{IMPORT_DIR}/{{sample}}/fusions.tsv",
        variants=f"{IMPORT_DIR}/{{sample}}/variants.tsv",
        qc=f"{IMPORT_DIR}/{{sample}}/qc.tsv",
    params:
        sample=lambda w: sample_info(w.sample),
        row=import_row,
        build=REFERENCE["build"],
        fasta=REFERENCE["fasta"],
        config={k: config.get(k) or {} for k in ("hotspots", "cnv", "fusions")},
    log:
        "logs/import/{sample}.log",
    benchmark:
        "benchmarks/import/{sample}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=20,
    conda:
        "../../envs/pysam.yaml"
    script:
        "../scripts/import_results.py"
