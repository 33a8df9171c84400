"""Codon counts of one sample (thin wrapper over erbbscreen.hotspots.run_count)."""
import logging
import os
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.guard import run_or_not_evaluable  # noqa: E402
from erbbscreen.hotspots import run_count  # noqa: E402

out = snakemake.output.counts  # noqa: F821
run_or_not_evaluable("hotspots_count", snakemake.input.qc, os.path.dirname(out),  # noqa: F821
                     lambda qc: run_count(snakemake.input.aln, snakemake.input.hotspots,  # noqa: F821
                                          snakemake.input.fasta, out, qc=qc,  # noqa: F821
                                          params=snakemake.params.settings))  # noqa: F821
