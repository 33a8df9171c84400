# Purity / ctDNA fraction (docs/purity.md): one job per tumour/plasma sample, pysam + numpy (no CNVkit import).
#   purity  (tumor + plasma)  het-SNP allele counts by htslib over the CNVkit target bins (matched normal first),
#                             allelic imbalance within the CNVkit segments, integer-state segment fit, highest somatic
#                             hotspot VAF (the hotspots stage's published table) -> value + interval + states,
#                             the TUMOR_FRACTION biomarker row (this stage owns it) and the clonal-mutation power of
#                             every hotspot codon without a call
#   purity_table (cohort)     results/tables/purity.tsv

PURITY = config.get("purity") or {}
PURITY_DIR = "results/purity"


rule purity:
    input:
        aln=alignment,
        idx=alignment_index,
        qc="results/preflight/{sample}/qc.tsv",
        targets=rules.cnv_bins.output.targets,
        cnr=f"{CNV_DIR}/{{sample}}/{{sample}}.cnr",
        cns=f"{CNV_DIR}/{{sample}}/{{sample}}.cns",
        hotspots=f"{HOTSPOTS_DIR}/{{sample}}/hotspots.tsv",
        normals=matched_normal_alignments,
        normal_idx=matched_normal_indexes,
        normal_qc=lambda w: [
            f"results/preflight/{n}/qc.tsv" for n in matched_normals(w.sample)
        ],
        fasta=REFERENCE["fasta"],
    output:
        table=f"{PURITY_DIR}/{{sample}}/purity.tsv",
        biomarkers=f"{PURITY_DIR}/{{sample}}/biomarkers.tsv",
        snps=f"{PURITY_DIR}/{{sample}}/het_snps.tsv",
    log:
        "logs/purity/{sample}.log",
    benchmark:
        "benchmarks/purity/{sample}.tsv"
    conda:
        "../../envs/pysam.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        sample=lambda w: sample_info(w.sample),
        settings=PURITY,
    script:
        "../scripts/purity.py"


rule purity_table:
    input:
        expand(f"{PURITY_DIR}/{{s}}/purity.tsv", s=sample_ids("tumor", "plasma")),
    output:
        "results/tables/purity.tsv",
    log:
        "logs/purity/table.log",
    benchmark:
        "benchmarks/purity/table.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        table="purity",
    script:
        "../scripts/merge_tables.py"
