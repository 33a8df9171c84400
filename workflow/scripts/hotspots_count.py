"""Codon counts of a batch of normals (thin wrapper over erbbscreen.hotspots.run_count, one call per sample)."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.batch import run_jobs  # noqa: E402
from erbbscreen.guard import run_or_not_evaluable  # noqa: E402
from erbbscreen.hotspots import run_count  # noqa: E402

i, p = snakemake.input, snakemake.params  # noqa: F821


def one(job):
    j, out = job["input"], job["output"]["counts"]
    run_or_not_evaluable("hotspots_count", j["qc"], os.path.dirname(out),
                         lambda qc: run_count(j["aln"], i.hotspots, i.fasta, out, qc=qc, params=p.settings))


run_jobs("hotspots_count", p.jobs, one)
