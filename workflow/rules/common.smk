# Loading and validation shared by every stage: config, sample sheet, reference, annotation.
# The logic lives in the erbbscreen package (src/erbbscreen); this file only wires it into Snakemake.
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

_SRC = os.path.join(workflow.basedir, "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
# Scripts run in child processes (and in conda envs): let them import erbbscreen from this checkout.
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH", "")) if p)
)

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from erbbscreen import __version__ as ERBBSCREEN_VERSION
from erbbscreen.errors import InputError
from erbbscreen.preflight import format_sample_problems, preflight_cohort

if not workflow.overwrite_configfiles and not config:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


try:
    _PREFLIGHT = preflight_cohort(
        dict(config), check_alignments=workflow.is_main_process
    )
except InputError as exc:
    raise WorkflowError(str(exc))

# Same schemas through Snakemake's validator (fills in defaults; every problem was already reported above).
validate(
    config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
)
PATHS = _PREFLIGHT["paths"]
SAMPLES = _PREFLIGHT["samples"]
validate(
    SAMPLES[["patient_id", "sample_id", "sample_type", "bam", "purity"]]
    .astype(object)
    .where(SAMPLES.notna(), None),
    os.path.join(workflow.basedir, "workflow", "schemas", "samples.schema.yaml"),
)
if _PREFLIGHT["sample_problems"]:
    logger.warning(
        f"{len(_PREFLIGHT['sample_problems'])} of {len(SAMPLES)} samples have input problems; each is reported as "
        "QC 'fail' in results/tables/qc.tsv and not_evaluable downstream (the cohort continues):\n"
        + format_sample_problems(_PREFLIGHT["sample_problems"], SAMPLES)
    )
if _PREFLIGHT["sample_warnings"]:
    logger.warning(
        "Read groups do not match the sample sheet (processing continues; also in qc.tsv 'warnings'):\n"
        + format_sample_problems(
            {s: [w] for s, w in _PREFLIGHT["sample_warnings"].items()}, SAMPLES
        )
    )

REFERENCE = {"fasta": PATHS["fasta"], "build": PATHS["build"]}
ANNOTATION = {k: PATHS[k] for k in ("transcripts", "hotspots", "domains")}
PANEL_TARGETS = PATHS["panel"]
TRIALS = PATHS["trials"]
PATIENTS = sorted(SAMPLES["patient_id"].unique())


wildcard_constraints:
    sample=r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
    patient=r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",


def sample_ids(*types):
    """Sample ids of the given sample types (all samples when none given), in sheet order; BAM/CRAM rows only
    (rows of imported result files never enter the alignment stages: imported_ids)."""
    rows = SAMPLES[~SAMPLES["imported"]]
    if not types:
        return list(rows.index)
    return list(rows.index[rows["sample_type"].isin(types)])


def imported_ids(*types):
    """Sample ids of rows that point to result files instead of a BAM (docs/import.md), in sheet order."""
    rows = SAMPLES[SAMPLES["imported"]]
    return list(
        rows.index if not types else rows.index[rows["sample_type"].isin(types)]
    )


def imported_tables(name):
    """Per-sample tables of the imported rows (rule import_results) that a cohort table merges with the BAM rows'."""
    return [f"results/import/{s}/{name}.tsv" for s in imported_ids()]


# sample id -> plain dict, built once: input functions run several times per job, and a pandas .loc lookup per
# call was a visible share of the 1,000-sample DAG time (benchmarks/bench_dag.py)
_SAMPLE_INFO = {
    sid: {
        "sample_id": sid,
        "patient_id": row["patient_id"],
        "sample_type": row["sample_type"],
        "purity": None if row["purity"] != row["purity"] else float(row["purity"]),
        "bam": row["bam"],
    }
    for sid, row in SAMPLES.iterrows()
}


def sample_info(sample):
    """Plain dict describing one sample (purity None when not given)."""
    return dict(_SAMPLE_INFO[sample])


# patient -> normal sample ids, built once (a per-sample scan of all normals would make the DAG quadratic)
_NORMALS_OF_PATIENT = {}
for _sid in sample_ids("normal"):
    _NORMALS_OF_PATIENT.setdefault(_SAMPLE_INFO[_sid]["patient_id"], []).append(_sid)


def matched_normals(sample):
    """Normal sample ids of the sample's patient (may be empty)."""
    return _NORMALS_OF_PATIENT.get(_SAMPLE_INFO[sample]["patient_id"], [])


def matched_normal_alignments(wildcards):
    """Linked alignments of the sample's matched normals (the purity stage finds het SNPs there)."""
    return [
        alignment(SimpleNamespace(sample=n)) for n in matched_normals(wildcards.sample)
    ]


def matched_normal_indexes(wildcards):
    return [
        alignment_index(SimpleNamespace(sample=n))
        for n in matched_normals(wildcards.sample)
    ]


def _is_cram(sample):
    return _SAMPLE_INFO[sample]["bam"].lower().endswith(".cram")


def samples_regex(samples):
    """Wildcard constraint matching exactly these sample ids (nothing when empty): lets two rules write the same
    per-sample file for disjoint sets of samples (e.g. BAM vs CRAM, normals vs tumour/plasma).
    """
    return "|".join(re.escape(s) for s in samples) or "(?!)"


CRAM_SAMPLES = [s for s in SAMPLES.index if _is_cram(s)]
BAM_SAMPLES = [s for s in SAMPLES.index if not _is_cram(s)]


def alignment(wildcards):
    """The sample's alignment as linked under results/preflight (index beside it)."""
    ext = "cram" if _is_cram(wildcards.sample) else "bam"
    return f"results/preflight/{wildcards.sample}/{wildcards.sample}.{ext}"


def alignment_index(wildcards):
    ext = "cram.crai" if _is_cram(wildcards.sample) else "bam.bai"
    return f"results/preflight/{wildcards.sample}/{wildcards.sample}.{ext}"


def user_alignment(wildcards):
    """The user's alignment file as input when it exists (a missing file becomes a QC failure, not a crash)."""
    path = _SAMPLE_INFO[wildcards.sample]["bam"]
    return [path] if os.path.exists(path) else []


def final_outputs():
    outputs = [
        "results/tables/qc.tsv",
        "results/tables/copy_number.tsv",
        "results/tables/purity.tsv",
        "results/tables/hotspots.tsv",
        "results/tables/fusions.tsv",
        "results/tables/biomarkers.tsv",
        "results/tables/eligibility.tsv",
        "results/tables/funnel.tsv",
        "results/report/report.html",
        "results/report/patients",
        "results/report/erbb-screen.xlsx",
        "results/provenance.json",
    ]
    return outputs
