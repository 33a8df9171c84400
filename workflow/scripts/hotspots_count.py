"""Codon counts of one sample (thin wrapper over erbbscreen.hotspots.run_count)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.hotspots import run_count  # noqa: E402

run_count(snakemake.input.aln, snakemake.input.hotspots, snakemake.input.fasta,  # noqa: F821
          snakemake.output.counts, qc=snakemake.input.qc, params=snakemake.params.settings)  # noqa: F821
