"""Resume after a crash: SIGKILL the whole workflow (process group) while per-sample jobs are running, then do what
a user does, following Snakemake's messages: the same command (refused: the killed jobs' outputs are incomplete),
with `--rerun-incomplete` (refused: the dead run's lock), `--unlock`, and the command with `--rerun-incomplete`
again. The outputs must be byte-identical to the uninterrupted run (`workflow_results`)."""
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, SNAKEMAKE, cohort_config
from run_outputs import differences

TIMEOUT_S = int(os.environ.get("ERBBSCREEN_RUN_TIMEOUT", "2400"))


def started_jobs_running(workdir):
    """Per-sample analysis outputs finished so far (after QC), and whether Snakemake has jobs marked incomplete
    (i.e. running right now)."""
    results = workdir / "results"
    done = sum(len(list(results.glob(pattern))) for pattern in (
        "hotspots/*/counts.tsv", "copy_number/*/*.targetcoverage.cnn", "fusions/*/fusions.tsv"))
    incomplete = workdir / ".snakemake" / "incomplete"
    return done, incomplete.is_dir() and any(incomplete.iterdir())


@pytest.mark.integration
def test_sigkill_mid_run_then_unlock_and_rerun_incomplete(tmp_path, workflow_results):
    cfg = cohort_config(tmp_path)
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(cfg),
           "--cores", "2"]
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + TIMEOUT_S
        # in the middle of the per-sample jobs: some analysis outputs written, jobs running right now
        while time.monotonic() < deadline and proc.poll() is None:
            done, running = started_jobs_running(tmp_path)
            if done >= 4 and running:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the workflow finished (or died) before it could be killed: " + \
            (tmp_path / "killed.log").read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: Snakemake and every job it started
        proc.wait()
    assert not (tmp_path / "results" / "tables" / "eligibility.tsv").exists()
    killed_outputs = started_jobs_running(tmp_path)[1]
    assert killed_outputs, "no job was running when killed; the test would prove nothing"

    def run(*extra):
        return subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=TIMEOUT_S)

    # Snakemake tracked the killed jobs: their outputs are marked incomplete, so they can never pass for finished
    incomplete = tmp_path / ".snakemake" / "incomplete"
    assert incomplete.is_dir() and any(incomplete.iterdir()), "no incomplete-output markers after the kill"
    # the plain rerun is refused, naming what to do: the killed run's lock (--unlock) and/or the incomplete
    # outputs (--rerun-incomplete); which one Snakemake reports first depends on where the kill landed
    refused = run()
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert "--unlock" in said or "--rerun-incomplete" in said, said[-3000:]
    unlocked = run("--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]

    resumed = run("--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stderr[-6000:]
    problems = differences(workflow_results, tmp_path)
    assert not problems, "\n".join(problems)
