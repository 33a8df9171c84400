"""Measure QC of one sample and apply the thresholds (thin wrapper)."""
import sys

from erbbscreen.preflight import run_sample_qc

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
p = snakemake.params  # noqa: F821
row = run_sample_qc(p.sample, snakemake.input.aln, snakemake.output[0], fasta=p.fasta, build=p.build,  # noqa: F821
                    qc=p.qc, panel_bed=p.panel, transcripts_bed=p.transcripts, threads=snakemake.threads)  # noqa: F821
print(row, file=sys.stderr)
