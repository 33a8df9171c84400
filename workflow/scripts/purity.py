"""Purity / ctDNA fraction of a batch of tumour or plasma samples (thin wrapper over erbbscreen.purity.run_sample,
one call per sample)."""
import logging
import sys

from erbbscreen.batch import run_jobs
from erbbscreen.purity import purity_settings, run_sample

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
settings = purity_settings(p.settings)


def one(job):
    j, o = job["input"], job["output"]
    run_sample(job["sample"], j["aln"], j["qc"], i.targets, j["cnr"], j["cns"], j["hotspots"], o["table"],
               o["biomarkers"], o["snps"], normal_bams=j["normals"], normal_qcs=j["normal_qc"], fasta=i.fasta,
               settings=settings)


run_jobs("purity", p.jobs, one)
