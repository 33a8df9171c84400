#!/usr/bin/env python
"""Benchmark: hotspot stage cost as the BAM grows (targets.md: <= 1.2x when off-target reads grow 10x).

Builds one SYNTHETIC sample (hotspot codons at ~1500x plus N off-target read pairs spread over a 5 Mb
contig), then the same sample with 10x the off-target reads (the 1x BAM merged with 9N extra pairs).
For each BAM it measures, in the same run:
  * the stage in-process: count_codons + call_sample + write_vcf (best of --repeats);
  * the stage as a command: `erbb-screen hotspots ...` (includes Python start-up and imports);
  * one `samtools view -c` pass over the same BAM (best of --repeats),
and prints the stage times, their ratio to the samtools pass, and the 10x/1x ratio.

With ``--cohort-sample P01-L`` the 1x BAM is that sample of the simulated cohort (tests/cohort/data) and
the 10x BAM adds 9x its read count as off-target pairs drawn from the cohort genome.

    .venv/bin/python benchmarks/bench_hotspots.py [--pairs 200000] [--repeats 3] [--cohort-sample P01-L]

Not a test: numbers depend on the machine; nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pysam

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data" / "hotspots"))

import hotspots_sim as S  # noqa: E402

from erbbscreen import hotspots as h  # noqa: E402

READ_LEN = S.READ_LEN


def _samtools(*args):
    subprocess.run(["samtools", *map(str, args)], check=True, capture_output=True)


def synthetic_reference(d: Path, background_bp: int, seed: int = 1):
    """The unit-test reference (chr12, chr3 with planted codons) plus a random background contig."""
    fa, hs, seqs = S.make_reference(d, seed=seed)
    rng = random.Random(seed + 1)
    bg = "".join(rng.choice("ACGT") for _ in range(background_bp))
    seqs["chrBG"] = bg
    with open(fa, "a") as fh:
        fh.write(">chrBG\n" + "".join(bg[i:i + 60] + "\n" for i in range(0, len(bg), 60)))
    Path(str(fa) + ".fai").unlink()
    pysam.faidx(str(fa))
    return fa, hs, seqs


def off_target_sam(path: Path, fasta: Path, n_pairs: int, avoid, seed: int):
    """``n_pairs`` random proper pairs (100 bp, insert 300) anywhere in ``fasta`` except the ``avoid`` windows."""
    rng = random.Random(seed)
    fa = pysam.FastaFile(str(fasta))
    names, lengths = list(fa.references), list(fa.lengths)
    seqs = {n: fa.fetch(n) for n in names}
    total = sum(lengths)
    qual = "I" * READ_LEN
    with open(path, "w") as out:
        out.write("@HD\tVN:1.6\tSO:unsorted\n")
        for n, ln in zip(names, lengths):
            out.write(f"@SQ\tSN:{n}\tLN:{ln}\n")
        out.write("@RG\tID:rg1\tSM:BENCH\n")
        i = 0
        while i < n_pairs:
            x = rng.randrange(total)
            for n, ln in zip(names, lengths):
                if x < ln:
                    break
                x -= ln
            ins = 300
            if x + ins >= ln or any(c == n and abs(x - p) < 1000 for c, p in avoid):
                continue
            s1 = seqs[n][x:x + READ_LEN]
            s2 = seqs[n][x + ins - READ_LEN:x + ins]
            name = f"off{seed}_{i}"
            out.write(f"{name}\t99\t{n}\t{x + 1}\t60\t{READ_LEN}M\t=\t{x + ins - READ_LEN + 1}\t{ins}\t{s1}\t{qual}\t"
                      f"RG:Z:rg1\n")
            out.write(f"{name}\t147\t{n}\t{x + ins - READ_LEN + 1}\t60\t{READ_LEN}M\t=\t{x + 1}\t{-ins}\t"
                      f"{s2}\t{qual}\tRG:Z:rg1\n")  # SAM SEQ is on the forward strand
            i += 1
    fa.close()


def _runners(bam: Path, fasta: Path, hotspots: Path, sample_type: str, work: Path) -> dict:
    codons = h.load_codons(hotspots, fasta)
    info = dict(sample_id="BENCH", patient_id="BENCH", sample_type=sample_type, purity=None)

    def stage():
        counts = h.count_codons(bam, codons, reference=fasta)
        _, _, calls = h.call_sample(counts, codons, info)
        h.write_vcf(calls, fasta, "BENCH", work / "bench.vcf.gz")

    def cli():
        subprocess.run([sys.executable, "-m", "erbbscreen.cli", "hotspots", "--bam", str(bam), "--hotspots",
                        str(hotspots), "--fasta", str(fasta), "--sample-type", sample_type, "--out-prefix",
                        str(work / "cli" / "BENCH")], check=True, capture_output=True)

    def view_c():
        subprocess.run(["samtools", "view", "-c", str(bam)], check=True, capture_output=True)

    return {"stage_s": stage, "cli_s": cli, "samtools_view_c_s": view_c}


def measure(bams: dict, fasta: Path, hotspots: Path, sample_type: str, repeats: int, work: Path) -> dict:
    """Best-of-``repeats`` wall time of each runner on each BAM, the BAMs interleaved in every round so that
    both see the same machine load (the machine is shared)."""
    runners = {name: _runners(bam, fasta, hotspots, sample_type, work) for name, bam in bams.items()}
    out = {}
    for name, bam in bams.items():
        runners[name]["stage_s"]()  # warm the page cache and the index once
        n_reads = int(subprocess.run(["samtools", "view", "-c", str(bam)], check=True, capture_output=True,
                                     text=True).stdout.strip())
        out[name] = {"bam": str(bam), "bytes": bam.stat().st_size, "reads": n_reads}
    for _ in range(repeats):
        for what in ("stage_s", "cli_s", "samtools_view_c_s"):
            for name in bams:
                t0 = time.perf_counter()
                runners[name][what]()
                dt = time.perf_counter() - t0
                out[name][what] = min(out[name].get(what, float("inf")), dt)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=200_000, help="off-target read pairs in the 1x BAM (synthetic)")
    ap.add_argument("--depth", type=int, default=1500, help="fragments per hotspot codon (synthetic)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cohort-sample", help="use this sample of the simulated cohort as the 1x BAM")
    ap.add_argument("--cohort-dir", default=str(ROOT / "tests" / "cohort" / "data"),
                    help="generated cohort folder (default tests/cohort/data)")
    ap.add_argument("--keep", help="keep the BAMs in this directory")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "out" / "bench_hotspots.json"))
    a = ap.parse_args(argv)
    if shutil.which("samtools") is None:
        print("samtools not found (Debian package samtools)", file=sys.stderr)
        return 2
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_hotspots_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if a.cohort_sample:
        cohort = Path(a.cohort_dir)
        fasta, hotspots = cohort / "reference" / "genome.fa", cohort / "reference" / "hotspots.tsv"
        sheet = {ln.split("\t")[1]: ln.rstrip("\n").split("\t") for ln in open(cohort / "samples.tsv")}
        row = sheet[a.cohort_sample]
        sample_type = row[2]
        bam1 = cohort / row[3]
        n_base = int(subprocess.run(["samtools", "view", "-c", str(bam1)], check=True, capture_output=True,
                                    text=True).stdout.strip())
        extra_pairs = 9 * n_base // 2
    else:
        fasta, hotspots, seqs = synthetic_reference(work / "ref", background_bp=5_000_000)
        sample_type = "plasma"
        rng = random.Random(3)
        frags = []
        for contig, span in (("chr12", S.KRAS12), ("chr3", S.PIK3CA1047)):
            frags += S.fragments(a.depth, contig, span, rng, overlap=True)
        on = S.write_bam(work / "on_target.bam", seqs, frags, error_rate=0.002)
        off_target_sam(work / "off1.sam", fasta, a.pairs, [("chr12", 1500), ("chr3", 1500)], seed=11)
        _samtools("sort", "-o", work / "off1.bam", work / "off1.sam")
        bam1 = work / "x1.bam"
        _samtools("merge", "-f", "-o", bam1, on, work / "off1.bam")
        _samtools("index", bam1)
        extra_pairs = 9 * a.pairs
    codon_sites = [(c.chrom, min(c.positions)) for c in h.load_codons(hotspots, fasta)]
    off_target_sam(work / "off9.sam", fasta, extra_pairs, codon_sites, seed=12)
    _samtools("sort", "-@2", "-o", work / "off9.bam", work / "off9.sam")
    (work / "off9.sam").unlink()
    bam10 = work / "x10.bam"
    _samtools("merge", "-f", "-@2", "-o", bam10, bam1, work / "off9.bam")
    _samtools("index", bam10)
    build_s = time.time() - t0

    res = measure({"x1": bam1, "x10": bam10}, fasta, hotspots, sample_type, a.repeats, work)
    r1, r10 = res["x1"], res["x10"]
    result = {"x1": r1, "x10": r10, "build_s": round(build_s, 1),
              "stage_ratio_10x_over_1x": r10["stage_s"] / r1["stage_s"],
              "cli_ratio_10x_over_1x": r10["cli_s"] / r1["cli_s"]}
    print(f"BAMs built in {build_s:.1f} s ({'cohort ' + a.cohort_sample if a.cohort_sample else 'synthetic'})")
    print(f"{'BAM':<6}{'reads':>12}{'MB':>9}{'stage s':>10}{'cli s':>9}{'view -c s':>11}{'stage/view':>12}"
          f"{'cli/view':>10}")
    for name, r in (("1x", r1), ("10x", r10)):
        print(f"{name:<6}{r['reads']:>12}{r['bytes'] / 1e6:>9.1f}{r['stage_s']:>10.3f}{r['cli_s']:>9.3f}"
              f"{r['samtools_view_c_s']:>11.3f}{r['stage_s'] / r['samtools_view_c_s']:>12.3f}"
              f"{r['cli_s'] / r['samtools_view_c_s']:>10.3f}")
    print(f"stage 10x/1x = {result['stage_ratio_10x_over_1x']:.3f}  (target <= 1.2)")
    print(f"cli   10x/1x = {result['cli_ratio_10x_over_1x']:.3f}")
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
