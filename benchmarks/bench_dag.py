"""Cohort scale: time to build the DAG (dry run) for N samples, as a ratio to N=20 measured in the same run.

Target (shared targets.md): DAG for 1,000 samples built in < 30 s, and no step whose cost grows with the square
of the cohort. The samples are symlinks to the SYNTHETIC cohort's BAMs, so start-up header checks run for real.

    .venv/bin/python benchmarks/bench_dag.py [--sizes 20 250 1000]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import cohort_config  # noqa: E402


def make_cohort(workdir: Path, n: int) -> Path:
    src = ROOT / "tests" / "cohort" / "data"
    sheet = [line.split("\t") for line in (src / "samples.tsv").read_text().splitlines()]
    header, rows = sheet[0], sheet[1:]
    bams = workdir / "bams"
    bams.mkdir()
    out = ["\t".join(header)]
    for i in range(n):
        r = list(rows[i % len(rows)])
        sid = f"C{i:05d}-{r[1]}"
        pid = f"C{i:05d}-{r[0]}"
        link = bams / f"{sid}.bam"
        os.symlink(src / r[3], link)
        os.symlink(str(src / r[3]) + ".bai", str(link) + ".bai")
        r[0], r[1], r[3] = pid, sid, str(link)
        out.append("\t".join(r))
    path = workdir / "samples.tsv"
    path.write_text("\n".join(out) + "\n")
    cfg = cohort_config(workdir)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(path)
    cfg.write_text(yaml.safe_dump(config))
    return cfg


def dry_run_seconds(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cfg = make_cohort(workdir, n)
        cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(ROOT / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(cfg), "-n", "--quiet", "all"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"dry run failed for n={n}:\n{proc.stderr[-3000:]}")
        return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 250, 1000])
    args = ap.parse_args()
    base_n = args.sizes[0]
    base = dry_run_seconds(base_n)
    print(f"{'samples':>8} {'seconds':>8} {'x baseline':>10} {'per-sample x':>12}")
    print(f"{base_n:>8} {base:>8.1f} {1.0:>10.2f} {1.0:>12.2f}")
    for n in args.sizes[1:]:
        t = dry_run_seconds(n)
        print(f"{n:>8} {t:>8.1f} {t / base:>10.2f} {(t / n) / (base / base_n):>12.2f}")
    print("target: 1,000 samples < 30 s; per-sample cost must not grow with cohort size (ratio ~1 or below)")


if __name__ == "__main__":
    main()
