"""Hotspot counts + calls of one tumour/plasma sample (thin wrapper over erbbscreen.hotspots.run_count_and_call)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.hotspots import run_count_and_call  # noqa: E402

i, out = snakemake.input, snakemake.output  # noqa: F821
run_count_and_call(i.aln, i.hotspots, i.fasta, snakemake.params.sample, out.counts, out.table,  # noqa: F821
                   out.biomarkers, out.vcf, qc=i.qc, background=i.background,
                   matched_normals=snakemake.params.normals, params=snakemake.params.settings)  # noqa: F821
