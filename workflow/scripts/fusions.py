"""NRG1 fusion detection for one sample (thin wrapper over erbbscreen.fusions.run)."""
import logging
import os

from erbbscreen.fusions import run


def _one(files):
    """A named input given as a possibly empty list: its path or None."""
    if not files:
        return None
    return files if isinstance(files, str) else files[0]


logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
i, p = snakemake.input, snakemake.params  # noqa: F821
run(i.aln, i.transcripts, os.path.dirname(snakemake.output.tsv), p.sample, fasta=i.fasta,  # noqa: F821
    domains_path=_one(i.domains), qc_path=i.qc, settings=p.settings, tumor_fraction_path=_one(i.tumor_fraction))
