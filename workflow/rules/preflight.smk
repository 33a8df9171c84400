# Preflight / QC (docs/preflight.md): one job per sample links the alignment under results/ (index built there when
# missing), measures the QC metrics and applies the thresholds in config `qc:`. A bad sample becomes a `fail` row,
# never a crash.


rule preflight_qc:
    # link + QC in one job (one process per sample); CRAM samples go to preflight_qc_cram
    input:
        user_alignment,
    output:
        aln="results/preflight/{sample}/{sample}.bam",
        idx="results/preflight/{sample}/{sample}.bam.bai",
        qc="results/preflight/{sample}/qc.tsv",
    wildcard_constraints:
        sample=samples_regex(BAM_SAMPLES),
    params:
        sample=lambda w: sample_info(w.sample),
        fasta=REFERENCE["fasta"],
        build=REFERENCE["build"],
        qc=config["qc"],
        panel=PANEL_TARGETS,
        transcripts=ANNOTATION["transcripts"],
    log:
        "logs/preflight/{sample}.qc.log",
    benchmark:
        "benchmarks/preflight/preflight_qc/{sample}.tsv"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/pysam.yaml"
    script:
        "../scripts/preflight_qc.py"


use rule preflight_qc as preflight_qc_cram with:
    output:
        aln="results/preflight/{sample}/{sample}.cram",
        idx="results/preflight/{sample}/{sample}.cram.crai",
        qc="results/preflight/{sample}/qc.tsv",
    wildcard_constraints:
        sample=samples_regex(CRAM_SAMPLES),
    benchmark:
        "benchmarks/preflight/preflight_qc_cram/{sample}.tsv"


rule preflight_qc_table:
    input:
        expand("results/preflight/{sample}/qc.tsv", sample=sample_ids()) + imported_tables("qc"),
    output:
        "results/tables/qc.tsv",
    params:
        table="qc",
    log:
        "logs/preflight/qc_table.log",
    benchmark:
        "benchmarks/preflight/preflight_qc_table.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/merge_tables.py"
