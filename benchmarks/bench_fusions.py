#!/usr/bin/env python
"""Benchmark of the NRG1 fusion stage: cost vs BAM size, and against Delly on the same BAMs.

What it measures, all in one run on this machine (ratios, because absolute times depend on the machine):

1. ``erbb-screen fusions`` (a fresh process, as a rule runs it) on a sample BAM and on the same BAM with
   ``--factor`` (default 10) times as many extra off-target read pairs (sampled from the reference away from NRG1 and
   the partner genes). Target (shared/targets.md): cost flat as the BAM grows, <= 1.2x for 10x off-target reads.
2. Each time is also printed as a ratio to one ``samtools view -c`` pass over the same BAM (the floor for "read the
   BAM once").
3. ``delly call -g ref.fa bam`` (Debian ``delly``, a general SV caller) on the same BAMs when it is installed, with the
   ratio ours / Delly (target <= 1.5x) and what Delly reports around NRG1 next to what we report.
4. ``--all-samples``: both tools on every BAM of the cohort; NRG1 junctions found by each, against truth.json.

Usage::

    .venv/bin/python benchmarks/bench_fusions.py                       # P08-T of tests/cohort/data
    .venv/bin/python benchmarks/bench_fusions.py --all-samples
    .venv/bin/python benchmarks/bench_fusions.py --bam my.bam --fasta ref.fa --transcripts tx.bed12 [--domains d.bed]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COHORT = Path(os.environ.get("ERBBSCREEN_COHORT", ROOT / "tests" / "cohort" / "data"))


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd, repeats: int, **kw):
    """Median wall time and median CPU time (user + sys) of ``cmd`` over ``repeats`` runs (output discarded).

    CPU time is printed too because a shared machine's load inflates wall times unevenly."""
    walls, cpus = [], []
    for _ in range(repeats):
        c, t = _child_cpu(), time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        walls.append(time.perf_counter() - t)
        cpus.append(_child_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def in_process(bam, args, repeats: int) -> float:
    """Median CPU time of the stage's work in this (warm) process: detection + writing, no start-up/imports."""
    from erbbscreen import fusions as F
    from erbbscreen.annotation import read_domains, read_transcripts

    times = []
    for _ in range(repeats):
        t = time.process_time()
        tx = read_transcripts(args.transcripts)
        dom = read_domains(args.domains) if args.domains else None
        r = F.detect(bam, tx, dom, args.fasta)
        with tempfile.TemporaryDirectory() as d:
            F.write_outputs(r, {"sample_id": "x", "patient_id": "x", "sample_type": "tumor"}, d, None, args.fasta)
        times.append(time.process_time() - t)
    return statistics.median(times)


def count_reads(bam) -> int:
    return int(subprocess.run(["samtools", "view", "-c", str(bam)], check=True, capture_output=True,
                              text=True).stdout.strip())


def excluded_regions(transcripts_path, settings, pad=20000):
    from erbbscreen.annotation import read_transcripts

    tx = read_transcripts(transcripts_path)
    genes = [settings["gene"]] + list(settings["partners"])
    return [(tx[g].chrom, tx[g].start - pad, tx[g].end + pad) for g in genes if g in tx]


def inflate(bam, fasta, transcripts, out_bam, factor: int, seed: int = 1, read_len: int = 100):
    """``bam`` plus factor x (its read count) off-target pairs sampled from the reference outside the gene regions."""
    import pysam

    from erbbscreen.fusions import settings_from

    n_new = factor * count_reads(bam)
    excl = excluded_regions(transcripts, settings_from(None))
    rng = random.Random(seed)
    fa = pysam.FastaFile(str(fasta))
    contigs = [(c, n) for c, n in zip(fa.references, fa.lengths) if n > 5000]
    total = sum(n for _, n in contigs)
    seqs = {c: fa.fetch(c).upper() for c, _ in contigs}
    header = subprocess.run(["samtools", "view", "-H", str(bam)], check=True, capture_output=True, text=True).stdout
    tmp_sam = Path(str(out_bam) + ".off.bam")
    sort = subprocess.Popen(["samtools", "sort", "-@2", "-m", "600M", "-o", str(tmp_sam), "-"],
                            stdin=subprocess.PIPE, text=True)
    sort.stdin.write(header)
    qual = "F" * read_len
    made, i = 0, 0
    lines = []
    while made < n_new:
        x = rng.randrange(total)
        for c, n in contigs:
            if x < n:
                break
            x -= n
        ins = rng.randint(220, 400)
        if x + ins >= n or any(c == ec and es <= x + ins and x <= ee for ec, es, ee in excl):
            continue
        i += 1
        s1 = seqs[c][x:x + read_len]
        s2 = seqs[c][x + ins - read_len:x + ins]
        p2 = x + ins - read_len
        lines.append(f"off{i}\t99\t{c}\t{x + 1}\t60\t{read_len}M\t=\t{p2 + 1}\t{ins}\t{s1}\t{qual}\tMC:Z:{read_len}M\n")
        lines.append(f"off{i}\t147\t{c}\t{p2 + 1}\t60\t{read_len}M\t=\t{x + 1}\t{-ins}\t{s2}\t{qual}\t"
                     f"MC:Z:{read_len}M\n")
        made += 2
        if len(lines) >= 20000:
            sort.stdin.write("".join(lines))
            lines = []
    sort.stdin.write("".join(lines))
    sort.stdin.close()
    if sort.wait() != 0:
        raise RuntimeError("samtools sort failed")
    subprocess.run(["samtools", "merge", "-f", "-@2", "-o", str(out_bam), str(bam), str(tmp_sam)], check=True)
    subprocess.run(["samtools", "index", str(out_bam)], check=True)
    tmp_sam.unlink()
    return n_new


def ours_cmd(bam, args, out_dir):
    cmd = [sys.executable, "-m", "erbbscreen.cli", "fusions", "--bam", str(bam), "--transcripts", str(args.transcripts),
           "--fasta", str(args.fasta), "--out-dir", str(out_dir)]
    if args.domains:
        cmd += ["--domains", str(args.domains)]
    return cmd


def delly_calls(bcf, region_chrom, lo, hi):
    """Delly records with a breakend in [lo, hi) of region_chrom: (chrom, pos, chr2, pos2, CT, FILTER, SR, PE)."""
    import pysam

    out = []
    with pysam.VariantFile(str(bcf)) as vf:
        for r in vf:
            chr2 = r.info.get("CHR2", r.chrom)
            pos2 = r.info.get("POS2", r.stop)
            ends = [(r.chrom, r.pos), (chr2, pos2)]
            if any(c == region_chrom and lo <= p < hi for c, p in ends):
                out.append({"svtype": r.info.get("SVTYPE"), "chrom": r.chrom, "pos": r.pos, "chr2": chr2,
                            "pos2": pos2, "ct": r.info.get("CT"), "filter": ";".join(r.filter.keys()) or ".",
                            "precise": bool(r.info.get("PRECISE")), "sr": r.info.get("SR"), "pe": r.info.get("PE")})
    return out


def run_delly(bam, fasta, work, tag):
    """(wall, cpu, bcf) of one ``delly call -g ref.fa bam``."""
    bcf = Path(work) / f"delly_{tag}.bcf"
    c, t = _child_cpu(), time.perf_counter()
    subprocess.run(["delly", "call", "-g", str(fasta), "-o", str(bcf), str(bam)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, _child_cpu() - c, bcf


def truth_fusions():
    p = COHORT / "truth.json"
    if not p.exists():
        return {}
    truth = json.loads(p.read_text())
    return {sid: [r for r in s["planted"] if r["type"] == "fusion"] for sid, s in truth["samples"].items()}


def nrg1_span(args):
    from erbbscreen.annotation import read_transcripts
    from erbbscreen.fusions import settings_from

    s = settings_from(None)
    t = read_transcripts(args.transcripts)[s["gene"]]
    return t.chrom, t.start - s["flank"], t.end + s["flank"]


def bench_one(args, work):
    from erbbscreen.tables import read_table

    bam = Path(args.bam)
    big = Path(work) / f"{bam.stem}.x{args.factor}.bam"
    t = time.perf_counter()
    n_new = inflate(bam, args.fasta, args.transcripts, big, args.factor)
    print(f"# built {big.name}: +{n_new} off-target reads in {time.perf_counter() - t:.1f} s", flush=True)
    rows = []
    chrom, lo, hi = nrg1_span(args)
    have_delly = shutil.which("delly") is not None
    for tag, path in (("original", bam), (f"x{args.factor} off-target", big)):
        n = count_reads(path)
        t_sam = timed(["samtools", "view", "-c", str(path)], args.repeats)
        out = Path(work) / f"ours_{tag.split()[0]}"
        t_ours = timed(ours_cmd(path, args, out), args.repeats)
        fus = read_table(out / "fusions.tsv")
        row = {"bam": tag, "reads": n, "mb": path.stat().st_size / 1e6, "samtools": t_sam, "ours": t_ours,
               "work": in_process(path, args, args.repeats),
               "ours_calls": [f"{r.gene_5p}-{r.gene_3p} {r.chrom_5p}:{r.pos_5p}/{r.chrom_3p}:{r.pos_3p} "
                              f"SR={r.split_reads} PE={r.discordant_pairs}" for r in fus.itertuples()]}
        if have_delly:
            runs = [run_delly(path, args.fasta, work, f"{tag.split()[0]}{k}") for k in range(args.repeats)]
            row["delly"] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            row["delly_calls"] = delly_calls(runs[-1][2], chrom, lo, hi)
        rows.append(row)
    print()
    print("times in s, median of", args.repeats, "runs; wall / cpu (user+sys)")
    hdr = (f"{'BAM':<18}{'reads':>9}{'MB':>6}{'samtools -c':>14}{'ours (process)':>16}{'ours/samtools':>15}"
           f"{'ours work cpu':>15}")
    if have_delly:
        hdr += f"{'delly':>14}{'ours/delly':>13}"
    print(hdr)
    for r in rows:
        line = (f"{r['bam']:<18}{r['reads']:>9}{r['mb']:>6.1f}{r['samtools'][0]:>7.3f}/{r['samtools'][1]:<6.3f}"
                f"{r['ours'][0]:>9.3f}/{r['ours'][1]:<6.3f}{r['ours'][0] / r['samtools'][0]:>7.1f}/"
                f"{r['ours'][1] / max(r['samtools'][1], 1e-3):<7.1f}{r['work']:>15.3f}")
        if have_delly:
            line += (f"{r['delly'][0]:>7.3f}/{r['delly'][1]:<6.3f}{r['ours'][0] / r['delly'][0]:>6.2f}/"
                     f"{r['ours'][1] / r['delly'][1]:<6.2f}")
        print(line)
    print()
    o, b = rows
    print(f"ours, x{args.factor} off-target / original: wall {b['ours'][0] / o['ours'][0]:.2f}, cpu "
          f"{b['ours'][1] / o['ours'][1]:.2f}, in-process work {b['work'] / o['work']:.2f}  (target <= 1.2)")
    print(f"samtools view -c, x{args.factor} / original: wall {b['samtools'][0] / o['samtools'][0]:.2f}")
    if have_delly:
        print(f"delly, x{args.factor} / original: wall {b['delly'][0] / o['delly'][0]:.2f}, cpu "
              f"{b['delly'][1] / o['delly'][1]:.2f}")
        for r in rows:
            print(f"ours / delly [{r['bam']}]: wall {r['ours'][0] / r['delly'][0]:.2f}, cpu "
                  f"{r['ours'][1] / r['delly'][1]:.2f}, in-process work / delly cpu {r['work'] / r['delly'][1]:.2f}"
                  f"  (target <= 1.5)")
    else:
        print("delly not installed (apt-get install -y delly): peer comparison skipped")
    print()
    for r in rows:
        print(f"[{r['bam']}] ours: {r['ours_calls'] or 'no fusion'}")
        if have_delly:
            print(f"[{r['bam']}] delly records touching {chrom}:{lo + 1}-{hi}: {r['delly_calls'] or 'none'}")
    truth = truth_fusions().get(args.sample)
    if truth:
        print(f"truth {args.sample}: " + "; ".join(f"{t['gene_5p']}-{t['gene_3p']} {t['chrom_5p']}:{t['pos_5p']}/"
                                                   f"{t['chrom_3p']}:{t['pos_3p']}" for t in truth))


def bench_all(args, work):
    """Both tools on every cohort BAM: NRG1 junctions found, against truth."""
    from erbbscreen.tables import read_table

    samples = [line.split("\t") for line in (COHORT / "samples.tsv").read_text().splitlines()[1:]]
    truth = truth_fusions()
    chrom, lo, hi = nrg1_span(args)
    have_delly = shutil.which("delly") is not None
    tot = {"ours": [0.0, 0.0], "delly": [0.0, 0.0]}
    print(f"{'sample':<8}{'truth':<26}{'ours':<30}{'delly (PASS, NRG1 region)':<40}{'ours wall/cpu':>13}"
          f"{'delly wall/cpu':>15}")
    for pid, sid, stype, bam, *_ in samples:
        bam = COHORT / bam
        out = Path(work) / f"all_{sid}"
        t_ours = timed(ours_cmd(bam, args, out) + ["--sample-id", sid], 1)
        fus = read_table(out / "fusions.tsv")
        ours = ",".join(f"{r.gene_5p}:{r.pos_5p}/{r.pos_3p}" for r in fus.itertuples()) or "-"
        tr = ",".join(f"{x['gene_5p']}:{x['pos_5p']}/{x['pos_3p']}" for x in truth.get(sid, [])) or "-"
        dl, t_d = "-", (float("nan"), float("nan"))
        if have_delly:
            wall, cpu, bcf = run_delly(bam, args.fasta, work, f"all_{sid}")
            t_d = (wall, cpu)
            calls = [c for c in delly_calls(bcf, chrom, lo, hi) if c["filter"] == "PASS"]
            dl = ",".join(f"{c['chrom']}:{c['pos']}/{c['chr2']}:{c['pos2']}({c['ct']})" for c in calls) or "-"
            tot["delly"] = [a + b for a, b in zip(tot["delly"], t_d)]
        tot["ours"] = [a + b for a, b in zip(tot["ours"], t_ours)]
        print(f"{sid:<8}{tr:<26}{ours:<30}{dl:<40}{t_ours[0]:>6.2f}/{t_ours[1]:<5.2f}{t_d[0]:>6.2f}/{t_d[1]:<5.2f}",
              flush=True)
    print(f"total wall/cpu: ours {tot['ours'][0]:.1f}/{tot['ours'][1]:.1f} s", end="")
    if have_delly:
        print(f", delly {tot['delly'][0]:.1f}/{tot['delly'][1]:.1f} s, ratio wall "
              f"{tot['ours'][0] / tot['delly'][0]:.2f}, cpu {tot['ours'][1] / tot['delly'][1]:.2f}")
    else:
        print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", default="P08-T", help="cohort sample [P08-T]")
    ap.add_argument("--bam")
    ap.add_argument("--fasta", default=str(COHORT / "reference" / "genome.fa"))
    ap.add_argument("--transcripts", default=str(COHORT / "reference" / "transcripts.bed12"))
    ap.add_argument("--domains", default=str(COHORT / "reference" / "domains.bed"))
    ap.add_argument("--factor", type=int, default=10, help="off-target reads added, x the BAM's read count [10]")
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing, median reported [3]")
    ap.add_argument("--work", help="working folder (default: a temporary one, removed)")
    ap.add_argument("--all-samples", action="store_true", help="both tools on every cohort BAM")
    args = ap.parse_args(argv)
    if args.bam is None:
        args.bam = str(COHORT / "bams" / f"{args.sample}.bam")
    if not Path(args.bam).exists():
        print(f"{args.bam} not found: generate the cohort (python tests/cohort/make_cohort.py) or pass --bam",
              file=sys.stderr)
        return 1
    if args.domains and not Path(args.domains).exists():
        args.domains = None
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    work = args.work or tempfile.mkdtemp(prefix="bench_fusions_")
    Path(work).mkdir(parents=True, exist_ok=True)
    try:
        print(f"# erbb-screen fusions benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"work {work}")
        if args.all_samples:
            bench_all(args, work)
        else:
            bench_one(args, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
