# Preflight / QC (docs/preflight.md): links each sample's alignment under results/ (index built there when missing),
# measures the QC metrics and applies the thresholds in config `qc:`. A bad sample becomes a `fail` row, never a
# crash. One job per batch of samples (common.smk "Batches").


QC_BATCHES = sample_batches(sample_ids())

for batch, members in QC_BATCHES:
    jobs = [preflight_qc_job(s) for s in members]

    rule:
        name:
            f"preflight_qc_{batch}"
        input:
            flatten_files(jobs, "input"),
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("preflight", batch, jobs),
        benchmark:
            f"benchmarks/preflight/preflight_qc/{batch}.tsv"
        priority: CRITICAL_PATH_PRIORITY
        conda:
            "../../envs/pysam.yaml"
        # samtools decompression threads (erbbscreen.preflight), when the slots leave room beside the other batches
        threads: batch_threads(QC_BATCHES, 2)
        resources:
            mem_mb=1000,
            runtime=30 + 30 * len(members),
        params:
            jobs=jobs,
            fasta=REFERENCE["fasta"],
            build=REFERENCE["build"],
            qc=config["qc"],
            panel=PANEL_TARGETS,
            transcripts=ANNOTATION["transcripts"],
        script:
            "../scripts/preflight_qc.py"


rule preflight_qc_table:
    input:
        [qc_row(s) for s in sample_ids()] + imported_tables("qc"),
    output:
        "results/tables/qc.tsv",
    log:
        "logs/preflight/qc_table.log",
    benchmark:
        "benchmarks/preflight/preflight_qc_table.tsv"
    priority: FEEDS_BIOMARKERS_PRIORITY  # eligibility reads it: done early, it never holds up the end of the chain
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="qc",
    script:
        "../scripts/merge_tables.py"
