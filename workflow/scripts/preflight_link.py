"""Link one sample's alignment and index under results/preflight (thin wrapper)."""
import sys

from erbbscreen.preflight import link_sample

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
note = link_sample(snakemake.params.bam, snakemake.output.aln, snakemake.output.idx,  # noqa: F821
                   fasta=snakemake.params.fasta, build=snakemake.params.build)  # noqa: F821
print(f"{snakemake.wildcards.sample}: {note}", file=sys.stderr)  # noqa: F821
