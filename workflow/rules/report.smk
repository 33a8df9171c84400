# Cohort tables, provenance and reports (docs/outputs.md, docs/report.md).


report: "../report/workflow.rst"


rule biomarkers_table:
    input:
        expand(
            "results/{stage}/{sample}/biomarkers.tsv",
            stage=("copy_number", "hotspots", "purity", "fusions"),
            sample=sample_ids("tumor", "plasma"),
        )
        + imported_tables("biomarkers"),
    output:
        "results/tables/biomarkers.tsv",
    log:
        "logs/report/biomarkers_table.log",
    benchmark:
        "benchmarks/report/biomarkers_table.tsv"
    priority: CRITICAL_PATH_PRIORITY
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="biomarkers",
    script:
        "../scripts/merge_tables.py"


# Provenance reads no result table (config, input checksums, tool versions, the CN reference choice), so it runs
# beside the per-sample stages instead of between eligibility and the report (a GRCh38 FASTA's sha256 takes
# seconds).
rule provenance:
    input:
        cnv_reference="results/copy_number/reference_choice.json",
    output:
        "results/provenance.json",
    log:
        "logs/report/provenance.log",
    benchmark:
        "benchmarks/report/provenance.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
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
    script:
        "../scripts/provenance.py"


rule report:
    input:
        tables=[
            f"results/tables/{t}.tsv"
            for t in (
                "qc",
                "copy_number",
                "hotspots",
                "fusions",
                "biomarkers",
                "eligibility",
                "funnel",
                "purity",
            )
        ],
        patients_json="results/eligibility/patients",
        provenance="results/provenance.json",
        cnr=expand(
            "results/copy_number/{sample}/{sample}.cnr",
            sample=sample_ids("tumor", "plasma"),
        ),
        cns=expand(
            "results/copy_number/{sample}/{sample}.cns",
            sample=sample_ids("tumor", "plasma"),
        ),
    output:
        html=report(
            "results/report/report.html",
            caption="../report/cohort.rst",
            category="1. Cohort",
            labels={"page": "cohort report"},
        ),
        xlsx=report(
            "results/report/erbb-screen.xlsx",
            caption="../report/workbook.rst",
            category="1. Cohort",
            labels={"page": "workbook (all tables)"},
        ),
        patients=report(
            directory("results/report/patients"),
            patterns=["{patient}.html"],
            caption="../report/patient.rst",
            category="2. Patients",
            labels={"patient": "{patient}"},
        ),
        figures=report(
            directory("results/report/figures"),
            patterns=["{kind}/{name}.{ext}"],
            caption="../report/figures.rst",
            category="3. Figures",
            subcategory="{kind}",
            labels={"figure": "{name}"},
        ),
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    priority: CRITICAL_PATH_PRIORITY
    conda:
        "../../envs/python.yaml"
    # patient pages and the workbook render in this many processes (docs/report.md); the last job of a run, so
    # the cores are free; Snakemake lowers it to --cores when fewer. Not more than 2: on SLURM it becomes
    # --cpus-per-task, and the smallest node the workflow is proven on (tests/test_slurm.py) has 2 CPUs
    threads: 2
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        patient_ids=PATIENTS,
    script:
        "../scripts/report.py"
