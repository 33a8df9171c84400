"""SLURM profile cost: job count and per-job overhead, from a `--profile profiles/slurm` run and a local `--cores`
run of the same workflow (tests/test_slurm.py calls :func:`summarise` and writes benchmarks/out/slurm.json).

Per job, Snakemake's own log gives the time from "rule X" (job started locally / submitted) to "Finished jobid"
(second resolution). Locally that is the rule's work; under SLURM it adds queueing, the job's own Snakemake
start-up and the status-polling delay. The difference of the means is the per-job overhead. When slurm.conf has
`JobCompType=jobcomp/filetxt` (scripts/slurm-local.sh sets it), the completion records split that overhead into
the time inside the allocation (StartTime..EndTime) and the rest (queue + polling).

    .venv/bin/python benchmarks/bench_slurm.py SLURM_WORKDIR LOCAL_WORKDIR [--jobcomp /var/log/slurm/jobcomp.log]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
DEFAULT_JOBCOMP = Path("/var/log/slurm/jobcomp.log")


def job_spans(workdir: Path) -> dict[int, tuple[str, float]]:
    """jobid -> (rule, seconds from start/submission to finish) from the newest Snakemake log of a run."""
    logs = sorted((Path(workdir) / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        raise FileNotFoundError(f"{workdir}/.snakemake/log: no Snakemake log")
    started, rules, spans = {}, {}, {}
    stamp = None
    pending_rule = None
    for line in logs[-1].read_text().splitlines():
        m = STAMP.match(line.strip())
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        s = line.strip()
        if s.startswith(("rule ", "localrule ", "checkpoint ")) and s.endswith(":"):
            pending_rule = s.split()[1].rstrip(":")
        elif s.startswith("jobid:") and pending_rule:
            jobid = int(s.split()[1])
            started[jobid], rules[jobid] = stamp, pending_rule
            pending_rule = None
        elif s.startswith("Finished jobid:"):
            jobid = int(s.split()[2])
            if jobid in started:
                spans[jobid] = (rules[jobid], (stamp - started[jobid]).total_seconds())
    return spans


SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


def submissions(workdir: Path) -> dict[str, str]:
    """SLURM job id -> rule, from the newest Snakemake log of a `--profile profiles/slurm` run."""
    logs = sorted((Path(workdir) / ".snakemake" / "log").glob("*.snakemake.log"))
    rule_of_job, out, rule = {}, {}, None
    for line in logs[-1].read_text().splitlines():
        s = line.strip()
        if s.startswith(("rule ", "localrule ")) and s.endswith(":"):
            rule = s.split()[1].rstrip(":")
        elif s.startswith("jobid:") and rule:
            rule_of_job[s.split()[1]] = rule
        m = SUBMITTED.search(s)
        if m:
            out[m.group(2)] = rule_of_job.get(m.group(1), rule)
    return out


def jobcomp_elapsed(path: Path) -> dict[str, float]:
    """SLURM job id -> seconds inside the allocation (EndTime - StartTime), from a jobcomp/filetxt log."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        try:
            start = datetime.fromisoformat(fields["StartTime"])
            end = datetime.fromisoformat(fields["EndTime"])
        except (KeyError, ValueError):
            continue
        out[fields["JobId"]] = (end - start).total_seconds()
    return out


def _mean(values):
    values = list(values)
    return round(statistics.mean(values), 1) if values else None


def summarise(slurm_workdir, local_workdir, slurm_wall_s=None, jobcomp=DEFAULT_JOBCOMP):
    slurm, local = job_spans(Path(slurm_workdir)), job_spans(Path(local_workdir))
    submitted = submissions(Path(slurm_workdir))
    remote_rules = set(submitted.values())
    local_by_rule = {}
    for rule, sec in local.values():
        local_by_rule.setdefault(rule, []).append(sec)
    # per SLURM job: time inside its allocation minus the mean local duration of the same rule = the job's own
    # start-up (a fresh Snakemake process parsing the workflow) and staging
    inside = jobcomp_elapsed(Path(jobcomp))
    startup = [inside[j] - statistics.mean(local_by_rule[r]) for j, r in submitted.items()
               if j in inside and r in local_by_rule]
    remote_spans = [sec for rule, sec in slurm.values() if rule in remote_rules]
    summary = {
        "slurm_jobs": len(submitted),
        "slurm_jobs_by_rule": dict(sorted(Counter(submitted.values()).items())),
        "local_jobs_on_submit_host": sum(1 for rule, _ in slurm.values() if rule not in remote_rules),
        "mean_local_job_s": _mean(s for _, s in local.values()),
        # submission to "Finished" as Snakemake saw it: work + queueing behind other jobs + start-up + polling
        "mean_slurm_job_span_s": _mean(remote_spans),
        "mean_inside_allocation_s": _mean(inside[j] for j in submitted if j in inside),
        "per_job_startup_overhead_s": _mean(startup),
    }
    if slurm_wall_s is not None:
        summary["slurm_wall_s"] = round(slurm_wall_s, 1)
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("slurm_workdir")
    ap.add_argument("local_workdir")
    ap.add_argument("--jobcomp", default=str(DEFAULT_JOBCOMP))
    args = ap.parse_args()
    print(json.dumps(summarise(args.slurm_workdir, args.local_workdir, jobcomp=args.jobcomp), indent=1))


if __name__ == "__main__":
    main()
