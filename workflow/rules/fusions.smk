# NRG1 fusions (docs/fusions.md): split reads + discordant pairs read through the alignment index only
# (NRG1 +- flank, the configured partner genes, small windows at candidate junctions), clustered into events,
# annotated from the transcript/domain model. A QC failure gives not_evaluable without opening the alignment.
# Batch jobs (common.smk "Batches"), each sample with its own files and log. Tissue and plasma are batched apart:
# a plasma sample waits for its ctDNA fraction (purity stage), a tissue sample only for its QC, so the tissue
# batches run early, beside the copy-number chain (their biomarker rows feed the cohort's biomarkers.tsv), and only
# the plasma batches join the end of the chain, after purity.
FUSION_BATCHES = sample_batches(sample_ids("tumor"), light=True) + sample_batches(
    sample_ids("plasma"), prefix="plasma_b", light=True
)


for batch, members in FUSION_BATCHES:
    jobs = [fusions_job(s) for s in members]

    rule:
        name:
            f"fusions_{batch}"
        input:
            flatten_files(jobs, "input"),
            transcripts=ANNOTATION["transcripts"],
            fasta=REFERENCE["fasta"],
            domains=[ANNOTATION["domains"]] if ANNOTATION["domains"] else [],
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("fusions", batch, jobs),
        benchmark:
            f"benchmarks/fusions/fusions/{batch}.tsv"
        priority: fusion_batch_priority(batch)
        conda:
            "../../envs/pysam.yaml"
        threads: 1
        resources:
            mem_mb=1500,
            runtime=30 * len(members),
        params:
            jobs=jobs,
            settings=config.get("fusions", {}),
        script:
            "../scripts/fusions.py"


rule fusions_table:
    input:
        expand(
            "results/fusions/{sample}/fusions.tsv",
            sample=sample_ids("tumor", "plasma"),
        )
        + imported_tables("fusions"),
    output:
        "results/tables/fusions.tsv",
    log:
        "logs/fusions/fusions_table.log",
    benchmark:
        "benchmarks/fusions/fusions_table.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="fusions",
    script:
        "../scripts/merge_tables.py"
