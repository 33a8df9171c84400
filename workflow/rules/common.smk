# Loading and validation shared by every stage: config, sample sheet, reference, annotation.
# The logic lives in the erbbscreen package (src/erbbscreen); this file only wires it into Snakemake.
import os
import sys

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
from erbbscreen.batch import (
    DEFAULT_MAX_SAMPLES_PER_JOB,
    flatten_files,
    plan_batches,
    samples_per_job,
)
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


def _is_cram(sample):
    return _SAMPLE_INFO[sample]["bam"].lower().endswith(".cram")


def alignment(sample):
    """The sample's alignment as linked under results/preflight (index beside it)."""
    ext = "cram" if _is_cram(sample) else "bam"
    return f"results/preflight/{sample}/{sample}.{ext}"


def alignment_index(sample):
    ext = "cram.crai" if _is_cram(sample) else "bam.bai"
    return f"results/preflight/{sample}/{sample}.{ext}"


def qc_row(sample):
    """The sample's one-row QC table (preflight stage)."""
    return f"results/preflight/{sample}/qc.tsv"


# --- Batches: one job per stage takes several samples (README "Performance", docs/development.md) ------------
# The per-sample stages run as batch jobs: the fixed cost of a job (interpreter, imports, job set-up) is paid once
# per batch. `batching.samples_per_job: auto` spreads a stage's samples over the job slots (--cores locally,
# --jobs on a cluster: one sample per job there as long as slots >= samples), at most batching.max_samples_per_job.
BATCHING = config.get("batching") or {}
# The job slots `auto` spreads samples over. A job that Snakemake runs in another process (a SLURM job step, a
# subprocess) parses this file again with its own --cores/--jobs, so it must not recompute them: the main process
# exports its value and every job process reads it back, so that all agree on which samples each batch rule holds.
_SLOTS_ENV = "ERBBSCREEN_BATCH_SLOTS"
if workflow.remote_exec or workflow.subprocess_exec:
    _SLOTS = int(os.environ.get(_SLOTS_ENV, "0")) or None
    if _SLOTS is None and BATCHING.get("samples_per_job", "auto") == "auto":
        raise WorkflowError(
            f"batching.samples_per_job: auto needs ${_SLOTS_ENV} from the main Snakemake process, which this job's "
            "environment lacks (the executor does not pass the environment on); set batching.samples_per_job "
            "to an integer (e.g. --config batching='{samples_per_job: 1}')"
        )
else:
    # --jobs of a cluster run (Snakemake's `nodes`; None locally), else --cores (what is known while parsing)
    _SLOTS = workflow.resource_settings.nodes or workflow.resource_settings.cores
    os.environ[_SLOTS_ENV] = str(
        _SLOTS if isinstance(_SLOTS, int) and _SLOTS > 0 else 1
    )


def sample_batches(samples, prefix="b", light=False):
    """[(batch id, [sample ids])] of one stage, in sheet order (erbbscreen.batch.plan_batches). A `light` stage
    (per-sample work well below a job's ~0.5 s of start-up and imports: hotspot counting and calling, fusions) is
    not spread over the job slots: its samples share as few jobs as batching.max_samples_per_job allows, since a
    second job would cost more than it saves, on a workstation and on a cluster alike.
    """
    size = samples_per_job(
        len(samples),
        BATCHING.get("samples_per_job", "auto"),
        1 if light else _SLOTS,
        BATCHING.get("max_samples_per_job", DEFAULT_MAX_SAMPLES_PER_JOB),
    )
    return plan_batches(samples, size, prefix)


# The longest chain of the DAG: QC -> CN coverage -> reference -> segments -> purity -> gene calls -> biomarkers ->
# eligibility -> report. Its rules get the highest priority so that, when jobs wait for a core, the chain goes
# first; its head, the cohort's CN bins, needs no sample and goes before everything (the first QC batch runs beside
# it, and that batch's coverage starts as soon as its QC is done). The hotspot chain (counts -> background ->
# calls) feeds purity (the somatic-VAF estimate) but is short, so it comes next; then the tissue fusion batches
# (their rows feed biomarkers.tsv: left to the end they would hold it up, ahead of the hotspots they would delay
# purity) and the cohort QC table (eligibility reads it). The plasma fusion batches wait for purity and join the
# chain; table merges and provenance (priority 0, off the chains) fill the cores the chains leave idle. Measured on
# the test cohort with --cores 2 (README "Performance").
CHAIN_HEAD_PRIORITY = 30
CRITICAL_PATH_PRIORITY = 20
FEEDS_CRITICAL_PATH_PRIORITY = 10
FEEDS_BIOMARKERS_PRIORITY = 5


def fusion_batch_priority(batch):
    """Plasma batches are on the chain to biomarkers.tsv after purity; tissue batches feed it from the side."""
    if batch.startswith("plasma"):
        return CRITICAL_PATH_PRIORITY
    return FEEDS_BIOMARKERS_PRIORITY


