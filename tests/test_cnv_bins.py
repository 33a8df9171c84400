"""erbbscreen.cnv_bins: the bins job's targets.bed / antitargets.bed equal, byte for byte, those CNVkit 0.9.14 makes
(``cnvlib.target.do_target`` + ``access.do_access`` + ``antitarget.do_antitarget`` written by
``skgenome.tabio.write(arr, path, "bed4")``; this test imports cnvlib, the job does not), on the synthetic cohort's
reference (tests/cohort/make_cohort.py: simulated, not patient data) and on small synthetic inputs built here:
unsorted / overlapping / abutting baits, a long bait, baits on contigs the FASTA lacks, N runs, non-canonical
contigs, a given access BED, inputs left to CNVkit's own path, an empty panel."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from conftest import cohort_ready
from erbbscreen import cnv_bins
from erbbscreen import copynumber as cn
from erbbscreen.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
COHORT = Path(os.environ.get("ERBBSCREEN_COHORT_DATA", ROOT / "tests" / "cohort" / "data"))
REF = COHORT / "reference"


needs_cohort = pytest.mark.skipif(not cohort_ready(COHORT),
                                  reason="simulated cohort not generated or incomplete (tests/cohort/make_cohort.py)")


def _cnvkit_bytes(arr, path: Path) -> str:
    """What CNVkit's own writer puts in a BED4 (erbbscreen writes an empty file for no bins)."""
    from skgenome import tabio

    if not len(arr):
        return ""
    tabio.write(arr, str(path), "bed4")
    return path.read_text()


def _assert_same_bins(tmp_path: Path, fasta, panel, transcripts=None, settings=None, access=None,
                      expect_own: bool = True) -> tuple:
    """make_bins + write_bed4 (the job) against CNVkit's path + CNVkit's writer: identical bytes, both files."""
    s = settings or cn.cnv_settings()
    tgt, anti = cn.make_bins(str(fasta), str(panel), transcripts and str(transcripts), None, s, access and str(access))
    # our path gives pandas tables, CNVkit's GenomicArrays: which one ran is part of the claim
    assert (type(tgt).__name__ == "DataFrame") is expect_own
    ref_tgt, ref_anti = cn.cnvkit_bins(str(fasta), str(panel), transcripts and str(transcripts), None, s,
                                       access and str(access))
    out = {}
    for name, ours, theirs in (("targets", tgt, ref_tgt), ("antitargets", anti, ref_anti)):
        cn.write_bed4(ours, tmp_path / f"{name}.bed")
        text = (tmp_path / f"{name}.bed").read_text()
        assert text == _cnvkit_bytes(theirs, tmp_path / f"{name}.cnvkit.bed"), name
        out[name] = text
    return out["targets"], out["antitargets"]


@needs_cohort
def test_cohort_reference_default_settings(tmp_path):
    """The cohort's panel, FASTA and transcripts with the workflow's settings (the cohort runs the defaults:
    target_avg_size 267, antitarget_avg_size 150000)."""
    s = cn.cnv_settings()
    assert (s["target_avg_size"], s["antitarget_avg_size"]) == (267, 150000)
    tgt, anti = _assert_same_bins(tmp_path, REF / "genome.fa", REF / "panel.bed", REF / "transcripts.bed12", s)
    assert len(tgt.splitlines()) > 400 and len(anti.splitlines()) > 100
    assert "ERBB2" in tgt and set(line.split("\t")[3] for line in anti.splitlines()) == {"Antitarget"}


@needs_cohort
def test_cohort_reference_other_sizes(tmp_path):
    """Smaller bins split more baits and access regions (rounding of span / avg_size exercised)."""
    s = cn.cnv_settings({"target_avg_size": 100, "antitarget_avg_size": 20000})
    tgt, anti = _assert_same_bins(tmp_path, REF / "genome.fa", REF / "panel.bed", REF / "transcripts.bed12", s)
    default, _ = _assert_same_bins(tmp_path, REF / "genome.fa", REF / "panel.bed", REF / "transcripts.bed12")
    assert len(tgt.splitlines()) > len(default.splitlines())


