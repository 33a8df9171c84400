"""The sample sheet (contract: shared/interfaces.md): load, validate every row, report every problem at once."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from erbbscreen.errors import InputError

#: The workflow tree this package lives in (src/erbbscreen -> repository root).
WORKFLOW_DIR = Path(__file__).resolve().parents[2]
SCHEMA = WORKFLOW_DIR / "workflow" / "schemas" / "samples.schema.yaml"
REQUIRED = ("patient_id", "sample_id", "sample_type", "bam")
OPTIONAL = ("purity",)
#: Result-file columns of an imported row (docs/import.md, "Sample sheet"): such a row has an empty `bam` and
#: goes through `erbb-screen import` instead of the BAM stages.
RESULT_FILE_COLUMNS = ("vcf", "maf", "cnr", "cns", "purple_gene_cn", "fusions", "callable")
RESULT_OPTION_COLUMNS = ("vcf_sample", "maf_sample", "fusion_assay")
FUSION_ASSAYS = ("rna", "dna-nrg1-introns", "unknown")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SAMPLE_TYPES = ("tumor", "plasma", "normal")
FIX_SORT = "fix: samtools sort -o sorted.bam input.bam && samtools index sorted.bam"


def _explain_id(value: str) -> str:
    """Why an id breaks the contract pattern, in words a user can act on."""
    if value == "":
        return "is empty"
    if len(value) > 64:
        return f"is {len(value)} characters long (at most 64)"
    if re.search(r"\s", value):
        return "contains whitespace"
    bad = sorted({c for c in value if not re.match(r"[A-Za-z0-9._-]", c)})
    if bad:
        return "contains " + ", ".join(repr(c) for c in bad) + " (shell metacharacters and other symbols are not allowed)"
    return "must start with a letter or digit"


def _parse_purity(raw: str):
    """Return (value or None, problem or None) for a purity cell."""
    raw = raw.strip()
    if raw == "" or raw.upper() in ("NA", "NAN", "."):
        return None, None
    try:
        value = float(raw)
    except ValueError:
        return None, f"'{raw}' is not a number"
    if not (0 < value <= 1):
        return None, f"{raw} is out of range"
    return value, None


def load_samplesheet(path) -> pd.DataFrame:
    """Load and validate a sample sheet; raise :class:`InputError` listing every problem.

    Returns a DataFrame indexed by ``sample_id`` with columns ``patient_id, sample_type, bam`` (absolute path,
    relative paths resolved against the sheet's folder; empty for an imported row), ``bam_given`` (as written),
    ``purity`` (float or NaN) and ``imported`` (True for a row of result files, whose paths are resolved the same
    way). Extra columns are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError([f"{path}: sample sheet not found; fix: set `samples:` in the config to an existing TSV"])
    try:
        # utf-8-sig: spreadsheet programs save a UTF-8 byte-order mark that would otherwise glue onto 'patient_id'
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#", encoding="utf-8-sig")
    except Exception as exc:  # pandas raises several types for malformed TSV
        raise InputError([f"{path}: cannot be read as a tab-separated table ({exc})"]) from exc
    df.columns = [c.strip() for c in df.columns]
    problems = []
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        hint = ""
        if len(df.columns) == 1 and ("," in df.columns[0] or " " in df.columns[0]):
            hint = " (the header looks comma- or space-separated; the sheet must be tab-separated)"
        raise InputError([f"{path}: missing required column(s) {', '.join(missing)}{hint}; "
                          f"required: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)}"])
    if df.empty:
        raise InputError([f"{path}: the sample sheet has no samples"])

    purities = []
    for i, row in df.iterrows():
        line = i + 2  # header is line 1
        where = f"{path}, line {line}"
        for col in ("patient_id", "sample_id"):
            value = row[col]
            if not ID_PATTERN.match(value):
                problems.append(f"{where}, column '{col}': '{value}' {_explain_id(value)}; allowed: letters, digits, "
                                "'.', '_' and '-', starting with a letter or digit, at most 64 characters")
        if row["sample_type"] not in SAMPLE_TYPES:
            problems.append(f"{where}, column 'sample_type': '{row['sample_type']}' is not allowed; "
                            f"allowed: {', '.join(SAMPLE_TYPES)}")
        results = [c for c in RESULT_FILE_COLUMNS if c in df.columns and row[c].strip()]
        if results:
            problems += _imported_row_problems(row, results, where, df.columns)
        elif row["bam"].strip() == "":
            problems.append(f"{where}, column 'bam': empty; give the path of a coordinate-sorted BAM or CRAM, or "
                            f"result files in the columns {', '.join(RESULT_FILE_COLUMNS)} (docs/import.md)")
        elif not re.search(r"\.(bam|cram)$", row["bam"].strip(), re.IGNORECASE):
            problems.append(f"{where}, column 'bam': '{row['bam']}' does not end in .bam or .cram; "
                            "give a coordinate-sorted BAM or CRAM")
        value, problem = _parse_purity(row["purity"]) if "purity" in df.columns else (None, None)
        if problem:
            problems.append(f"{where}, column 'purity': {problem}; allowed: a number with 0 < purity <= 1, "
                            "or empty when unknown")
        purities.append(value)

    dup = df["sample_id"][df["sample_id"].duplicated(keep=False)]
    for sid in sorted(set(dup)):
        lines = [str(i + 2) for i in df.index[df["sample_id"] == sid]]
        problems.append(f"{path}, lines {', '.join(lines)}, column 'sample_id': '{sid}' is used more than once; "
                        "sample ids must be unique in the sheet")
    if problems:
        raise InputError(problems, header=f"Sample sheet {path} is invalid")

    df = df.copy()
    df["purity"] = pd.array(purities, dtype="Float64").astype(float)
    df["bam_given"] = df["bam"]
    base = path.resolve().parent
    df["bam"] = [str(p) if Path(p).is_absolute() else str((base / p)) if p else "" for p in df["bam"].str.strip()]
    for col in RESULT_FILE_COLUMNS:
        if col in df.columns:
            df[col] = [str(p) if Path(p).is_absolute() else str((base / p)) if p else "" for p in df[col].str.strip()]
    df["imported"] = [any(col in df.columns and row[col] for col in RESULT_FILE_COLUMNS) for _, row in df.iterrows()]
    df["line"] = df.index + 2
    return df.set_index("sample_id", drop=False)


def _imported_row_problems(row, results, where, columns) -> list:
    """Problems of a row that points to result files instead of an alignment."""
    problems = []
    if row["bam"].strip():
        problems.append(f"{where}: both 'bam' and result-file column(s) {', '.join(results)} are filled; a row is "
                        "either an alignment or imported results; fix: empty one of them (or use two sample ids)")
    if row["sample_type"] not in ("tumor", "plasma"):
        problems.append(f"{where}, column 'sample_type': imported results must be tumor or plasma, not "
                        f"{row['sample_type']!r}")
    if "vcf" in results and "maf" in results:
        problems.append(f"{where}: both 'vcf' and 'maf' given; fix: one variant file per row")
    if ("cnr" in results or "cns" in results) and "purple_gene_cn" in results:
        problems.append(f"{where}: CNVkit ('cnr'/'cns') and PURPLE ('purple_gene_cn') both given; fix: one of them")
    if "cns" in results and "cnr" not in results:
        problems.append(f"{where}, column 'cns': a .cns needs the .cnr beside it (column 'cnr')")
    assay = row["fusion_assay"].strip() if "fusion_assay" in columns else ""
    if assay and assay not in FUSION_ASSAYS:
        problems.append(f"{where}, column 'fusion_assay': {assay!r} is not allowed; allowed: {', '.join(FUSION_ASSAYS)}"
                        " (empty = unknown)")
    return problems


def schema_path() -> Path:
    return SCHEMA


def load_schema() -> dict:
    from erbbscreen.settings import read_bundled_yaml

    return read_bundled_yaml(SCHEMA)
