"""The contract's output tables (shared/interfaces.md): fixed columns, readers and writers.

Every stage writes its per-sample tables with :func:`write_table`, so the fixed columns always
come first, in contract order, followed by any extra columns the stage adds.

Every output file is written under a temporary name beside it and renamed into place only once complete
(:func:`atomic_output`), so a crash or SIGKILL never leaves a partial file under an output's name.
"""
from __future__ import annotations

import csv
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a function needs it: the table-merge jobs never do (~0.25 s a job)
    import pandas as pd

#: Fixed leading columns of each published table, in contract order.
COLUMNS = {
    "qc": ["sample_id", "patient_id", "sample_type", "status", "reasons"],
    "copy_number": ["sample_id", "patient_id", "sample_type", "gene", "log2", "copy_number", "purity", "call", "reason"],
    "hotspots": ["sample_id", "patient_id", "sample_type", "gene", "codon", "depth", "alt_reads", "vaf",
                 "protein_change", "relative_clonality", "status", "reason"],
    "fusions": ["sample_id", "patient_id", "sample_type", "gene_5p", "gene_3p", "chrom_5p", "pos_5p", "chrom_3p",
                "pos_3p", "split_reads", "discordant_pairs"],
    "biomarkers": ["patient_id", "sample_id", "sample_type", "biomarker", "status", "value", "evidence"],
    "eligibility": ["patient_id", "trial_id", "status", "reasons", "next_steps", "caveats"],
    "purity": ["sample_id", "patient_id", "sample_type", "purity", "purity_low", "purity_high", "source", "states",
               "reason"],
}


def order_columns(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``df`` with the contract columns of ``table`` first (missing ones added empty)."""
    fixed = COLUMNS[table]
    df = df.copy()
    for col in fixed:
        if col not in df.columns:
            df[col] = ""
    extra = [c for c in df.columns if c not in fixed]
    return df[fixed + extra]


@contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; it becomes ``path`` (atomic rename) only if the block succeeds.

    A hidden name (``.<name>.tmp``) in the same folder keeps the rename on one file system and out of globs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path, text: str) -> None:
    """Write a text file atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_table(df, path, table: str | None = None) -> None:
    """Write a tab-separated table atomically (temp file + rename); ``table`` orders contract columns."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df, columns=COLUMNS[table] if table and not df else None)
    if table:
        df = order_columns(df, table)
    with atomic_output(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="")


def read_table(path) -> pd.DataFrame:
    """Read a TSV written by :func:`write_table`: strings kept as strings, empty cells as ''."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def concat_tables(paths, out, table: str) -> int:
    """Concatenate per-sample tables (written by :func:`write_table`) into one published table; empty inputs are
    fine. Returns the number of rows.

    The cells are copied as text with the csv module (the job imports no pandas): the same file as reading each
    table with :func:`read_table`, ``pandas.concat`` (columns in order of first appearance, a missing cell empty)
    and :func:`write_table`, byte for byte (tests/test_tables.py)."""
    columns, rows = [], []
    for path in paths:
        if Path(path).stat().st_size == 0:
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            records = csv.reader(fh, delimiter="\t")
            header = next(records, None)
            if not header:
                continue
            columns += [c for c in header if c not in columns]
            rows += [dict(zip(header, record)) for record in records if record]  # pandas skips blank lines
    fixed = COLUMNS[table]
    columns = fixed + [c for c in columns if c not in fixed]
    with atomic_output(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return len(rows)


def read_qc_row(path) -> dict:
    """The one-row per-sample QC table as a dict (``status`` is ``pass`` or ``fail``)."""
    df = read_table(path)
    if len(df) != 1:
        raise ValueError(f"{path}: expected exactly one QC row, found {len(df)}")
    return df.iloc[0].to_dict()


def parse_float(x):
    """A table cell as float: None for empty, non-numeric, NaN or boolean values."""
    if x is None or isinstance(x, bool) or x == "":
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v
