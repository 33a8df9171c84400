# Trial eligibility (docs/eligibility.md): biomarkers.tsv + qc.tsv + the trial rule set -> a verdict per
# patient x trial, one evidence trace (JSON) per patient and the cohort funnel. One job for the whole cohort: the
# engine only reads two tables, so the DAG stays linear in cohort size.


rule eligibility:
    input:
        biomarkers="results/tables/biomarkers.tsv",
        qc="results/tables/qc.tsv",
        trials=TRIALS,
    output:
        table="results/tables/eligibility.tsv",
        funnel="results/tables/funnel.tsv",
        patients=directory("results/eligibility/patients"),
    log:
        "logs/eligibility/eligibility.log",
    benchmark:
        "benchmarks/eligibility/eligibility.tsv"
    priority: CRITICAL_PATH_PRIORITY
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1500,  # measured ~0.5 GB for 1,000 patients x 17 trials
        runtime=15,
    params:
        settings=config.get("eligibility", {}),
    script:
        "../scripts/eligibility.py"
