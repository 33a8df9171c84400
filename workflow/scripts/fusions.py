"""NRG1 fusion detection for one sample (thin wrapper over erbbscreen.fusions.run)."""
import logging
import os

from erbbscreen.fusions import run
from erbbscreen.guard import run_or_not_evaluable


def _one(files):
    """A named input given as a possibly empty list: its path or None."""
    if not files:
        return None
    return files if isinstance(files, str) else files[0]


logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
out_dir = os.path.dirname(snakemake.output.tsv)  # noqa: F821
run_or_not_evaluable("fusions", i.qc, out_dir, lambda qc: run(
    i.aln, i.transcripts, out_dir, p.sample, fasta=i.fasta, domains_path=_one(i.domains), qc_path=qc,
    settings=p.settings, tumor_fraction_path=_one(i.tumor_fraction)))
