# NRG1 fusions (docs/fusions.md): split reads + discordant pairs read through the alignment index only
# (NRG1 +- flank, the configured partner genes, small windows at candidate junctions), clustered into events,
# annotated from the transcript/domain model. A QC failure gives not_evaluable without opening the alignment.


rule fusions:
    input:
        aln=alignment,
        idx=alignment_index,
        qc="results/preflight/{sample}/qc.tsv",
        transcripts=ANNOTATION["transcripts"],
        fasta=REFERENCE["fasta"],
        domains=[ANNOTATION["domains"]] if ANNOTATION["domains"] else [],
        # plasma: the published TUMOR_FRACTION row (purity stage), so that a sample without detectable ctDNA gives
        # no confident negative; tissue uses the sample sheet purity
        tumor_fraction=lambda w: (
            [f"results/purity/{w.sample}/biomarkers.tsv"]
            if sample_info(w.sample)["sample_type"] == "plasma"
            else []
        ),
    output:
        tsv="results/fusions/{sample}/fusions.tsv",
        bedpe="results/fusions/{sample}/{sample}.bedpe",
        vcf="results/fusions/{sample}/{sample}.vcf",
        reads="results/fusions/{sample}/evidence_reads.txt",
        biomarkers="results/fusions/{sample}/biomarkers.tsv",
        events="results/fusions/{sample}/events.tsv",
        coverage="results/fusions/{sample}/intron_coverage.tsv",
    log:
        "logs/fusions/{sample}.log",
    benchmark:
        "benchmarks/fusions/fusions/{sample}.tsv"
    conda:
        "../../envs/pysam.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        sample=lambda w: sample_info(w.sample),
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
