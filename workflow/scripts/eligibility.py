"""Trial eligibility for the cohort (thin wrapper over erbbscreen.eligibility.run)."""
import logging
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake object injected)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

from erbbscreen.eligibility import run  # noqa: E402

run(
    biomarkers=snakemake.input.biomarkers,  # noqa: F821
    qc=snakemake.input.qc,  # noqa: F821
    trials=snakemake.input.trials,  # noqa: F821
    out_table=snakemake.output.table,  # noqa: F821
    out_funnel=snakemake.output.funnel,  # noqa: F821
    out_patients=snakemake.output.patients,  # noqa: F821
    settings=dict(snakemake.params.settings),  # noqa: F821
)
