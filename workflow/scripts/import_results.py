"""Import one sample's result files (thin wrapper over erbbscreen.importer.run_sheet_sample)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.importer import run_sheet_sample  # noqa: E402

p = snakemake.params  # noqa: F821
run_sheet_sample(dict(p.sample), dict(p.row), p.build, dict(snakemake.output), config=dict(p.config),  # noqa: F821
                 fasta=p.fasta, hotspots=snakemake.input.hotspots or None,  # noqa: F821
                 transcripts=snakemake.input.transcripts or None, domains=snakemake.input.domains or None)  # noqa: F821
