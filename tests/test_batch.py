"""Batches of samples per job (erbbscreen.batch): how the per-sample stages are grouped into jobs and how one
batch job runs its samples (own log each, one sample's failure kept to it)."""
import logging
from pathlib import Path

import pytest

from erbbscreen.batch import BatchFailure, flatten_files, plan_batches, run_jobs, samples_per_job


def test_auto_spreads_samples_over_job_slots():
    assert samples_per_job(18, "auto", slots=2) == 9         # a 2-core workstation: two batches side by side
    assert samples_per_job(19, "auto", slots=2) == 10
    assert samples_per_job(22, "auto", slots=100) == 1       # a cluster with more slots than samples: as before
    assert samples_per_job(1000, "auto", slots=4) == 20      # never more than max_samples_per_job
    assert samples_per_job(1000, "auto", slots=4, max_samples=50) == 50
    assert samples_per_job(5, "auto", slots=None) == 5       # no --cores known (lint, dry run): one slot


def test_explicit_size_and_bad_values():
    assert samples_per_job(18, 1, slots=2) == 1
    assert samples_per_job(18, "4", slots=2) == 4
    for bad in (0, -2, "many", 2.5, None):
        with pytest.raises(ValueError, match="samples_per_job"):
            samples_per_job(18, bad, slots=2)


def test_plan_keeps_order_covers_every_sample_once_and_is_stable():
    samples = [f"S{i:02d}" for i in range(1, 12)]
    batches = plan_batches(samples, 4)
    assert [b for b, _ in batches] == ["b001", "b002", "b003"]
    assert [m for _, m in batches] == [samples[0:4], samples[4:8], samples[8:11]]
    assert plan_batches(samples, 4) == batches
    assert plan_batches([], 4) == []
    assert plan_batches(samples, 6, prefix="plasma_b") == [("plasma_b001", samples[:6]), ("plasma_b002", samples[6:])]
    with pytest.raises(ValueError):
        plan_batches(samples, 0)


def test_flatten_files_walks_nested_specs_without_duplicates():
    jobs = [
        {"input": {"aln": "a.bam", "normals": {"N1": "n1.tsv"}, "tf": None, "qc": "a.qc"}},
        {"input": {"aln": "b.bam", "normals": {}, "tf": "b.tf", "qc": "b.qc"}},
        {"input": {"aln": "c.bam", "normals": {"N1": "n1.tsv"}, "list": ["x", "y"]}},
    ]
    assert flatten_files(jobs, "input") == ["a.bam", "n1.tsv", "a.qc", "b.bam", "b.tf", "b.qc", "c.bam", "x", "y"]
    assert flatten_files(jobs, "output") == []


def test_run_jobs_logs_per_sample_and_keeps_a_failure_to_its_sample(tmp_path: Path):
    done = []

    def one(job):
        logging.getLogger("erbbscreen.test").info("working on %s", job["sample_id"])
        if job["sample_id"] == "S2":
            raise OSError("truncated file S2.bam")
        done.append(job["sample_id"])
        return job["sample_id"].lower()

    jobs = [{"sample_id": s, "log": str(tmp_path / f"{s}.log")} for s in ("S1", "S2", "S3")]
    with pytest.raises(BatchFailure) as failure:
        run_jobs("step", jobs, one)
    assert done == ["S1", "S3"]                      # the sample after the failure still ran
    assert "1 of 3 samples failed" in str(failure.value) and "S2" in str(failure.value)
    assert "S2.log" in str(failure.value)
    assert "working on S1" in (tmp_path / "S1.log").read_text()
    assert "working on S1" not in (tmp_path / "S3.log").read_text()   # each sample has its own log
    s2 = (tmp_path / "S2.log").read_text()
    assert "OSError: truncated file S2.bam" in s2 and "Traceback" in s2


def test_run_jobs_returns_results_in_order(tmp_path: Path):
    jobs = [{"sample_id": s, "log": str(tmp_path / "logs" / f"{s}.log")} for s in ("A", "B")]
    assert run_jobs("step", jobs, lambda job: job["sample_id"] * 2) == ["AA", "BB"]
    assert (tmp_path / "logs" / "B.log").exists()
