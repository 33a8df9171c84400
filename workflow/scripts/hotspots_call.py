"""Hotspot counts + calls of a batch of tumour/plasma samples (thin wrapper over
erbbscreen.hotspots.run_count_and_call, one call per sample)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.batch import run_jobs  # noqa: E402
from erbbscreen.hotspots import run_count_and_call  # noqa: E402

i, p = snakemake.input, snakemake.params  # noqa: F821


def one(job):
    j, o = job["input"], job["output"]
    run_count_and_call(j["aln"], i.hotspots, i.fasta, job["sample"], o["counts"], o["table"], o["biomarkers"],
                       o["vcf"], qc=j["qc"], background=i.background, matched_normals=j["normals"],
                       params=p.settings)


run_jobs("hotspots_call", p.jobs, one)
