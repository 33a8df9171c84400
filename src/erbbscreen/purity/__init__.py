"""Tumour purity (tissue) and ctDNA fraction (plasma) measured from the reads (docs/purity.md).

Three estimators, each with its own value, interval and evidence counts:

(a) ``snp_imbalance``: germline heterozygous SNPs (found in the matched normal when there is one, else in the
    sample itself) counted by htslib (``pysam.AlignmentFile.count_coverage``, no Python loop over reads) over the
    CNVkit target bins +- a flank; per CNVkit segment the mirrored B-allele fraction ``b`` (minor-allele share) is
    fitted by maximum likelihood with the phase unknown. In a lost (LOH) segment ``p = (1 - 2b) / (1 - b)``, i.e.
    the Wyatt-lab ``TF = 2 - 1/HSAF`` with HSAF = 1 - b; copy-neutral LOH ``p = 1 - 2b``; single-copy gain
    ``p = 1/b - 2`` when the depth ratio agrees. Segments combined by inverse variance.
(b) ``segment_fit``: a PURPLE-style grid over purity (ploidy 2, CNVkit centres log2 on the median): each segment
    with >= ``min_bins`` bins takes the integer (major, minor) copy state that best explains its depth ratio and
    (when it has SNPs) its B-allele fraction; the purity minimising the summed squared deviations (plus a small
    penalty per changed copy, PURPLE's parsimony) wins; interval = chi-square profile (delta <= 3.84).
(c) ``somatic_vaf``: the highest somatic hotspot VAF of the hotspots stage's published table: ``p = 2 VAF``
    (clonal heterozygous, diploid) with a Clopper-Pearson interval whose lower end is taken as the Wyatt-lab
    ``2/(1 + 1/VAF)`` at the VAF's binomial lower bound (a conservative floor for plasma).

Plasma adds the lower bound a detected amplification implies (``f >= (pCN - 2)/(max_cn - 2)``) and, when no
estimator finds tumour DNA, "below detection" with the LoD of a clonal hotspot mutation from depth and the
hotspots stage's background-aware minimum alt count (WISP-style LoD). Never a silent zero.

Combination (docs/purity.md, "Combination rule"): sheet purity wins when given (warning when the data disagree by
> ``sheet_disagreement``); else the copy-number estimators (a, b) combined by inverse variance, (c) joining when it
agrees within ``disagreement``; a disagreement is flagged and the interval spans the disagreeing estimates.
States: ``LOW_PURITY`` (value < floor; PURPLE WARN_LOW_PURITY 0.20), ``NO_TUMOR_EVIDENCE`` (plasma: nothing
found), ``UNRESOLVED`` (tissue: copy-neutral without SNV: nothing to estimate from).

Command line (standalone on one BAM):
    erbb-screen purity --bam X.bam --sample-type tumor [--cnr X.cnr --cns X.cns] [--normal N.bam]
        [--hotspots-table hotspots.tsv] [--targets targets.bed] --out purity.tsv
"""
from erbbscreen.purity.combine import (PurityResult, clonal_power, combine, local_cn, result_row,  # noqa: F401
                                       tumor_fraction_row)
from erbbscreen.purity.common import (METHODS, NORMAL, PLASMA, STATES, TISSUE, purity_defaults,  # noqa: F401
                                      purity_settings)
from erbbscreen.purity.estimators import (Estimate, amplification_bound, detection_limit,  # noqa: F401
                                          estimate_segment_fit, estimate_snp_imbalance, estimate_somatic_vaf,
                                          read_hotspot_rows)
from erbbscreen.purity.snps import allele_counts, het_snps, mirrored_baf, read_regions, segment_table  # noqa: F401
from erbbscreen.purity.stage import estimate_sample, main, read_purity_row, run_sample  # noqa: F401
