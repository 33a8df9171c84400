"""fix + segment + call + plots of a batch of samples (thin wrapper over erbbscreen.copynumber.run_segment, one
call per sample; CNVkit is imported once per batch)."""
import logging
import sys

from erbbscreen.batch import run_jobs
from erbbscreen.copynumber import cnv_settings, run_segment

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
settings = cnv_settings(p.settings)


def one(job):
    j = job["input"]
    run_segment(job["sample"], j["qc"], j["target"], j["antitarget"], i.reference, i.choice, job["output"],
                settings=settings, wgs=p.wgs, processes=snakemake.threads,  # noqa: F821
                transcripts=i.transcripts or None)


run_jobs("cnv_segment", p.jobs, one)
