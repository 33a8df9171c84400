"""Target + antitarget coverage of a batch of samples (thin wrapper over erbbscreen.copynumber.run_coverage, one
call per sample; CNVkit's files, written without importing CNVkit: erbbscreen.cnv_coverage)."""
import logging
import os
import sys

from erbbscreen.batch import run_jobs
from erbbscreen.copynumber import cnv_settings, run_coverage
from erbbscreen.guard import run_or_not_evaluable

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
settings = cnv_settings(p.settings)


def one(job):
    j, o = job["input"], job["output"]
    run_or_not_evaluable("cnv_coverage", j["qc"], os.path.dirname(o["target"]), lambda qc: run_coverage(
        j["aln"], qc, i.targets, i.antitargets, o["target"], o["antitarget"], fasta=i.fasta, settings=settings,
        processes=snakemake.threads))  # noqa: F821


run_jobs("cnv_coverage", p.jobs, one)
