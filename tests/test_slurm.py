"""The SYNTHETIC cohort through `--profile profiles/slurm` on a real single-node SLURM cluster (slurmctld + slurmd
on localhost, started by `bash scripts/slurm-local.sh start`; .ci/run does it): every job is an sbatch job, and
the tables, VCFs and per-patient JSON are byte-identical to the local `--cores` run (`workflow_results`), which
also shows that two runs from scratch agree. Job count and per-job overhead go to benchmarks/out/slurm.json."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SNAKEMAKE, cohort_config
from run_outputs import differences

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_slurm import summarise  # noqa: E402

PROFILE = ROOT / "profiles" / "slurm"
# A hung status query (see profiles/slurm/config.yaml) must fail the test, never stall CI.
TIMEOUT_S = int(os.environ.get("ERBBSCREEN_SLURM_TIMEOUT", "1800"))


def slurm_available():
    """None when a cluster answers; otherwise skip (no sbatch here) or fail (sbatch but no cluster, or CI)."""
    if shutil.which("sbatch") is None:
        if os.environ.get("ERBBSCREEN_REQUIRE_SLURM"):
            pytest.fail("sbatch not found but ERBBSCREEN_REQUIRE_SLURM is set (CI): scripts/install.sh installs "
                        "slurm-wlm + munge and .ci/run starts the cluster")
        pytest.skip("SLURM not installed here (no sbatch); CI installs slurm-wlm and runs this test "
                    "(`bash scripts/slurm-local.sh start` brings up a local cluster)")
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if proc.returncode != 0 or not ({"idle", "mixed", "allocated"} & set(proc.stdout.split())):
        pytest.fail(f"sbatch exists but no SLURM node is up (sinfo: {proc.stdout.strip() or proc.stderr.strip()}); "
                    "fix: `bash scripts/slurm-local.sh start`")


def cancel_jobs(prefix):
    """scancel this test's jobs (named <prefix>...) after a timeout, so nothing keeps running."""
    listing = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True).stdout
    ids = [line.split()[0] for line in listing.splitlines() if line.split()[1:2] and line.split()[1].startswith(prefix)]
    if ids:
        subprocess.run(["scancel", *ids], check=False)


@pytest.mark.integration
def test_cohort_on_slurm_matches_local_run(tmp_path, workflow_results):
    slurm_available()
    prefix = f"erbbtest{os.getpid()}"
    cfg = cohort_config(tmp_path)
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(cfg),
           "--profile", str(PROFILE),
           # local single-node cluster: no accounts, short first status query, job names to cancel on timeout
           "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2", "--slurm-jobname-prefix", prefix]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        cancel_jobs(prefix)
        pytest.fail(f"SLURM run did not finish in {TIMEOUT_S} s (killed):\n{out[-4000:]}")
    wall = time.monotonic() - t0
    assert proc.returncode == 0, out[-6000:]
    submitted = out.count("has been submitted with SLURM jobid")
    assert submitted > 0, "no job went through sbatch:\n" + out[-3000:]
    problems = differences(workflow_results, tmp_path)
    assert not problems, "\n".join(problems)
    summary = summarise(slurm_workdir=tmp_path, local_workdir=workflow_results, slurm_wall_s=wall)
    assert summary["slurm_jobs"] == submitted
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "slurm.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
