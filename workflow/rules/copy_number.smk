# Copy number (docs/copy-number.md): CNVkit used in-process (cnvlib), few processes per sample.
#   cnv_bins       (cohort)      target/antitarget bins: from cnv.reference's bins, the panel, or genome-wide bins
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


rule cnv_coverage:
    input:
        aln=alignment,
        idx=alignment_index,
        qc="results/preflight/{sample}/qc.tsv",
        targets=rules.cnv_bins.output.targets,
        antitargets=rules.cnv_bins.output.antitargets,
        fasta=REFERENCE["fasta"],
    output:
        target=f"{CNV_DIR}/{{sample}}/{{sample}}.targetcoverage.cnn",
        antitarget=f"{CNV_DIR}/{{sample}}/{{sample}}.antitargetcoverage.cnn",
    log:
        "logs/copy_number/{sample}.coverage.log",
    benchmark:
        "benchmarks/copy_number/cnv_coverage/{sample}.tsv"
    conda:
        "../../envs/cnvkit.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=60,
    params:
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
        normal_qc=expand("results/preflight/{sample}/qc.tsv", sample=CNV_NORMALS),
    output:
        cnn=f"{CNV_DIR}/reference.cnn",
        choice=f"{CNV_DIR}/reference_choice.json",
    log:
        "logs/copy_number/reference.log",
    benchmark:
        "benchmarks/copy_number/cnv_reference.tsv"
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


rule cnv_segment:
    input:
        target=rules.cnv_coverage.output.target,
        antitarget=rules.cnv_coverage.output.antitarget,
        reference=rules.cnv_reference.output.cnn,
        choice=rules.cnv_reference.output.choice,
        qc="results/preflight/{sample}/qc.tsv",
        transcripts=ANNOTATION["transcripts"] or [],
    output:
        cnr=f"{CNV_DIR}/{{sample}}/{{sample}}.cnr",
        cns=f"{CNV_DIR}/{{sample}}/{{sample}}.cns",
        call_cns=f"{CNV_DIR}/{{sample}}/{{sample}}.call.cns",
        scatter=f"{CNV_DIR}/{{sample}}/{{sample}}-scatter.png",
        zoom=f"{CNV_DIR}/{{sample}}/{{sample}}-erbb2.png",
    log:
        "logs/copy_number/{sample}.segment.log",
    benchmark:
        "benchmarks/copy_number/{sample}.segment.tsv"
    conda:
        "../../envs/cnvkit.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        sample=lambda w: sample_info(w.sample),
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
        qc=expand("results/preflight/{sample}/qc.tsv", sample=CNV_CALLED),
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
