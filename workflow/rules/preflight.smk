# Preflight / QC (docs/preflight.md): link each alignment under results/ (index built there when missing),
# measure QC metrics, apply the thresholds in config `qc:`. A bad sample becomes a `fail` row, never a crash.


rule preflight_link_bam:
    input:
        user_alignment,
    output:
        aln="results/preflight/{sample}/{sample}.bam",
        idx="results/preflight/{sample}/{sample}.bam.bai",
    params:
        bam=lambda w: SAMPLES.loc[w.sample, "bam"],
        fasta=REFERENCE["fasta"],
        build=REFERENCE["build"],
    log:
        "logs/preflight/{sample}.link.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    localrule: True
    conda:
        "../../envs/pysam.yaml"
    script:
        "../scripts/preflight_link.py"


use rule preflight_link_bam as preflight_link_cram with:
    output:
        aln="results/preflight/{sample}/{sample}.cram",
        idx="results/preflight/{sample}/{sample}.cram.crai",


rule preflight_qc:
    input:
        aln=alignment,
        idx=alignment_index,
    output:
        "results/preflight/{sample}/qc.tsv",
    params:
        sample=lambda w: sample_info(w.sample),
        fasta=REFERENCE["fasta"],
        build=REFERENCE["build"],
        qc=config["qc"],
        panel=PANEL_TARGETS,
        transcripts=ANNOTATION["transcripts"],
    log:
        "logs/preflight/{sample}.qc.log",
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/pysam.yaml"
    script:
        "../scripts/preflight_qc.py"


rule preflight_qc_table:
    input:
        expand("results/preflight/{sample}/qc.tsv", sample=sample_ids()) + imported_tables("qc"),
    output:
        "results/tables/qc.tsv",
    params:
        table="qc",
    log:
        "logs/preflight/qc_table.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/merge_tables.py"
