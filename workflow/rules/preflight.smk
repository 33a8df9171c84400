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
    log:
        "logs/preflight/{sample}.qc.log",
    benchmark:
        "benchmarks/preflight/preflight_qc/{sample}.tsv"
    wildcard_constraints:
        sample=samples_regex(BAM_SAMPLES),
    conda:
        "../../envs/pysam.yaml"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        sample=lambda w: sample_info(w.sample),
        fasta=REFERENCE["fasta"],
        build=REFERENCE["build"],
        qc=config["qc"],
        panel=PANEL_TARGETS,
        transcripts=ANNOTATION["transcripts"],
    script:
        "../scripts/preflight_qc.py"


use rule preflight_qc as preflight_qc_cram with:
    output:
        aln="results/preflight/{sample}/{sample}.cram",
        idx="results/preflight/{sample}/{sample}.cram.crai",
        qc="results/preflight/{sample}/qc.tsv",
    benchmark:
        "benchmarks/preflight/preflight_qc_cram/{sample}.tsv"
    wildcard_constraints:
        sample=samples_regex(CRAM_SAMPLES),


rule preflight_qc_table:
    input:
        expand("results/preflight/{sample}/qc.tsv", sample=sample_ids())
        + imported_tables("qc"),
    output:
        "results/tables/qc.tsv",
    log:
        "logs/preflight/qc_table.log",
    benchmark:
        "benchmarks/preflight/preflight_qc_table.tsv"
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
