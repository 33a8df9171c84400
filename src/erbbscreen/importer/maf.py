"""MAF reader (TCGA/GDC, cBioPortal, vcf2maf, maftools example files).

Column names are matched case-insensitively, so producer spellings such as ``Start_position`` /
``Start_Position`` / ``End_position`` are one column. Required: ``Chromosome``, ``Start_Position``,
``Reference_Allele``, ``Tumor_Seq_Allele2`` (or ``Tumor_Seq_Allele1`` when Allele2 is absent or equals the
reference), ``Tumor_Sample_Barcode`` when the file holds several samples. Optional: ``Hugo_Symbol``;
``t_depth``/``t_alt_count`` (read support; absent in many public MAFs); ``t_ref_count``; ``FILTER``;
protein change from ``HGVSp_Short`` / ``Protein_Change`` / ``AAChange`` / ``amino_acid_change`` / ``HGVSp``;
reference codon from ``Codons`` (VEP, e.g. ``gGt/gAt``).

MAF alleles use ``-`` for the empty side of an indel; those rows become indel records (never substitutions).
A MAF lists variants only: it says nothing about coverage, so every codon without a record is
``not_evaluable`` unless ``--callable`` says otherwise (docs/import.md).
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd

from erbbscreen.errors import InputError
from erbbscreen.importer.codons import normalise_protein
from erbbscreen.importer.records import VariantRecord

PROTEIN_COLUMNS = ("hgvsp_short", "protein_change", "aachange", "amino_acid_change", "hgvsp")
REQUIRED = ("chromosome", "start_position", "reference_allele")


def _open(path):
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode("utf-8", errors="replace"))


def read_maf(path, sample: str | None = None):
    """Read a MAF; return (records, chosen Tumor_Sample_Barcode or None)."""
    path = Path(path)
    if not path.is_file():
        raise InputError([f"{path}: MAF not found; fix: check the --maf path / sheet column maf"])
    try:
        df = pd.read_csv(_open(path), sep="\t", dtype=str, keep_default_na=False, comment="#", low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError([f"{path}: cannot be read as a tab-separated MAF ({exc})"])
    cols = {c.strip().lower(): c for c in df.columns}
    missing = [c for c in REQUIRED if c not in cols]
    if "tumor_seq_allele2" not in cols and "tumor_seq_allele1" not in cols:
        missing.append("tumor_seq_allele2")
    if missing:
        raise InputError([f"{path}: missing MAF column(s) {', '.join(missing)} (matched case-insensitively); "
                          f"columns found: {', '.join(list(df.columns)[:20])}; fix: give a MAF with "
                          "Chromosome, Start_Position, Reference_Allele, Tumor_Seq_Allele2"])

    def col(name):
        return df[cols[name]] if name in cols else pd.Series([""] * len(df), index=df.index)

    barcodes = col("tumor_sample_barcode")
    present = sorted(set(barcodes) - {""})
    chosen = None
    if sample:
        if sample not in present:
            close = [b for b in present if b.startswith(sample) or sample.startswith(b)]
            raise InputError([f"{path}: --maf-sample {sample!r} is not a Tumor_Sample_Barcode of the file "
                              f"({len(present)} present{': ' + ', '.join(present[:8]) if present else ''}"
                              f"{' ...' if len(present) > 8 else ''}); "
                              + (f"did you mean {close[0]!r}? " if close else "") + "fix: give one of these"])
        chosen = sample
    elif len(present) > 1:
        raise InputError([f"{path}: {len(present)} samples in Tumor_Sample_Barcode ({', '.join(present[:8])}"
                          f"{' ...' if len(present) > 8 else ''}); fix: choose one with --maf-sample "
                          "(sheet column maf_sample)"])
    elif present:
        chosen = present[0]
    keep = (barcodes == chosen) if chosen is not None else pd.Series(True, index=df.index)
    prot_col = next((c for c in PROTEIN_COLUMNS if c in cols), None)
    records, problems = [], []
    for i in df.index[keep]:
        line = int(i) + 2
        where = f"{path.name}:{line}"
        chrom = col("chromosome")[i].strip()
        ref = col("reference_allele")[i].strip().upper()
        a2 = col("tumor_seq_allele2")[i].strip().upper()
        a1 = col("tumor_seq_allele1")[i].strip().upper()
        alt = a2 if a2 and a2 != ref else a1
        try:
            start = int(float(col("start_position")[i]))
        except ValueError:
            problems.append(f"{where}: Start_Position {col('start_position')[i]!r} is not a number")
            continue
        if not chrom or not ref or not alt or alt == ref:
            continue
        if ref == "-":           # insertion after Start_Position: anchor on that base
            ref, alt = "N", "N" + alt
        elif alt == "-":         # deletion of Start..End: keep VCF-like with an unknown anchor
            ref, alt, start = "N" + ref, "N", start - 1
        depth = _int(col("t_depth")[i])
        alt_reads = _int(col("t_alt_count")[i])
        ref_reads = _int(col("t_ref_count")[i])
        if depth is None and alt_reads is not None and ref_reads is not None:
            depth = alt_reads + ref_reads
        vaf = alt_reads / depth if (alt_reads is not None and depth) else None
        filt = col("filter")[i].strip()
        passed = filt in ("", ".", "PASS")
        codons = col("codons")[i].strip()
        ref_codon = codons.split("/")[0].upper() if "/" in codons else ""
        records.append(VariantRecord(chrom, start, ref, alt, where, col("hugo_symbol")[i].strip(),
                                     normalise_protein(df[cols[prot_col]][i]) if prot_col else "",
                                     ref_codon if len(ref_codon) == 3 else "", depth, alt_reads, vaf, passed,
                                     "" if passed else filt))
    if problems:
        raise InputError(problems, header=f"MAF {path} has malformed rows")
    return records, chosen


def _int(x):
    try:
        v = int(float(x))
    except (TypeError, ValueError):
        return None
    return v if v >= 0 else None
