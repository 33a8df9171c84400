"""NRG1 fusion detection for a batch of samples (thin wrapper over erbbscreen.fusions.run, one call per sample)."""
import logging
import os
import sys

from erbbscreen.batch import run_jobs
from erbbscreen.fusions import run
from erbbscreen.guard import run_or_not_evaluable

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
domains = i.domains[0] if i.domains else None


def one(job):
    j = job["input"]
    out_dir = os.path.dirname(job["output"]["tsv"])
    run_or_not_evaluable("fusions", j["qc"], out_dir, lambda qc: run(
        j["aln"], i.transcripts, out_dir, job["sample"], fasta=i.fasta, domains_path=domains, qc_path=qc,
        settings=p.settings, tumor_fraction_path=j["tumor_fraction"]))


run_jobs("fusions", p.jobs, one)