def _fasta(path: Path, contigs: dict, width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name} synthetic\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
    pysam.faidx(str(path))
    return path


def _seq(n: int, offset: int = 0) -> str:
    return "".join("ACGT"[(i * 7 + i // 5 + offset) % 4] for i in range(n))


@pytest.fixture
def synthetic(tmp_path):
    """A synthetic genome: chr1 with N runs (telomeres, a 3 kb gap CNVkit joins over, a 12 kb gap it keeps, a
    mixed N/base stretch, lower-case bases), chr2, chrX, a mitochondrion and an unplaced contig (dropped from
    access), an all-N contig; a BED12 with two genes."""
    chr1 = ("N" * 1000 + _seq(40000) + "N" * 3000 + _seq(30000, 1).lower() + "N" * 12000 + _seq(20000, 2)
            + "NANNNNACGTNNN" + _seq(60000, 3) + "N" * 500)
    fasta = _fasta(tmp_path / "genome.fa", {"chr1": chr1, "chr2": _seq(150000, 1), "chrX": _seq(90000, 2),
                                             "chrM": _seq(16000), "chrUn_gl000220": _seq(30000), "chr3": "N" * 7000},
                   width=70)
    tx = tmp_path / "tx.bed12"
    tx.write_text("chr1\t2000\t12000\tGENEA\t0\t+\t2100\t11500\t0\t2\t500,600,\t0,9400,\n"
                  "2\t50000\t70000\tGENEB\t0\t-\t50000\t70000\t0\t1\t20000,\t0,\n")
    return {"fasta": fasta, "tx": tx, "dir": tmp_path}


def test_edge_baits(synthetic, tmp_path):
    """Unsorted, overlapping, abutting and duplicated baits, a 5 kb bait, a zero-width bait, BED3 lines, a
    'track' header, '2' for chr2, and baits on a contig the FASTA lacks (dropped, as CNVkit cannot bin them)."""
    panel = tmp_path / "edge.bed"
    panel.write_text("track name=edge\n"
                     "chrX\t5000\t5300\tXG\n"
                     "chr1\t30000\t30200\tA\n"
                     "chr1\t30100\t30400\tB\n"          # overlaps A: merged, names joined
                     "chr1\t30400\t30500\tC\n"          # abuts the A/B cluster: merged too
                     "chr1\t30050\t30150\tA\n"          # inside, a repeated name: joined once
                     "chr1\t3000\t3200\tIN_GENEA\n"     # renamed by the BED12 (erbbscreen's _label_bins)
                     "chr1\t9000\t14000\tLONG\n"        # ~19 x 267 bp: split
                     "chr1\t20000\t20000\tZERO\n"       # zero width: dropped
                     "2\t60000\t60400\tB2\n"
                     "chr2\t1000\t1100\n"               # BED3: gene '-'
                     "chr9\t100\t500\tGONE\n"           # not in the FASTA
                     "chr2\t59000\t59300\tB1\tscore\t+\n")
    tgt, anti = _assert_same_bins(tmp_path, synthetic["fasta"], panel, synthetic["tx"])
    assert "chr9" not in tgt and "\tA,B,C\n" in tgt and "IN_GENEA" not in tgt
    assert "chr3" not in anti and "chrM" not in anti and "chrUn" not in anti


@pytest.mark.parametrize("sizes", [{}, {"target_avg_size": 50, "antitarget_avg_size": 5000},
                                   {"target_avg_size": 1000, "antitarget_avg_size": 400000}])
def test_edge_sizes(synthetic, tmp_path, sizes):
    """Bin sizes that split much, hardly, and access regions below the minimum antitarget size."""
    panel = tmp_path / "p.bed"
    panel.write_text("chr1\t45000\t46337\tG1\nchr2\t10000\t10133\tG2\nchr2\t10133\t12001\tG3\nchrX\t100\t80500\tWIDE\n"
                     "chr2\t20000\t20125\tHALF\nchr2\t21000\t21175\tHALF2\n")  # 2.5 and 3.5 x 50 bp: half-even
    _assert_same_bins(tmp_path, synthetic["fasta"], panel, synthetic["tx"], cn.cnv_settings(sizes))


def test_given_access_bed(synthetic, tmp_path):
    """cnv.access given: read as CNVkit reads a BED (sorted; overlapping and abutting regions merged in the split)."""
    panel = tmp_path / "p.bed"
    panel.write_text("chr1\t30000\t30500\tG\nchr2\t100000\t100300\tH\n")
    access = tmp_path / "access.bed"
    access.write_text("chr2\t0\t90000\nchr1\t0\t60000\nchr2\t90000\t150000\nchr1\t50000\t110000\nchrX\t0\t90000\n")
    _, anti = _assert_same_bins(tmp_path, synthetic["fasta"], panel, synthetic["tx"], access=access)
    assert anti


def test_cnvkit_path_for_what_is_not_reproduced(synthetic, tmp_path):
    """A Picard interval_list panel and a FASTA with CRLF line ends go to CNVkit's own functions, same files."""
    interval = tmp_path / "p.interval_list"
    interval.write_text("@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\nchr1\t30001\t30500\t+\tG\nchr2\t1001\t1400\t+\tH\n")
    _assert_same_bins(tmp_path, synthetic["fasta"], interval, expect_own=False)
    crlf = tmp_path / "crlf.fa"
    crlf.write_bytes(b">chr1\r\n" + b"\r\n".join(_seq(20000, k).encode() for k in range(3)) + b"\r\n" + b"N" * 60
                     + b"\r\n>chr2\r\n" + _seq(30000).encode() + b"\r\n")
    pysam.faidx(str(crlf))
    panel = tmp_path / "p.bed"
    panel.write_text("chr1\t1000\t1300\tG\n")
    _assert_same_bins(tmp_path, crlf, panel, expect_own=False)


def test_empty_panel_and_no_region_on_the_reference(synthetic, tmp_path):
    """An empty panel is a clear InputError (before any CNVkit call); a panel with no region on the reference
    stops as CNVkit does (no antitarget can be placed)."""
    empty = tmp_path / "empty.bed"
    empty.write_text("")
    with pytest.raises(InputError, match="no regions found"):
        cn.make_bins(str(synthetic["fasta"]), str(empty), settings=cn.cnv_settings())
    with pytest.raises(InputError, match="no regions found"):
        cn.cnvkit_bins(str(synthetic["fasta"]), str(empty), None, None, cn.cnv_settings())
    elsewhere = tmp_path / "elsewhere.bed"
    elsewhere.write_text("chr9\t100\t500\tGONE\n")
    with pytest.raises(ValueError, match="Chromosome names do not match"):
        cn.make_bins(str(synthetic["fasta"]), str(elsewhere), settings=cn.cnv_settings())


@pytest.mark.parametrize("block", [1, 2, 71, 1 << 24])
def test_access_regions_mirror_do_access(synthetic, monkeypatch, block):
    """The accessible regions themselves, region for region, as ``cnvlib.access.do_access`` lists them, whatever
    the block size the FASTA is read in (headers and newlines split across blocks)."""
    from cnvlib.access import do_access

    monkeypatch.setattr(cnv_bins, "_FASTA_BLOCK", block)
    ours = cnv_bins.access_regions(str(synthetic["fasta"]))
    theirs = do_access(str(synthetic["fasta"])).data
    assert list(zip(ours["chromosome"], ours["start"], ours["end"])) == \
        list(zip(theirs["chromosome"], theirs["start"], theirs["end"]))
    assert ("chr1", 1000, 74000) in list(zip(ours["chromosome"], ours["start"], ours["end"]))  # 3 kb gap joined


@needs_cohort
def test_bins_job_does_not_import_cnvkit(tmp_path):
    """The cnv_bins job's call (run_bins on the cohort panel) in a fresh interpreter leaves CNVkit and its heavy
    dependencies unimported."""
    code = (
        "import sys, json\n"
        "from erbbscreen.copynumber import cnv_settings, run_bins\n"
        f"info = run_bins({str(REF / 'genome.fa')!r}, {str(tmp_path / 't.bed')!r}, {str(tmp_path / 'a.bed')!r}, "
        f"panel={str(REF / 'panel.bed')!r}, transcripts={str(REF / 'transcripts.bed12')!r}, settings=cnv_settings())\n"
        "print(json.dumps({'info': info, 'loaded': [m for m in ('cnvlib', 'skgenome', 'scipy.stats', 'matplotlib',"
        " 'bioframe') if m in sys.modules]}))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["loaded"] == []
    assert out["info"]["mode"] == "panel" and out["info"]["targets"] > 400 and out["info"]["antitargets"] > 100
    assert (tmp_path / "t.bed").stat().st_size > 0 and (tmp_path / "a.bed").stat().st_size > 0


def _random_case(rng, d: Path) -> dict:
    """A random synthetic genome (N runs of 1 bp to 20 kb, lower case, canonical and non-canonical contigs), a panel
    of random baits (zero-width to 3 kb, overlapping, unnamed, on absent contigs) and sometimes an access BED."""
    def sequence(n):
        out = []
        while len(out) < n:
            if rng.random() < 0.02:
                out.extend("N" * rng.choice([1, 50, 3000, 6000, 20000]))
            else:
                out.extend(rng.choice("ACGTacgt") for _ in range(rng.randint(100, 5000)))
        return "".join(out[:n])

    names = ["chr1", "chr2", "chr10", "chrX", "chrY", "chrM", "chr1_random", "chr3", "chrUn_x", "chr22"]
    contigs = {c: sequence(rng.randint(20000, 300000)) for c in rng.sample(names, rng.randint(1, 6))}
    fasta = _fasta(d / "g.fa", contigs, width=rng.choice([50, 60, 80]))
    lines = []
    for _ in range(rng.randint(1, 60)):
        c = rng.choice([*contigs, "chr9", "5"])
        length = len(contigs.get(c, "")) or 100000
        start = rng.randint(0, length - 1)
        end = min(length, start + rng.choice([0, 1, 50, 120, 267, 400, 900, 3000]))
        lines.append(f"{c}\t{start}\t{end}" + (f"\tG{rng.randint(0, 9)}" if rng.random() < 0.8 else ""))
    (d / "p.bed").write_text("\n".join(lines) + "\n")
    access = None
    if rng.random() < 0.3:
        access = d / "a.bed"
        rows = []
        for c, s in contigs.items():
            for _ in range(rng.randint(1, 4)):
                a = rng.randint(0, len(s) - 1)
                rows.append(f"{c}\t{a}\t{min(len(s), a + rng.randint(1, len(s)))}")
        access.write_text("\n".join(rows) + "\n")
    sizes = {"target_avg_size": rng.choice([100, 267, 500]), "antitarget_avg_size": rng.choice([5000, 20000, 150000])}
    return {"fasta": fasta, "panel": d / "p.bed", "access": access, "settings": cn.cnv_settings(sizes)}


@pytest.mark.parametrize("seed", range(12))
def test_random_panels(tmp_path, seed):
    """Seeded random genomes and panels: the same bytes as CNVkit, or the same error class (a panel with no region
    on the reference). 400 seeds were checked this way while writing the module; 12 stay as a regression net."""
    import random

    case = _random_case(random.Random(seed), tmp_path)
    try:
        cn.cnvkit_bins(str(case["fasta"]), str(case["panel"]), None, None, case["settings"],
                       case["access"] and str(case["access"]))
    except ValueError as exc:
        with pytest.raises(type(exc)):
            cn.make_bins(str(case["fasta"]), str(case["panel"]), None, None, case["settings"],
                         case["access"] and str(case["access"]))
        return
    _assert_same_bins(tmp_path, case["fasta"], case["panel"], settings=case["settings"], access=case["access"])
