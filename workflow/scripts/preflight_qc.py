"""Link one sample's alignment under results/preflight, measure its QC and apply the thresholds (thin wrapper)."""
import sys

from erbbscreen.preflight import link_and_qc

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
p, o = snakemake.params, snakemake.output  # noqa: F821
row = link_and_qc(p.sample, o.aln, o.idx, o.qc, fasta=p.fasta, build=p.build, qc=p.qc, panel_bed=p.panel,
                  transcripts_bed=p.transcripts, threads=snakemake.threads)  # noqa: F821
print(row, file=sys.stderr)
