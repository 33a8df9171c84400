"""Common shapes of imported evidence: one variant record, and per-position coverage.

Every reader (VCF, MAF) turns its format into :class:`VariantRecord` objects and, where the file says so,
:class:`Coverage` intervals; everything downstream (codon assembly, absence rules) sees only these.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from erbbscreen.hotspots import resolve_contig


@dataclass
class VariantRecord:
    """One called allele, 1-based ``pos`` of the first REF base (VCF convention; MAF SNV/MNV rows as given)."""

    chrom: str
    pos: int
    ref: str
    alt: str
    source: str                      # "file:line" for messages
    gene: str = ""                   # from the file (MAF Hugo_Symbol, VCF CSQ/ANN SYMBOL) when given
    protein_change: str = ""         # producer's annotation (p.G12D), normalised to one-letter p. notation
    ref_codon: str = ""              # producer's reference codon (MAF/VEP `Codons` column), coding strand, upper case
    depth: int | None = None
    alt_reads: int | None = None
    vaf: float | None = None
    passed: bool = True              # FILTER PASS (or no filter information)
    filters: str = ""

    @property
    def is_substitution(self) -> bool:
        """SNV or MNV (REF and ALT of one length, plain bases): can be placed base by base in a codon."""
        return (len(self.ref) == len(self.alt) and self.ref.isalpha() and self.alt.isalpha()
                and set(self.ref.upper() + self.alt.upper()) <= set("ACGTN"))

    def positions(self) -> range:
        """1-based reference positions the record spans (an insertion touches its anchor base only)."""
        return range(self.pos, self.pos + max(len(self.ref), 1))

    def describe(self) -> str:
        where = f"{self.chrom}:{self.pos} {self.ref}>{self.alt}"
        return f"{self.gene + ' ' if self.gene else ''}{self.protein_change + ' ' if self.protein_change else ''}" \
               f"({where}; {self.source})"


@dataclass
class Coverage:
    """Intervals where the input says how well the assay covered the genome.

    ``intervals``: (chrom, start0, end0, depth or None, source). ``depth`` None = declared adequately covered
    (a callable BED without depth); a number = the reads the file reports (gVCF block MIN_DP/DP, record DP).
    """

    intervals: list = field(default_factory=list)
    sources: list = field(default_factory=list)   # human-readable list of what was read

    def add(self, chrom, start0, end0, depth, source):
        self.intervals.append((str(chrom), int(start0), int(end0), depth, source))

    def depth_at(self, chrom: str, pos1: int):
        """(covered, depth, source) for one 1-based position: covered None when nothing is known there.

        Several intervals over one position: the highest stated depth counts (a variant record's DP and a
        block's MIN_DP both describe the same site); a declared callable interval counts as covered.
        """
        best = None
        contigs = {c for c, *_ in self.intervals}
        name = resolve_contig(chrom, contigs)
        if name is None:
            return None, None, ""
        for c, s, e, d, src in self.intervals:
            if c == name and s < pos1 <= e:
                if best is None or (d is None and best[1] is not None) or (
                        d is not None and best[1] is not None and d > best[1]):
                    best = (True, d, src)
        return best if best else (None, None, "")
