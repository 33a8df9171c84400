"""Benchmark (not a test): per-sample CPU and wall time of the copy-number stage, as a ratio to one
`samtools view -c` pass over the same BAM measured in the same run, and to CNVkit's own per-sample CLI steps.

For each tumour BAM of the test cohort (tests/cohort/data, SYNTHETIC) it times, each in a fresh process as the
workflow runs them:

* ``coverage``  - ``erbbscreen.copynumber.run_coverage`` (target + antitarget coverage, one process),
* ``call``      - ``erbbscreen.copynumber.run_sample`` (fix + segment + call + gene calls + 2 plots, one process),
* ``samtools``  - ``samtools view -c`` (one pass over the BAM: the floor for "read the BAM once"),
* ``cnvkit_cli``- (``--cnvkit-cli``) the same steps as separate ``cnvkit.py`` commands: coverage x2, fix,
  segment (same method as the stage), call, scatter (what `batch` costs per sample, 6 processes).

The cohort-level steps (bins, reference from the normals) run once and are reported separately.
Usage::

    .venv/bin/python benchmarks/bench_copy_number.py [--cohort tests/cohort/data] [--samples P01-T,P02-T]
        [--cnvkit-cli] [--out benchmarks/out/copy_number.tsv]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def timed(cmd, **kw) -> dict:
    """Wall and CPU (user + sys of the child) seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)
    if res.returncode != 0:
        sys.exit(f"benchmark step failed ({res.returncode}): {' '.join(cmd)[:300]}\n{res.stderr[-2000:]}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def cnvkit_cli_steps(exe: str, bam: str, targets: str, antitargets: str, reference: str, d: Path,
                     method: str) -> dict:
    """CNVkit's own per-sample chain as ``cnvkit.py`` commands (what ``batch`` runs per sample): name -> argv."""
    d = Path(d)
    return {
        "coverage targets": [exe, "coverage", bam, targets, "-o", str(d / "s.targetcoverage.cnn")],
        "coverage antitargets": [exe, "coverage", bam, antitargets, "-o", str(d / "s.antitargetcoverage.cnn")],
        "fix": [exe, "fix", str(d / "s.targetcoverage.cnn"), str(d / "s.antitargetcoverage.cnn"), reference,
                "-o", str(d / "s.cnr")],
        "segment": [exe, "segment", "-m", method, str(d / "s.cnr"), "-o", str(d / "s.cns")],
        "call": [exe, "call", str(d / "s.cns"), "-o", str(d / "s.call.cns")],
        "scatter": [exe, "scatter", str(d / "s.cnr"), "-s", str(d / "s.cns"), "-o", str(d / "s-scatter.png")],
    }


