# Purity / ctDNA fraction (docs/purity.md): per tumour/plasma sample, pysam + numpy (no CNVkit import); batch jobs
# (common.smk "Batches"), each sample with its own files and log.
#   purity  (tumor + plasma)  het-SNP allele counts by htslib over the CNVkit target bins (matched normal first),
#                             allelic imbalance within the CNVkit segments, integer-state segment fit, highest somatic
#                             hotspot VAF (the hotspots stage's published table) -> value + interval + states,
#                             the TUMOR_FRACTION biomarker row (this stage owns it) and the clonal-mutation power of
#                             every hotspot codon without a call
#   purity_table (cohort)     results/tables/purity.tsv

PURITY = config.get("purity") or {}
PURITY_DIR = "results/purity"


for batch, members in sample_batches(sample_ids("tumor", "plasma")):
    jobs = [purity_job(s) for s in members]

    rule:
        name:
            f"purity_{batch}"
        input:
            flatten_files(jobs, "input"),
            targets=rules.cnv_bins.output.targets,
            fasta=REFERENCE["fasta"],
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("purity", batch, jobs),
        benchmark:
            f"benchmarks/purity/purity/{batch}.tsv"
        priority: CRITICAL_PATH_PRIORITY
        conda:
            "../../envs/pysam.yaml"
        threads: 1
        resources:
            mem_mb=1500,
            runtime=30 * len(members),
        params:
            jobs=jobs,
            settings=PURITY,
        script:
            "../scripts/purity.py"


rule purity_table:
    input:
        expand(f"{PURITY_DIR}/{{s}}/purity.tsv", s=sample_ids("tumor", "plasma")),
    output:
        "results/tables/purity.tsv",
    log:
        "logs/purity/table.log",
    benchmark:
        "benchmarks/purity/table.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="purity",
    script:
        "../scripts/merge_tables.py"
