# Copy number (docs/copy-number.md): CNVkit used in-process (cnvlib), few processes per sample.
#   cnv_bins       (cohort)      target/antitarget bins: from cnv.reference's bins, the panel, or genome-wide bins
#   (per-sample steps run as batch jobs, common.smk "Batches"; each sample keeps its own files and log)
#   cnv_coverage   (per sample)  target + antitarget coverage in one process (QC-failed: header-only files)
#   cnv_reference  (cohort)      cnv.reference .cnn > pooled from the sheet's normals > flat; choice -> JSON
#   cnv_segment    (per sample)  fix + segment + segmetrics + call + plots in one process
#   (purity stage, workflow/rules/purity.smk: value + interval per tumour/plasma sample from the segments)
#   cnv_call       (cohort)      gene-level calls at the purity interval, plasma fraction-free test, no CNVkit
#                                import -> per-sample genes.tsv / biomarkers.tsv + results/tables/copy_number.tsv

CNV = config.get("cnv") or {}
CNV_USER_REFERENCE = PATHS["cnv_reference"]  # resolved cnv.reference or None
CNV_WGS = (
    PANEL_TARGETS is None
)  # whole-genome mode: no antitargets, fix without edge, segment -t 1e-6
CNV_DIR = "results/copy_number"


# the sheet's normal samples: pooled into the reference unless cnv.reference is given
CNV_NORMALS = [] if CNV_USER_REFERENCE else sample_ids("normal")


rule cnv_bins:
    input:
        fasta=REFERENCE["fasta"],
        panel=PANEL_TARGETS or [],
        reference=CNV_USER_REFERENCE or [],
        transcripts=ANNOTATION["transcripts"] or [],
    output:
        targets=f"{CNV_DIR}/bins/targets.bed",
        antitargets=f"{CNV_DIR}/bins/antitargets.bed",
    log:
        "logs/copy_number/bins.log",
    benchmark:
        "benchmarks/copy_number/cnv_bins.tsv"
    priority: CHAIN_HEAD_PRIORITY
    conda:
        "../../envs/cnvkit.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=CNV,
    script:
        "../scripts/copy_number_bins.py"


for batch, members in sample_batches(sample_ids()):
    jobs = [cnv_coverage_job(s) for s in members]

    rule:
        name:
            f"cnv_coverage_{batch}"
        input:
            flatten_files(jobs, "input"),
            targets=rules.cnv_bins.output.targets,
            antitargets=rules.cnv_bins.output.antitargets,
            fasta=REFERENCE["fasta"],
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("copy_number", f"coverage_{batch}", jobs),
        benchmark:
            f"benchmarks/copy_number/cnv_coverage/{batch}.tsv"
        priority: CRITICAL_PATH_PRIORITY
        conda:
            "../../envs/cnvkit.yaml"
        threads: 1
        resources:
            mem_mb=1500,
            runtime=60 * len(members),
        params:
            jobs=jobs,
            settings=CNV,
        script:
            "../scripts/copy_number_coverage.py"


rule cnv_reference:
    input:
        targets=rules.cnv_bins.output.targets,
        antitargets=rules.cnv_bins.output.antitargets,
        fasta=REFERENCE["fasta"],
        user_reference=CNV_USER_REFERENCE or [],
        normal_targets=expand(
            f"{CNV_DIR}/{{sample}}/{{sample}}.targetcoverage.cnn", sample=CNV_NORMALS
        ),
        normal_antitargets=expand(
            f"{CNV_DIR}/{{sample}}/{{sample}}.antitargetcoverage.cnn",
            sample=CNV_NORMALS,
        ),
        normal_qc=[qc_row(s) for s in CNV_NORMALS],
    output:
        cnn=f"{CNV_DIR}/reference.cnn",
        choice=f"{CNV_DIR}/reference_choice.json",
    log:
        "logs/copy_number/reference.log",
    benchmark:
        "benchmarks/copy_number/cnv_reference.tsv"
    priority: CRITICAL_PATH_PRIORITY
    conda:
        "../../envs/cnvkit.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        normals=CNV_NORMALS,
        wgs=CNV_WGS,
    script:
        "../scripts/copy_number_reference.py"


for batch, members in sample_batches(sample_ids("tumor", "plasma")):
    jobs = [cnv_segment_job(s) for s in members]

    rule:
        name:
            f"cnv_segment_{batch}"
        input:
            flatten_files(jobs, "input"),
            reference=rules.cnv_reference.output.cnn,
            choice=rules.cnv_reference.output.choice,
            transcripts=ANNOTATION["transcripts"] or [],
        output:
            flatten_files(jobs, "output"),
        log:
            batch_logs("copy_number", f"segment_{batch}", jobs),
        benchmark:
            f"benchmarks/copy_number/cnv_segment/{batch}.tsv"
        priority: CRITICAL_PATH_PRIORITY
        conda:
            "../../envs/cnvkit.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60 * len(members),
        params:
            jobs=jobs,
            settings=CNV,
            wgs=CNV_WGS,
        script:
            "../scripts/copy_number_segment.py"


# Gene-level calls after the purity stage (its value + interval); one pandas-only job for the cohort.
CNV_CALLED = sample_ids("tumor", "plasma")


rule cnv_call:
    input:
        cnr=expand(f"{CNV_DIR}/{{sample}}/{{sample}}.cnr", sample=CNV_CALLED),
        cns=expand(f"{CNV_DIR}/{{sample}}/{{sample}}.cns", sample=CNV_CALLED),
        qc=[qc_row(s) for s in CNV_CALLED],
        tumor_fraction=expand(
            "results/purity/{sample}/biomarkers.tsv", sample=CNV_CALLED
        ),
        reference=rules.cnv_reference.output.cnn,
        choice=rules.cnv_reference.output.choice,
        transcripts=ANNOTATION["transcripts"] or [],
    output:
        genes=expand(f"{CNV_DIR}/{{sample}}/genes.tsv", sample=CNV_CALLED),
        biomarkers=expand(f"{CNV_DIR}/{{sample}}/biomarkers.tsv", sample=CNV_CALLED),
        table=f"{CNV_DIR}/calls.tsv",
    log:
        "logs/copy_number/call.log",
    benchmark:
        "benchmarks/copy_number/call.tsv"
    priority: CRITICAL_PATH_PRIORITY
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        samples=[sample_info(s) for s in CNV_CALLED],
        settings=CNV,
    script:
        "../scripts/copy_number_call.py"


# The cohort table: the BAM samples' calls + the imported rows' copy numbers (import.smk).
rule cnv_table:
    input:
        [rules.cnv_call.output.table] + imported_tables("copy_number"),
    output:
        "results/tables/copy_number.tsv",
    log:
        "logs/copy_number/table.log",
    benchmark:
        "benchmarks/copy_number/table.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="copy_number",
    script:
        "../scripts/merge_tables.py"
