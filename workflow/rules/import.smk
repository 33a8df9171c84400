# Imported results (docs/import.md): sheet rows whose `bam` is empty and whose result-file columns (vcf, maf, cnr,
# cns, purple_gene_cn, fusions, fusion_assay, callable) point to a lab's own files. One job per such sample turns
# them into the same per-sample tables the BAM stages publish (biomarkers, hotspots, copy number, fusions, QC);
# the cohort tables (qc, hotspots, copy_number, fusions, biomarkers) merge both kinds through imported_tables()
# (common.smk), so eligibility and the report see one cohort. A file that cannot be imported gives a QC `fail`
# row and not_evaluable biomarkers, never a stopped cohort.
from erbbscreen.importer import existing_result_files, sheet_row_fields

IMPORT_DIR = "results/import"


rule import_results:
    input:
        # the files that exist (a missing one becomes a QC failure in the job, not a DAG error)
        files=lambda w: existing_result_files(SAMPLES.loc[w.sample]),
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
    log:
        "logs/import/{sample}.log",
    benchmark:
        "benchmarks/import/{sample}.tsv"
    conda:
        "../../envs/pysam.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=20,
    params:
        sample=lambda w: sample_info(w.sample),
        row=lambda w: sheet_row_fields(SAMPLES.loc[w.sample]),
        build=REFERENCE["build"],
        fasta=REFERENCE["fasta"],
        config={k: config.get(k) or {} for k in ("hotspots", "cnv", "fusions")},
    script:
        "../scripts/import_results.py"
