"""Hotspot calls of one tumour/plasma sample (thin wrapper over erbbscreen.hotspots.run_call)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.hotspots import run_call  # noqa: E402

out = snakemake.output  # noqa: F821
run_call(snakemake.input.counts, snakemake.input.hotspots, snakemake.input.fasta,  # noqa: F821
         snakemake.params.sample, out.table, out.biomarkers, out.vcf,  # noqa: F821
         background=snakemake.input.background, matched_normals=snakemake.params.normals,  # noqa: F821
         params=snakemake.params.settings)  # noqa: F821
