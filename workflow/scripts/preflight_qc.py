"""Link a batch of samples' alignments under results/preflight, measure their QC and apply the thresholds (thin
wrapper over erbbscreen.preflight.link_and_qc, one call per sample)."""
import logging
import sys

from erbbscreen.batch import run_jobs
from erbbscreen.preflight import link_and_qc

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
p = snakemake.params  # noqa: F821


def one(job):
    o = job["output"]
    row = link_and_qc(job["sample"], o["aln"], o["idx"], o["qc"], fasta=p.fasta, build=p.build, qc=p.qc,
                      panel_bed=p.panel, transcripts_bed=p.transcripts, threads=snakemake.threads)  # noqa: F821
    print(row, file=sys.stderr)


run_jobs("preflight_qc", p.jobs, one)
