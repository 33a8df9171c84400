# Cohort tables, provenance and reports (docs/outputs.md).


rule biomarkers_table:
    input:
        expand("results/{stage}/{sample}/biomarkers.tsv", stage=("copy_number", "hotspots", "fusions"),
               sample=sample_ids("tumor", "plasma")),
    output:
        "results/tables/biomarkers.tsv",
    params:
        table="biomarkers",
    log:
        "logs/report/biomarkers_table.log",
    benchmark:
        "benchmarks/report/biomarkers_table.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/merge_tables.py"


rule provenance:
    input:
        tables=["results/tables/qc.tsv", "results/tables/biomarkers.tsv", "results/tables/eligibility.tsv"],
        cnv_reference="results/copy_number/reference_choice.json",
    output:
        "results/provenance.json",
    params:
        config=config,
        files={
            "reference_fasta": REFERENCE["fasta"],
            "reference_fai": REFERENCE["fasta"] + ".fai",
            "transcripts": ANNOTATION["transcripts"],
            "hotspots": ANNOTATION["hotspots"],
            "domains": ANNOTATION["domains"],
            "panel_targets": PANEL_TARGETS,
            "cnv_reference": PATHS["cnv_reference"],
            "trials": TRIALS,
            "sample_sheet": PATHS["samples"],
        },
        workflow_dir=workflow.basedir,
    log:
        "logs/report/provenance.log",
    benchmark:
        "benchmarks/report/provenance.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/provenance.py"


rule report:
    input:
        tables=[
            f"results/tables/{t}.tsv"
            for t in ("qc", "copy_number", "hotspots", "fusions", "biomarkers", "eligibility", "funnel")
        ],
        plots=expand("results/copy_number/{sample}/{sample}-erbb2.png", sample=sample_ids("tumor", "plasma")),
    output:
        html="results/report/report.html",
        xlsx="results/report/erbb-screen.xlsx",
    params:
        plots=lambda w, input: dict(zip(sample_ids("tumor", "plasma"), input.plots)),
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/report.py"
