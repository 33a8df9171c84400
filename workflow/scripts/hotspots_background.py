"""Per-site background error from the cohort's normals (thin wrapper over erbbscreen.hotspots.run_background)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.hotspots import run_background  # noqa: E402

run_background(dict(zip(snakemake.params.normals, snakemake.input.counts)),  # noqa: F821
               snakemake.input.hotspots, snakemake.input.fasta, snakemake.output.background,  # noqa: F821
               params=snakemake.params.settings)  # noqa: F821
