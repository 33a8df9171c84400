# Hotspot codons (docs/hotspots.md): KRAS/NRAS/BRAF/PIK3CA codon-level genotyping with pysam.
#   hotspots_count      (normals)                 indexed fetch of the codon regions only -> fragment codon counts
#   hotspots_background (cohort)                  normals' counts -> per-site background error (default rates if none)
#   hotspots_call       (tumor + plasma)          the same counts, then calls, per-codon table, biomarker rows,
#                                                 bgzipped + indexed VCF: one job (the background needs normals only)
#   hotspots_table      (cohort)                  results/tables/hotspots.tsv
# A sample whose QC failed is never opened: its counts file carries the QC reason and every codon is not_evaluable.

HOTSPOTS = config.get("hotspots") or {}
HOTSPOTS_DIR = "results/hotspots"


rule hotspots_count:
    input:
        aln=alignment,
        idx=alignment_index,
        qc="results/preflight/{sample}/qc.tsv",
        hotspots=ANNOTATION["hotspots"],
        fasta=REFERENCE["fasta"],
    output:
        counts=f"{HOTSPOTS_DIR}/{{sample}}/counts.tsv",
    log:
        "logs/hotspots/{sample}.count.log",
    benchmark:
        "benchmarks/hotspots/hotspots_count/{sample}.tsv"
    wildcard_constraints:
        sample=samples_regex(sample_ids("normal")),
    conda:
        "../../envs/pysam.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        settings=HOTSPOTS,
    script:
        "../scripts/hotspots_count.py"


rule hotspots_background:
    input:
        counts=expand(f"{HOTSPOTS_DIR}/{{s}}/counts.tsv", s=sample_ids("normal")),
        hotspots=ANNOTATION["hotspots"],
        fasta=REFERENCE["fasta"],
    output:
        background=f"{HOTSPOTS_DIR}/background.tsv",
    log:
        "logs/hotspots/background.log",
    benchmark:
        "benchmarks/hotspots/hotspots_background.tsv"
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


rule hotspots_call:
    input:
        aln=alignment,
        idx=alignment_index,
        qc="results/preflight/{sample}/qc.tsv",
        normals=lambda w: [
            f"{HOTSPOTS_DIR}/{s}/counts.tsv" for s in matched_normals(w.sample)
        ],
        background=rules.hotspots_background.output.background,
        hotspots=ANNOTATION["hotspots"],
        fasta=REFERENCE["fasta"],
    output:
        counts=f"{HOTSPOTS_DIR}/{{sample}}/counts.tsv",
        table=f"{HOTSPOTS_DIR}/{{sample}}/hotspots.tsv",
        biomarkers=f"{HOTSPOTS_DIR}/{{sample}}/biomarkers.tsv",
        vcf=f"{HOTSPOTS_DIR}/{{sample}}/{{sample}}.hotspots.vcf.gz",
        tbi=f"{HOTSPOTS_DIR}/{{sample}}/{{sample}}.hotspots.vcf.gz.tbi",
    log:
        "logs/hotspots/{sample}.call.log",
    benchmark:
        "benchmarks/hotspots/hotspots_call/{sample}.tsv"
    wildcard_constraints:
        sample=samples_regex(sample_ids("tumor", "plasma")),
    conda:
        "../../envs/pysam.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        sample=lambda wc: sample_info(wc.sample),
        normals=lambda w: {
            s: f"{HOTSPOTS_DIR}/{s}/counts.tsv" for s in matched_normals(w.sample)
        },
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
