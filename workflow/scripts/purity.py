"""Purity / ctDNA fraction of one tumour or plasma sample (thin wrapper over erbbscreen.purity.run_sample)."""
import logging
import sys

from erbbscreen.purity import purity_settings, run_sample

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run_sample(p.sample, i.aln, i.qc, i.targets, i.cnr, i.cns, i.hotspots, o.table, o.biomarkers, o.snps,
           normal_bams=list(i.normals), normal_qcs=list(i.normal_qc), fasta=i.fasta,
           settings=purity_settings(p.settings))