def py(code: str) -> list:
    return [PY, "-c", code]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", default=str(ROOT / "tests" / "cohort" / "data"))
    ap.add_argument("--samples", help="comma-separated tumour sample ids (default: every tumour in the sheet)")
    ap.add_argument("--segment-method", default=None, help="override cnv.segment_method (default: config default)")
    ap.add_argument("--cnvkit-cli", action="store_true", help="also time the cnvkit.py CLI steps per sample")
    ap.add_argument("--out", help="write the per-sample table here (TSV)")
    args = ap.parse_args(argv)

    cohort = Path(args.cohort)
    if not (cohort / "samples.tsv").is_file():
        print(f"no cohort at {cohort}: generate it with tests/cohort/make_cohort.py", file=sys.stderr)
        return 2
    sheet = pd.read_csv(cohort / "samples.tsv", sep="\t", dtype=str, keep_default_na=False).set_index("sample_id")
    ref = cohort / "reference"
    fasta, panel, tx = ref / "genome.fa", ref / "panel.bed", ref / "transcripts.bed12"

    def bam(sid):
        p = Path(sheet.loc[sid, "bam"])
        return str(p if p.is_absolute() else cohort / p)

    tumours = args.samples.split(",") if args.samples else [s for s in sheet.index
                                                            if sheet.loc[s, "sample_type"] == "tumor"]
    normals = [s for s in sheet.index if sheet.loc[s, "sample_type"] == "normal"]
    settings = {"segment_method": args.segment_method} if args.segment_method else {}
    sys.path.insert(0, str(ROOT / "src"))
    from erbbscreen.copynumber import cnv_defaults

    default_method = cnv_defaults()["segment_method"]
    work = Path(tempfile.mkdtemp(prefix="bench_cnv_"))
    st = json.dumps(settings)
    imp = "from erbbscreen import copynumber as cn; import json; s = cn.cnv_settings(json.loads(%r)); " % st

    cohort_steps = {}
    cohort_steps["bins"] = timed(py(imp + f"cn.run_bins({str(fasta)!r}, {str(work / 't.bed')!r}, "
                                    f"{str(work / 'a.bed')!r}, panel={str(panel)!r}, transcripts={str(tx)!r}, "
                                    "settings=s)"))
    for n in normals:
        cohort_steps[f"coverage {n}"] = timed(py(
            imp + f"cn.run_coverage({bam(n)!r}, None, {str(work / 't.bed')!r}, {str(work / 'a.bed')!r}, "
            f"{str(work / (n + '.t.cnn'))!r}, {str(work / (n + '.a.cnn'))!r}, fasta={str(fasta)!r}, settings=s)"))
    nl = [{"sample_id": n, "target": str(work / f"{n}.t.cnn"), "antitarget": str(work / f"{n}.a.cnn"), "qc": None}
          for n in normals]
    cohort_steps["reference"] = timed(py(
        imp + f"cn.run_reference({nl!r}, {str(work / 't.bed')!r}, {str(work / 'a.bed')!r}, {str(fasta)!r}, "
        f"{str(work / 'ref.cnn')!r}, {str(work / 'ref.json')!r}, wgs=False)"))

    rows = []
    for sid in tumours:
        b = bam(sid)
        sam = timed(["samtools", "view", "-c", b])
        cov = timed(py(imp + f"cn.run_coverage({b!r}, None, {str(work / 't.bed')!r}, {str(work / 'a.bed')!r}, "
                             f"{str(work / (sid + '.t.cnn'))!r}, {str(work / (sid + '.a.cnn'))!r}, "
                             f"fasta={str(fasta)!r}, settings=s)"))
        pur = sheet.loc[sid, "purity"]
        info = {"sample_id": sid, "patient_id": sheet.loc[sid, "patient_id"], "sample_type": "tumor",
                "purity": float(pur) if pur else None}
        outs = {k: str(work / sid / f"{sid}{ext}") for k, ext in
                {"cnr": ".cnr", "cns": ".cns", "call_cns": ".call.cns", "scatter": "-scatter.png",
                 "zoom": "-erbb2.png", "genes": ".genes.tsv", "biomarkers": ".biomarkers.tsv"}.items()}
        call = timed(py(imp + f"cn.run_sample({info!r}, None, {str(work / (sid + '.t.cnn'))!r}, "
                              f"{str(work / (sid + '.a.cnn'))!r}, {str(work / 'ref.cnn')!r}, "
                              f"{str(work / 'ref.json')!r}, {outs!r}, s, transcripts={str(tx)!r})"))
        row = {"sample": sid, "samtools_wall": sam["wall"], "samtools_cpu": sam["cpu"],
               "coverage_wall": cov["wall"], "coverage_cpu": cov["cpu"], "call_wall": call["wall"],
               "call_cpu": call["cpu"]}
        row["stage_wall"] = cov["wall"] + call["wall"]
        row["stage_cpu"] = cov["cpu"] + call["cpu"]
        row["ratio_wall_vs_samtools"] = row["stage_wall"] / sam["wall"]
        row["ratio_cpu_vs_samtools"] = row["stage_cpu"] / max(sam["cpu"], 1e-3)
        if args.cnvkit_cli:
            exe = shutil.which("cnvkit.py") or str(Path(PY).with_name("cnvkit.py"))
            d = work / f"cli_{sid}"
            d.mkdir()
            method = args.segment_method or default_method  # the same segmentation as the stage
            steps = cnvkit_cli_steps(exe, b, str(work / "t.bed"), str(work / "a.bed"), str(work / "ref.cnn"), d,
                                     method).values()
            tot = {"wall": 0.0, "cpu": 0.0}
            for cmd in steps:
                t = timed(cmd)
                tot["wall"] += t["wall"]
                tot["cpu"] += t["cpu"]
            row.update(cnvkit_cli_wall=tot["wall"], cnvkit_cli_cpu=tot["cpu"],
                       ratio_wall_vs_cnvkit_cli=row["stage_wall"] / tot["wall"],
                       ratio_cli_wall_vs_samtools=tot["wall"] / sam["wall"])
        rows.append(row)
        print(f"{sid}: stage {row['stage_wall']:.2f} s wall / {row['stage_cpu']:.2f} s CPU "
              f"(coverage {cov['wall']:.2f} s, call {call['wall']:.2f} s); samtools view -c {sam['wall']:.3f} s "
              f"-> {row['ratio_wall_vs_samtools']:.1f}x wall, {row['ratio_cpu_vs_samtools']:.1f}x CPU"
              + (f"; cnvkit.py CLI chain {row['cnvkit_cli_wall']:.2f} s -> ours/CLI "
                 f"{row['ratio_wall_vs_cnvkit_cli']:.2f}x" if args.cnvkit_cli else ""), flush=True)
    df = pd.DataFrame(rows)
    print("\ncohort-level steps (once per cohort):")
    for k, v in cohort_steps.items():
        print(f"  {k}: {v['wall']:.2f} s wall, {v['cpu']:.2f} s CPU")
    print("\nper-sample summary (median over samples):")
    print(df.drop(columns="sample").median().round(3).to_string())
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
