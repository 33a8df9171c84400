# Hotspot codons (docs/hotspots.md): KRAS/NRAS/BRAF/PIK3CA codon-level genotyping with pysam.
# Per-sample steps run as batch jobs (common.smk "Batches"); each sample keeps its own files and log.
#   hotspots_count      (normals)                 indexed fetch of the codon regions only -> fragment codon counts
#   hotspots_background (cohort)                  normals' counts -> per-site background error (default rates if none)
#   hotspots_call       (tumor + plasma)          the same counts, then calls, per-codon table, biomarker rows,
#                                                 bgzipped + indexed VCF: one job (the background needs normals only)
#   hotspots_table      (cohort)                  results/tables/hotspots.tsv
# A sample whose QC failed is never opened: its counts file carries the QC reason and every codon is not_evaluable.

HOTSPOTS = config.get("hotspots") or {}
HOTSPOTS_DIR = "results/hotspots"


for batch, members in sample_batches(sample_ids("normal"), light=True):
    jobs = [hotspots_count_job(s) for s in members]

    rule:
        name:
            f"hotspots_count_{batch}"
        input:
            flatten_files(jobs, "input"),
            hotspots=ANNOTATION["hotspots"],
            fasta=REFERENCE["fasta"],
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("hotspots", f"count_{batch}", jobs),
        benchmark:
            f"benchmarks/hotspots/hotspots_count/{batch}.tsv"
        priority: FEEDS_CRITICAL_PATH_PRIORITY
        conda:
            "../../envs/pysam.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30 * len(members),
        params:
            jobs=jobs,
            settings=HOTSPOTS,
        script:
            "../scripts/hotspots_count.py"


rule hotspots_background:
    input:
        counts=[f"{HOTSPOTS_DIR}/{s}/counts.tsv" for s in sample_ids("normal")],
        hotspots=ANNOTATION["hotspots"],
        fasta=REFERENCE["fasta"],
    output:
        background=f"{HOTSPOTS_DIR}/background.tsv",
    log:
        "logs/hotspots/background.log",
    benchmark:
        "benchmarks/hotspots/hotspots_background.tsv"
    priority: FEEDS_CRITICAL_PATH_PRIORITY
    conda:
        "../../envs/pysam.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        normals=sample_ids("normal"),
        settings=HOTSPOTS,
    script:
        "../scripts/hotspots_background.py"


for batch, members in sample_batches(sample_ids("tumor", "plasma"), light=True):
    jobs = [hotspots_call_job(s) for s in members]

    rule:
        name:
            f"hotspots_call_{batch}"
        input:
            flatten_files(jobs, "input"),
            background=f"{HOTSPOTS_DIR}/background.tsv",
            hotspots=ANNOTATION["hotspots"],
            fasta=REFERENCE["fasta"],
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("hotspots", f"call_{batch}", jobs),
        benchmark:
            f"benchmarks/hotspots/hotspots_call/{batch}.tsv"
        priority: FEEDS_CRITICAL_PATH_PRIORITY
        conda:
            "../../envs/pysam.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30 * len(members),
        params:
            jobs=jobs,
            settings=HOTSPOTS,
        script:
            "../scripts/hotspots_call.py"


rule hotspots_table:
    input:
        expand(f"{HOTSPOTS_DIR}/{{s}}/hotspots.tsv", s=sample_ids("tumor", "plasma"))
        + imported_tables("hotspots"),
    output:
        "results/tables/hotspots.tsv",
    log:
        "logs/hotspots/table.log",
    benchmark:
        "benchmarks/hotspots/hotspots_table.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="hotspots",
    script:
        "../scripts/merge_tables.py"
