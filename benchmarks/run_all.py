"""One command for the performance numbers of README "Performance" (issue #10), all measured in one run:

(a) the whole workflow (``snakemake --cores N``) on the SYNTHETIC test cohort against the peer toolchain a user
    could run instead for the same calls: ``cnvkit.py batch -p N`` with the cohort's normals pooled as reference
    (same segmentation method as the workflow's config), ``delly call`` on each tumour/plasma BAM (the samples the
    fusion stage screens), ``bcftools mpileup | bcftools call`` at the hotspot codons of each tumour/plasma BAM;
    ratios of wall time and CPU seconds (CPU = user + sys of every process, children included);
(b) per stage on a >= 10M-read BAM (the cohort's tumour and plasma BAMs merged ``--copies`` times, read names
    prefixed per copy; built once under benchmarks/out/, gitignored): the workflow run on that BAM (+ the cohort's
    normals) with each job's wall time from its Snakemake benchmark file, as ratios to one ``samtools view -c``
    pass and to ``cnvkit.py coverage`` on the same BAM, and the whole per-sample cost against CNVkit's own
    coverage x2 + fix + segment + call chain (benchmarks/bench_copy_number.py's CLI steps);
(c) peak resident memory per job, from the ``benchmark:`` files every rule writes under ``benchmarks/`` of the run
    directory.

The machine's load (1-minute load average, cores) is printed at the start and end: absolute times depend on it,
ratios much less. Nothing here asserts a time.

    .venv/bin/python benchmarks/run_all.py [--cores 2] [--copies 3] [--skip-cohort] [--skip-bam]
        [--compare-with RUN_DIR]   # also diff results/tables/*.tsv of the cohort run against an earlier run

Writes benchmarks/out/run_all.json and benchmarks/out/run_all.md (the printed summary).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
from bench_copy_number import cnvkit_cli_steps, timed  # noqa: E402
from bench_fusions import run_delly  # noqa: E402
from conftest import cohort_config  # noqa: E402

COHORT = ROOT / "tests" / "cohort" / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CNVKIT = shutil.which("cnvkit.py") or str(Path(sys.executable).with_name("cnvkit.py"))
#: per-sample steps of a tumour sample, in workflow order (batch rules: benchmarks/<stage>/<step>/<batch>.tsv)
SAMPLE_RULES = ["preflight_qc", "cnv_coverage", "cnv_segment", "hotspots_call", "purity", "fusions"]

LINES: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    LINES.append(text)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def sheet() -> pd.DataFrame:
    df = pd.read_csv(COHORT / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)
    df["bam"] = [str((COHORT / b).resolve()) if not os.path.isabs(b) else b for b in df["bam"]]
    return df


def benchmark_table(workdir: Path) -> pd.DataFrame:
    """Every job's Snakemake benchmark record under workdir/benchmarks: rule, sample (the batch id of a per-sample
    step, e.g. b001; empty for a cohort job), s, cpu_time, max_rss."""
    rows = []
    for f in sorted((workdir / "benchmarks").rglob("*.tsv")):
        rel = f.relative_to(workdir / "benchmarks").with_suffix("")
        parts = rel.parts
        rule, sample = (parts[1], parts[2]) if len(parts) == 3 else (parts[-1], "")
        rec = pd.read_csv(f, sep="\t").iloc[0]
        rows.append({"rule": rule, "sample": sample, "s": float(rec["s"]),
                     "cpu_time": pd.to_numeric(rec.get("cpu_time"), errors="coerce"),
                     "max_rss_mb": pd.to_numeric(rec.get("max_rss"), errors="coerce")})
    return pd.DataFrame(rows, columns=["rule", "sample", "s", "cpu_time", "max_rss_mb"])


def run_workflow(workdir: Path, config: Path, cores: int) -> dict:
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--configfile", str(config),
           "--cores", str(cores)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = timed(cmd, env=env)
    jobs = benchmark_table(workdir)
    return {**res, "jobs": int(len(jobs))}


# --------------------------------------------------------------------------------------------- (a) cohort
def peers(work: Path, samples: pd.DataFrame, config: dict, cores: int) -> dict:
    """The tools a user could run by hand for the same calls; wall/CPU of each step (sequential, except CNVkit's
    own -p)."""
    ref = COHORT / "reference"
    fasta = str(ref / "genome.fa")
    screened = samples[samples["sample_type"].isin(["tumor", "plasma"])]
    normals = samples[samples["sample_type"] == "normal"]
    method = (config.get("cnv") or {}).get("segment_method", "haar")
    out = {}
    cnv_dir = work / "cnvkit_batch"
    out["cnvkit batch"] = timed([CNVKIT, "batch", *screened["bam"], "--normal", *normals["bam"],
                                 "--targets", str(ref / "panel.bed"), "--fasta", fasta, "-p", str(cores),
                                 "--segment-method", method, "--output-reference", str(cnv_dir / "ref.cnn"),
                                 "--output-dir", str(cnv_dir)])
    if shutil.which("delly"):
        wall = cpu = 0.0
        for sid, bam in zip(screened["sample_id"], screened["bam"]):
            w, c, _ = run_delly(bam, fasta, work, sid)
            wall, cpu = wall + w, cpu + c
        out["delly call"] = {"wall": wall, "cpu": cpu}
    else:
        say("  note: delly not installed (Debian package `delly`): the peer toolchain is timed without it")
    hs = pd.read_csv(ref / "hotspots.tsv", sep="\t", dtype=str)
    regions = work / "hotspot_positions.tsv"
    regions.write_text("".join(f"{r.chrom}\t{r[p]}\n" for _, r in hs.iterrows() for p in ("pos1", "pos2", "pos3")))
    wall = cpu = 0.0
    for sid, bam in zip(screened["sample_id"], screened["bam"]):
        # -d 10000: cfDNA depths; mpileup's default of 250 reads per file would cap plasma samples
        t = timed(["bash", "-c", f"bcftools mpileup -f {fasta} -R {regions} -d 10000 -a AD,DP {bam} | "
                                 f"bcftools call -m -Oz -o {work / (sid + '.hotspots.vcf.gz')}"])
        wall, cpu = wall + t["wall"], cpu + t["cpu"]
    out["bcftools mpileup|call"] = {"wall": wall, "cpu": cpu}
    return out


def cohort_benchmark(work: Path, cores: int, compare_with: str | None) -> dict:
    say(f"## (a) whole workflow vs peer toolchain, test cohort ({COHORT}), --cores {cores}")
    samples = sheet()
    run_dir = work / "cohort_run"
    run_dir.mkdir()
    cfg = cohort_config(run_dir)
    config = yaml.safe_load(cfg.read_text())
    ours = run_workflow(run_dir, cfg, cores)
    say(f"  workflow: {ours['wall']:.1f} s wall, {ours['cpu']:.1f} s CPU, {ours['jobs']} jobs "
        f"({len(samples)} samples)")
    (work / "peers").mkdir()
    tools = peers(work / "peers", samples, config, cores)
    for name, t in tools.items():
        say(f"  {name}: {t['wall']:.1f} s wall, {t['cpu']:.1f} s CPU")
    tw, tc = sum(t["wall"] for t in tools.values()), sum(t["cpu"] for t in tools.values())
    say(f"  peer toolchain total: {tw:.1f} s wall, {tc:.1f} s CPU")
    say(f"  RATIO workflow / peers: {ours['wall'] / tw:.2f}x wall, {ours['cpu'] / tc:.2f}x CPU (target <= 1.5x wall)")
    jobs = benchmark_table(run_dir)
    result = {"workflow": ours, "peers": tools, "peer_wall": tw, "peer_cpu": tc,
              "ratio_wall": ours["wall"] / tw, "ratio_cpu": ours["cpu"] / tc,
              "jobs": jobs.to_dict(orient="records")}
    if compare_with:
        result["compare"] = compare_tables(run_dir, Path(compare_with))
    return result


def compare_tables(run_dir: Path, other: Path) -> dict:
    """Cells that differ between results/tables/*.tsv of two runs (report paths and timestamps excluded)."""
    say(f"  tables vs {other}:")
    out = {}
    for f in sorted((other / "results" / "tables").glob("*.tsv")):
        mine = run_dir / "results" / "tables" / f.name
        a = pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
        b = pd.read_csv(mine, sep="\t", dtype=str, keep_default_na=False) if mine.exists() else None
        if b is None or list(a.columns) != list(b.columns) or len(a) != len(b):
            out[f.name] = "shape or columns differ"
        else:
            diff = [(i, c, a.at[i, c], b.at[i, c]) for c in a.columns for i in a.index if a.at[i, c] != b.at[i, c]]
            out[f.name] = [list(map(str, d)) for d in diff]
        n = out[f.name] if isinstance(out[f.name], str) else f"{len(out[f.name])} cell(s) differ"
        say(f"    {f.name}: {n}")
        if isinstance(out[f.name], list):
            for i, c, x, y in out[f.name][:20]:
                say(f"      row {i} {c}: {x} -> {y}")
    return out


# ---------------------------------------------------------------------------------------- (b) merged BAM
def merged_bam(samples: pd.DataFrame, copies: int) -> Path:
    """The tumour + plasma BAMs merged ``copies`` times (read names prefixed c<k>:), built once."""
    path = OUT / f"merged_x{copies}.bam"
    if path.exists() and Path(str(path) + ".bai").exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    bams = " ".join(samples[samples["sample_type"].isin(["tumor", "plasma"])]["bam"])
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        parts = []
        for k in range(1, copies + 1):
            part = f"{tmp}/copy{k}.bam"
            subprocess.run(["bash", "-o", "pipefail", "-c",
                            f"samtools merge -u -o - {bams} | samtools view -h - | "
                            f"awk -v p=c{k}: 'BEGIN{{OFS=\"\\t\"}} /^@/ {{print; next}} {{$1=p $1; print}}' | "
                            f"samtools view -u -o {part} -"], check=True)
            parts.append(part)
        subprocess.run(["samtools", "merge", "-f", "-o", str(path), *parts], check=True)
    subprocess.run(["samtools", "index", str(path)], check=True)
    return path


def bam_benchmark(work: Path, cores: int, copies: int) -> dict:
    samples = sheet()
    t0 = time.perf_counter()
    bam = merged_bam(samples, copies)
    idx = subprocess.run(["samtools", "idxstats", str(bam)], capture_output=True, text=True, check=True).stdout
    reads = sum(int(f[2]) + int(f[3]) for f in (line.split("\t") for line in idx.splitlines()))
    say(f"## (b) per stage on {bam.name}: {reads / 1e6:.1f}M reads, {bam.stat().st_size / 1e6:.0f} MB "
        f"(ready in {time.perf_counter() - t0:.0f} s)")
    run_dir = work / "bam_run"
    run_dir.mkdir()
    normals = samples[samples["sample_type"] == "normal"]
    merged_row = pd.DataFrame([{"patient_id": "MERGED", "sample_id": "MERGED", "sample_type": "tumor",
                                "bam": str(bam), "purity": "0.5"}])
    sheet_path = run_dir / "samples.tsv"
    pd.concat([merged_row, normals], ignore_index=True).to_csv(sheet_path, sep="\t", index=False)
    cfg = cohort_config(run_dir)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(sheet_path)
    # one sample per job, so that each step of the merged BAM (first in the sheet: batch b001) is timed alone
    config["batching"] = {"samples_per_job": 1}
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    ours = run_workflow(run_dir, cfg, cores)
    jobs = benchmark_table(run_dir)
    view = timed(["samtools", "view", "-c", str(bam)])
    bins = run_dir / "results" / "copy_number" / "bins"
    cli = work / "cnvkit_cli"
    cli.mkdir()
    steps = cnvkit_cli_steps(CNVKIT, str(bam), str(bins / "targets.bed"), str(bins / "antitargets.bed"),
                             str(run_dir / "results" / "copy_number" / "reference.cnn"), cli,
                             config["cnv"]["segment_method"])
    chain = {}
    for name, cmd in steps.items():
        if name != "scatter":  # the chain: coverage x2 + fix + segment + call
            chain[name] = timed(cmd)
    cov = chain["coverage targets"]
    say(f"  one samtools view -c pass: {view['wall']:.1f} s wall, {view['cpu']:.1f} s CPU")
    say(f"  cnvkit.py coverage (targets): {cov['wall']:.1f} s wall, {cov['cpu']:.1f} s CPU "
        f"({cov['wall'] / view['wall']:.1f}x the pass)")
    chain_wall = sum(t["wall"] for t in chain.values())
    chain_cpu = sum(t["cpu"] for t in chain.values())
    say(f"  cnvkit.py coverage x2 + fix + segment + call: {chain_wall:.1f} s wall, {chain_cpu:.1f} s CPU")
    say(f"  {'job':<16}{'wall s':>8}{'x view -c':>11}{'x cnvkit cov':>14}{'cpu s*':>8}{'max RSS MB':>12}")
    per = {}
    for rule in SAMPLE_RULES:
        r = jobs[(jobs["rule"] == rule) & (jobs["sample"] == "b001")]
        if not len(r):
            continue
        r = r.iloc[0]
        per[rule] = {"wall": r["s"], "cpu": r["cpu_time"], "max_rss_mb": r["max_rss_mb"],
                     "x_view": r["s"] / view["wall"], "x_cnvkit_coverage": r["s"] / cov["wall"]}
        say(f"  {rule:<16}{r['s']:>8.1f}{r['s'] / view['wall']:>11.1f}{r['s'] / cov['wall']:>14.2f}"
            f"{r['cpu_time']:>8.1f}{r['max_rss_mb']:>12.0f}")
    total = sum(p["wall"] for p in per.values())
    cn_total = sum(per[r]["wall"] for r in ("cnv_coverage", "cnv_segment") if r in per)
    say(f"  per-sample total (all {len(per)} jobs): {total:.1f} s wall = {total / chain_wall:.2f}x CNVkit's own "
        f"chain (target <= 1.5x); copy number alone {cn_total / chain_wall:.2f}x")
    say(f"  QC: {per['preflight_qc']['x_cnvkit_coverage']:.2f}x cnvkit.py coverage (target <= 0.3x), "
        f"{per['preflight_qc']['x_view']:.1f}x one view -c pass")
    say("  * cpu s: Snakemake's benchmark samples the job's process tree (about once a second), so CPU of short "
        "child processes can be missed; wall times are exact")
    return {"bam": str(bam), "reads": reads, "workflow": ours, "view": view, "cnvkit_chain": chain,
            "cnvkit_chain_wall": chain_wall, "cnvkit_chain_cpu": chain_cpu, "per_job": per,
            "per_sample_total_wall": total, "ratio_total_vs_cnvkit_chain": total / chain_wall,
            "jobs": jobs.to_dict(orient="records")}


def rss_summary(results: dict) -> None:
    say("## (c) peak RSS per job (Snakemake benchmark max_rss, MB), largest per rule")
    frames = [pd.DataFrame(results[k]["jobs"]).assign(run=k) for k in ("cohort", "bam") if k in results]
    if not frames:
        return
    jobs = pd.concat(frames, ignore_index=True)
    top = jobs.sort_values("max_rss_mb", ascending=False).groupby(["run", "rule"], sort=False).head(1)
    for _, r in top.sort_values(["run", "max_rss_mb"], ascending=[True, False]).iterrows():
        say(f"  {r['run']:<7}{r['rule']:<22}{r['max_rss_mb']:>8.0f} MB  ({r['sample'] or 'cohort job'})")
    worst = jobs["max_rss_mb"].max()
    say(f"  largest: {worst:.0f} MB (target < 2048 MB for every job)")
    results["max_rss_mb"] = float(worst)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--copies", type=int, default=3, help="copies of the tumour+plasma BAMs in the merged BAM")
    ap.add_argument("--skip-cohort", action="store_true", help="skip (a)")
    ap.add_argument("--skip-bam", action="store_true", help="skip (b)")
    ap.add_argument("--compare-with", help="an earlier run directory: diff its results/tables/*.tsv with (a)'s")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    args = ap.parse_args(argv)
    if not (COHORT / "samples.tsv").exists():
        print(f"no cohort at {COHORT}: run tests/cohort/make_cohort.py first", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="erbbscreen_bench_"))
    say(f"# erbb-screen benchmarks, {time.strftime('%Y-%m-%d %H:%M')}; start: {load()}")
    results = {"start_load": os.getloadavg()}
    if not args.skip_bam:
        results["bam"] = bam_benchmark(work, args.cores, args.copies)
    if not args.skip_cohort:
        results["cohort"] = cohort_benchmark(work, args.cores, args.compare_with)
    rss_summary(results)
    say(f"# end: {load()}")
    results["end_load"] = os.getloadavg()
    (OUT / "run_all.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (OUT / "run_all.md").write_text("\n".join(LINES) + "\n")
    if args.keep:
        print(f"run directories kept under {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