def batch_threads(batches, wanted):
    """Threads of one batch job of a stage with `batches` batch jobs: `wanted` when the job slots allow every batch
    that many, else fewer (at least 1), so that on `--cores 2` two single-thread batches run side by side instead
    of one two-thread batch after the other (a stage's batches are its parallelism)."""
    slots = _SLOTS if isinstance(_SLOTS, int) and _SLOTS > 0 else 1
    return max(1, min(wanted, slots // max(1, len(batches))))


def batch_logs(stage, batch, jobs):
    """A batch job's logs: the batch's own log first (scripts log there), then each sample's."""
    return [f"logs/{stage}/{batch}.log"] + [job["log"] for job in jobs]


# Per-sample job specs of the batch rules (files, parameters and log of one sample), read by the stage rules and
# by their scripts (erbbscreen.batch.run_jobs). Directory constants (HOTSPOTS_DIR, CNV_DIR, PURITY_DIR) are set
# by the stage files before their rules call these.


def preflight_qc_job(sample):
    """One sample's part of a preflight_qc batch job: its files and parameters."""
    path = _SAMPLE_INFO[sample]["bam"]
    return {
        "sample_id": sample,
        "sample": sample_info(sample),
        # the user's file as input when it exists (a missing file becomes a QC failure, not a crash)
        "input": [path] if os.path.exists(path) else [],
        "output": {
            "aln": alignment(sample),
            "idx": alignment_index(sample),
            "qc": qc_row(sample),
        },
        "log": f"logs/preflight/{sample}.qc.log",
    }


def hotspots_count_job(sample):
    """One normal's part of a hotspots_count batch job."""
    return {
        "sample_id": sample,
        "input": {
            "aln": alignment(sample),
            "idx": alignment_index(sample),
            "qc": qc_row(sample),
        },
        "output": {"counts": f"{HOTSPOTS_DIR}/{sample}/counts.tsv"},
        "log": f"logs/hotspots/{sample}.count.log",
    }


def hotspots_call_job(sample):
    """One tumour/plasma sample's part of a hotspots_call batch job (counts + calls + VCF)."""
    normals = {n: f"{HOTSPOTS_DIR}/{n}/counts.tsv" for n in matched_normals(sample)}
    out = f"{HOTSPOTS_DIR}/{sample}"
    return {
        "sample_id": sample,
        "sample": sample_info(sample),
        "input": {
            "aln": alignment(sample),
            "idx": alignment_index(sample),
            "qc": qc_row(sample),
            "normals": normals,
        },
        "output": {
            "counts": f"{out}/counts.tsv",
            "table": f"{out}/hotspots.tsv",
            "biomarkers": f"{out}/biomarkers.tsv",
            "vcf": f"{out}/{sample}.hotspots.vcf.gz",
            "tbi": f"{out}/{sample}.hotspots.vcf.gz.tbi",
        },
        "log": f"logs/hotspots/{sample}.call.log",
    }


def cnv_coverage_job(sample):
    """One sample's part of a cnv_coverage batch job."""
    return {
        "sample_id": sample,
        "input": {
            "aln": alignment(sample),
            "idx": alignment_index(sample),
            "qc": qc_row(sample),
        },
        "output": {
            "target": f"{CNV_DIR}/{sample}/{sample}.targetcoverage.cnn",
            "antitarget": f"{CNV_DIR}/{sample}/{sample}.antitargetcoverage.cnn",
        },
        "log": f"logs/copy_number/{sample}.coverage.log",
    }


def cnv_segment_job(sample):
    """One tumour/plasma sample's part of a cnv_segment batch job (fix + segment + call; + plots with cnv.plots)."""
    out = f"{CNV_DIR}/{sample}/{sample}"
    return {
        "sample_id": sample,
        "sample": sample_info(sample),
        "input": {
            "target": f"{out}.targetcoverage.cnn",
            "antitarget": f"{out}.antitargetcoverage.cnn",
            "qc": qc_row(sample),
        },
        "output": {
            "cnr": f"{out}.cnr",
            "cns": f"{out}.cns",
            "call_cns": f"{out}.call.cns",
            **(
                {"scatter": f"{out}-scatter.png", "zoom": f"{out}-erbb2.png"}
                if CNV.get("plots")
                else {}
            ),
        },
        "log": f"logs/copy_number/{sample}.segment.log",
    }


def purity_job(sample):
    """One tumour/plasma sample's part of a purity batch job."""
    normals = matched_normals(sample)
    cnv = f"{CNV_DIR}/{sample}/{sample}"
    out = f"{PURITY_DIR}/{sample}"
    return {
        "sample_id": sample,
        "sample": sample_info(sample),
        "input": {
            "aln": alignment(sample),
            "idx": alignment_index(sample),
            "qc": qc_row(sample),
            "cnr": f"{cnv}.cnr",
            "cns": f"{cnv}.cns",
            "hotspots": f"{HOTSPOTS_DIR}/{sample}/hotspots.tsv",
            "normals": [alignment(n) for n in normals],
            "normal_idx": [alignment_index(n) for n in normals],
            "normal_qc": [qc_row(n) for n in normals],
        },
        "output": {
            "table": f"{out}/purity.tsv",
            "biomarkers": f"{out}/biomarkers.tsv",
            "snps": f"{out}/het_snps.tsv",
        },
        "log": f"logs/purity/{sample}.log",
    }


def fusions_job(sample):
    """One tumour/plasma sample's part of a fusions batch job."""
    info = sample_info(sample)
    out = f"results/fusions/{sample}"
    return {
        "sample_id": sample,
        "sample": info,
        "input": {
            "aln": alignment(sample),
            "idx": alignment_index(sample),
            "qc": qc_row(sample),
            # plasma: the published TUMOR_FRACTION row (purity stage), so that a sample without detectable ctDNA
            # gives no confident negative; tissue uses the sample sheet purity
            "tumor_fraction": (
                f"results/purity/{sample}/biomarkers.tsv"
                if info["sample_type"] == "plasma"
                else None
            ),
        },
        "output": {
            "tsv": f"{out}/fusions.tsv",
            "bedpe": f"{out}/{sample}.bedpe",
            "vcf": f"{out}/{sample}.vcf",
            "reads": f"{out}/evidence_reads.txt",
            "biomarkers": f"{out}/biomarkers.tsv",
            "events": f"{out}/events.tsv",
            "coverage": f"{out}/intron_coverage.tsv",
        },
        "log": f"logs/fusions/{sample}.log",
    }


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
