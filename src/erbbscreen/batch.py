"""Batches of samples per job: the per-sample stages run several samples in one process.

Most of a small sample's cost in a per-sample job is fixed: interpreter start-up, imports (CNVkit's ``cnvlib``
alone costs ~1.6 s CPU), Snakemake's own job set-up. ``cnvkit.py batch`` pays it once for a whole cohort; the
workflow now pays it once per batch of samples (README "Performance", issue #10). Each sample keeps its own
output files and its own log file. A read error of one sample already becomes that sample's `not_evaluable`
outputs inside each step (:mod:`erbbscreen.guard`); a sample whose step still raises does not stop the other
samples of its batch from being computed, but the job then fails naming it (Snakemake discards a failed job's
outputs, so the batch is recomputed on the rerun), and with ``--keep-going`` the other batches go on.

:func:`plan_batches` decides the batches (Snakefile, at DAG time); :func:`run_jobs` runs one batch (job scripts).
"""
from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable, Sequence

log = logging.getLogger("erbbscreen.batch")

#: a batch never holds more samples than this with ``samples_per_job: auto``: a failed or interrupted job then
#: reruns at most this many samples (project choice)
DEFAULT_MAX_SAMPLES_PER_JOB = 20


def samples_per_job(n_samples: int, setting="auto", slots: int | None = None,
                    max_samples: int = DEFAULT_MAX_SAMPLES_PER_JOB) -> int:
    """How many samples one job of a stage takes.

    ``setting``: a positive integer (used as given) or ``"auto"``: spread the stage's samples evenly over the
    ``slots`` jobs that can run at once (``--cores`` locally, ``--jobs`` on a cluster), at most ``max_samples``
    per job, so that a 2-core workstation runs two batches side by side and a cluster with 100 job slots runs
    one sample per job as before."""
    if setting != "auto":
        try:
            size = int(setting)
        except (TypeError, ValueError):
            size = 0
        if size < 1 or str(setting).strip() != str(size):
            raise ValueError(f"batching.samples_per_job must be 'auto' or a positive integer, not {setting!r}")
        return size
    slots = slots if isinstance(slots, int) and slots > 0 else 1
    return max(1, min(int(max_samples), math.ceil(max(n_samples, 1) / slots)))


def plan_batches(samples: Sequence[str], size: int, prefix: str = "b") -> list[tuple[str, list[str]]]:
    """Consecutive batches of ``samples`` (their order kept): ``[("b001", [...]), ("b002", [...]), ...]``
    (``prefix`` instead of ``b``: a stage that batches two groups of samples apart keeps the ids apart).
    The same sample list and size always give the same batches (a rerun finds its outputs)."""
    samples = list(samples)
    if size < 1:
        raise ValueError(f"batch size must be >= 1, not {size}")
    return [(f"{prefix}{k // size + 1:03d}", samples[k:k + size]) for k in range(0, len(samples), size)]


def flatten_files(jobs: Iterable[dict], part: str) -> list[str]:
    """Every file path under ``job[part]`` (values may be a path, a list of paths, a dict of paths or None), in
    job order, without duplicates: a batch rule's ``input:``/``output:`` from its per-sample job specs."""
    seen: dict[str, None] = {}

    def walk(value):
        if value is None:
            return
        if isinstance(value, (str, Path)):
            seen.setdefault(str(value), None)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        else:
            for v in value:
                walk(v)

    for job in jobs:
        walk(job.get(part))
    return list(seen)


@contextlib.contextmanager
def sample_log(path: str | Path | None, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"):
    """Route logging and stderr to one sample's log file while its step runs (each sample keeps its own log)."""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with open(path, "w") as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter(fmt))
        saved_handlers, saved_level, saved_stderr = root.handlers[:], root.level, sys.stderr
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        sys.stderr = handle
        try:
            yield
        finally:
            sys.stderr = saved_stderr
            root.handlers = saved_handlers
            root.setLevel(saved_level)


class BatchFailure(RuntimeError):
    """One or more samples of a batch failed; the others' outputs were written."""


def run_jobs(step: str, jobs: Sequence[dict], run_one: Callable[[dict], object]) -> list:
    """Run ``run_one(job)`` for every per-sample job spec of a batch (``job["sample_id"]``, ``job["log"]``), each
    with its own log file. A sample that raises is logged and skipped; :class:`BatchFailure` at the end names the
    failed samples and their log files."""
    results, failed = [], []
    for job in jobs:
        started = time.perf_counter()
        with sample_log(job.get("log")):
            try:
                results.append(run_one(job))
            except Exception:  # noqa: BLE001 - kept to this sample; the traceback goes to its own log
                log.error("%s failed for sample %s:\n%s", step, job.get("sample_id"), traceback.format_exc())
                failed.append(job)
                results.append(None)
            log.info("%s: sample %s took %.2f s", step, job.get("sample_id"), time.perf_counter() - started)
    if failed:
        raise BatchFailure(f"{step}: {len(failed)} of {len(jobs)} samples failed: "
                           + "; ".join(f"{j.get('sample_id')} (log: {j.get('log')})" for j in failed))
    return results
