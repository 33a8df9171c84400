"""Preflight and QC: check each alignment file before compute, link it (and its index) under results/,
measure QC metrics, apply the configured thresholds.

A per-sample problem never stops the cohort: it becomes a ``fail`` row in qc.tsv with the reason and the fix,
and every downstream stage reports that sample ``not_evaluable``.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from erbbscreen import samtools
from erbbscreen.samtools import EXCLUDE_WITH_SUPPLEMENTARY, merge_intervals, region_depth
from erbbscreen.errors import InputError
from erbbscreen.tables import write_table

# Chromosome lengths of the two human builds (GRC assembly reports; identical in the @SQ headers of real hg19 and
# hg38 BAMs, tests/data/realreads), used to recognise which build a FASTA or BAM is, whatever its contig naming.
BUILD_LENGTHS = {
    "GRCh37": {"1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260, "6": 171115067,
               "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747, "11": 135006516, "12": 133851895,
               "13": 115169878, "14": 107349540, "15": 102531392, "16": 90354753, "17": 81195210, "18": 78077248,
               "19": 59128983, "20": 63025520, "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566},
    "GRCh38": {"1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259, "6": 170805979,
               "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422, "11": 135086622, "12": 133275309,
               "13": 114364328, "14": 107043718, "15": 101991189, "16": 90338345, "17": 83257441, "18": 80373285,
               "19": 58617616, "20": 64444167, "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415},
}
BUILD_ALIASES = {"GRCh37": "GRCh37/hg19", "GRCh38": "GRCh38/hg38"}


def build_mismatch(contigs: dict[str, int], build: str, what: str) -> str | None:
    """Message when ``contigs`` have the chromosome lengths of the other human build than ``build``."""
    if build not in BUILD_LENGTHS:
        return None
    found = guess_build(contigs)
    if found is None or found == build:
        return None
    by_name = {_strip_chr(k): (k, v) for k, v in contigs.items()}
    c = next(c for c in BUILD_LENGTHS[found] if c in by_name)
    name, length = by_name[c]
    return (f"{what} is {BUILD_ALIASES[found]} ({name} is {length:,} bp) but reference.build is {BUILD_ALIASES[build]} "
            f"({name} would be {BUILD_LENGTHS[build][c]:,} bp); fix: set reference.build: {found} (and its "
            f"annotation), or use data aligned to {build}")


FIX_SORT = "fix: `samtools sort -o sorted.bam input.bam && samtools index sorted.bam`, then point the sheet at sorted.bam"
FIX_REALIGN = "fix: use the reference the reads were aligned to (reference.fasta), or re-align the reads to it"


def _strip_chr(name: str) -> str:
    return name[3:] if name.lower().startswith("chr") else name


def guess_build(contigs: dict[str, int]) -> str | None:
    """Name the human build whose chromosome lengths these contigs have (None if neither)."""
    by_name = {_strip_chr(k): v for k, v in contigs.items()}
    for build, lengths in BUILD_LENGTHS.items():
        shared = [c for c in lengths if c in by_name]
        if shared and all(by_name[c] == lengths[c] for c in shared):
            return build
    return None


def index_candidates(path: str) -> list[str]:
    """Index files htslib would use for ``path`` (beside it)."""
    if path.lower().endswith(".cram"):
        return [path + ".crai", path[:-5] + ".crai"]
    return [path + ".bai", path[:-4] + ".bai", path + ".csi"]


def find_index(path: str) -> str | None:
    for cand in index_candidates(path):
        if os.path.isfile(cand):
            return cand
    return None


def compare_contigs(bam_contigs: dict[str, int], ref_contigs: dict[str, int], ref_build: str) -> list[str]:
    """Problems when the alignment's contigs do not match the reference (names and lengths)."""
    if not bam_contigs:
        return ["the header has no @SQ contig lines (unaligned BAM?); fix: give the aligned, coordinate-sorted BAM"]
    shared = [c for c in bam_contigs if c in ref_contigs]
    if not shared:
        stripped_bam = {_strip_chr(c) for c in bam_contigs}
        stripped_ref = {_strip_chr(c) for c in ref_contigs}
        if stripped_bam & stripped_ref:
            ex_b = next(c for c in bam_contigs if _strip_chr(c) in stripped_ref)
            ex_r = next(c for c in ref_contigs if _strip_chr(c) == _strip_chr(ex_b))
            return [f"contig names differ only by the 'chr' prefix (alignment has '{ex_b}', reference has '{ex_r}'); "
                    "fix: use a reference FASTA with the same naming as the BAM, or rename the BAM header contigs "
                    "consistently (e.g. `samtools reheader`) — do not mix naming styles"]
        return ["none of the alignment's contigs are in the reference "
                f"(alignment: {', '.join(list(bam_contigs)[:4])}...; reference: {', '.join(list(ref_contigs)[:4])}...); "
                + FIX_REALIGN]
    diff = [c for c in shared if bam_contigs[c] != ref_contigs[c]]
    if diff:
        bam_build = guess_build(bam_contigs)
        ref_guess = guess_build(ref_contigs) or ref_build
        c = diff[0]
        if bam_build and bam_build != ref_guess:
            return [f"the alignment is on {bam_build} but the reference is {ref_guess} (contig {c}: "
                    f"{bam_contigs[c]} vs {ref_contigs[c]} bp); " + FIX_REALIGN]
        return [f"{len(diff)} contig(s) differ in length from the reference (e.g. {c}: {bam_contigs[c]} in the "
                f"alignment vs {ref_contigs[c]} in the reference); " + FIX_REALIGN]
    return []


@functools.lru_cache(maxsize=4096)
def alignment_header(path: str, fasta: str | None = None) -> dict:
    """The alignment's header as a dict, read once per process (start-up checks read each header twice)."""
    with pysam.AlignmentFile(path, "rc" if path.lower().endswith(".cram") else "rb",
                             reference_filename=fasta, check_sq=False) as fh:
        return fh.header.to_dict()


def check_alignment(path: str, ref_contigs: dict[str, int], ref_build: str, fasta: str | None = None,
                    require_index: bool = False) -> list[str]:
    """Header-level checks of one BAM/CRAM, cheap enough to run for every sample at start-up.

    Returns problems (each says what is wrong and the fix); an empty list means the file can be used.
    A missing index is not a problem (one is built under results/) unless ``require_index``.
    """
    p = Path(path)
    if not p.exists():
        return ["file not found; fix: correct the path in the sample sheet's 'bam' column (relative paths "
                "resolve against the sheet's folder)"]
    if not os.access(p, os.R_OK):
        return ["file is not readable (permissions); fix: `chmod a+r` the file or run as a user who can read it"]
    if p.stat().st_size == 0:
        return ["file is empty (0 bytes); fix: re-create the BAM/CRAM"]
    try:
        header = alignment_header(path, fasta)
    except (ValueError, OSError) as exc:
        return [f"cannot be opened as BAM/CRAM ({exc}); fix: check it is a complete BAM/CRAM (e.g. "
                "`samtools quickcheck -v file`) and re-create it if truncated"]
    problems = []
    so = header.get("HD", {}).get("SO", "unknown")
    if so in ("unsorted", "queryname"):
        problems.append(f"not coordinate-sorted (header SO:{so}); " + FIX_SORT)
    contigs = {sq["SN"]: int(sq["LN"]) for sq in header.get("SQ", [])}
    problems += compare_contigs(contigs, ref_contigs, ref_build)
    mismatch = build_mismatch(contigs, ref_build, "the alignment")
    if mismatch and not problems:
        problems.append(mismatch)
    if require_index and find_index(path) is None:
        problems.append("no index beside the file; fix: `samtools index " + path + "`")
    return problems


def check_sheet_alignments(samples, ref_contigs, ref_build, fasta=None) -> dict[str, list[str]]:
    """Start-up check of every sample's alignment header (imported rows: their result files, docs/import.md);
    returns sample_id -> problems (only those with any)."""
    from erbbscreen.importer import check_sheet_row

    out = {}
    for sid, row in samples.iterrows():
        if row.get("imported", False):
            problems = check_sheet_row(row, ref_build)
        else:
            problems = check_alignment(row["bam"], ref_contigs, ref_build, fasta)
        if problems:
            out[sid] = problems
    return out


def read_group_sample_names(path: str, fasta: str | None = None) -> list[str]:
    """The SM names of the alignment's @RG lines (empty when it has none or cannot be opened)."""
    try:
        return sorted({rg["SM"] for rg in alignment_header(path, fasta).get("RG", []) if rg.get("SM")})
    except (ValueError, OSError):
        return []


def read_group_warning(path: str, sample_id: str, fasta: str | None = None) -> str | None:
    """A warning when the @RG SM names differ from the sheet's sample id (a swapped file?); never a failure:
    many pipelines write other names (library or flow-cell ids) into SM."""
    names = read_group_sample_names(path, fasta)
    if names and sample_id not in names:
        return (f"read groups name sample(s) {', '.join(names)}, not '{sample_id}' as the sample sheet does; "
                "check the sheet points at the intended file (processing continues)")
    return None


def read_group_warnings(samples, fasta: str | None = None) -> dict[str, str]:
    """sample_id -> read-group warning for every sheet row whose alignment names another sample."""
    out = {}
    for sid, row in samples.iterrows():
        if os.path.isfile(row["bam"]):
            warning = read_group_warning(row["bam"], sid, fasta)
            if warning:
                out[sid] = warning
    return out


# --------------------------------------------------------------------------------------------------- linking
def link_alignment(src: str, link: str, index_link: str) -> str:
    """Symlink ``src`` as ``link`` and its index as ``index_link``; build the index there when the input has
    none. Returns how the index was obtained ('linked' or 'built'). Never writes beside ``src``."""
    link_p, idx_p = Path(link), Path(index_link)
    link_p.parent.mkdir(parents=True, exist_ok=True)
    for q in (link_p, idx_p):
        if q.is_symlink() or q.exists():
            q.unlink()
    os.symlink(os.path.abspath(src), link_p)
    existing = find_index(src)
    if existing and os.path.getmtime(existing) >= os.path.getmtime(src) - 1:
        os.symlink(os.path.abspath(existing), idx_p)
        return "linked"
    pysam.index(str(link_p), str(idx_p))
    return "built (input had no index)" if not existing else "built (input index older than the file)"


# ------------------------------------------------------------------------------------------------- metrics
def _flagstat(path: str, threads: int, fasta: str | None) -> dict:
    args = ["-@", str(max(threads - 1, 0))]
    if fasta:
        args = ["--input-fmt-option", f"reference={fasta}"] + args
    text = samtools.run("flagstat", *args, path)
    stats = {}
    for line in text.splitlines():
        count = int(line.split(" + ")[0])
        if "in total" in line:
            stats["total"] = count
        elif "secondary" in line and "secondary" not in stats:
            stats["secondary"] = count
        elif "supplementary" in line and "supplementary" not in stats:
            stats["supplementary"] = count
        elif "primary duplicates" in line:
            stats["primary_duplicates"] = count
        elif "primary mapped" in line:
            stats["primary_mapped"] = count
        elif line.strip().endswith("primary"):
            stats["primary"] = count
    return stats


def read_bed(path: str) -> list[tuple[str, int, int]]:
    """(chrom, start, end) intervals of a BED file (track/browser/# lines skipped)."""
    out = []
    with open(path) as fh:
        for line in fh:
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.split("\t")
            out.append((f[0], int(f[1]), int(f[2])))
    return out


def target_depths(path: str, intervals, fasta: str | None = None, threads: int = 1) -> np.ndarray:
    """Per-base unique depth over ``intervals`` (duplicates, secondary, supplementary, QC-fail and unmapped
    reads excluded; deleted bases not counted): one ``samtools depth`` pass in C."""
    from erbbscreen.annotation import contig_alias

    with pysam.AlignmentFile(path, reference_filename=fasta) as bam:
        contigs = set(bam.references)
    # bundled GRCh37 exons say '7', a UCSC hg19 BAM 'chr7'; a contig the alignment lacks keeps its name (depth 0)
    intervals = [(contig_alias(c, contigs) or c, s, e) for c, s, e in intervals]
    return region_depth(path, intervals, exclude_flags=EXCLUDE_WITH_SUPPLEMENTARY, fasta=fasta, threads=threads,
                        contigs=contigs)


#: read 1 of a proper pair, primary, not a duplicate (is_proper_pair, is_read1, not secondary/supplementary/dup)
_INSERT_FLAG_MASK, _INSERT_FLAG_WANT = 0x2 | 0x40 | 0x100 | 0x400 | 0x800, 0x2 | 0x40


def median_insert_size(path: str, max_pairs: int, fasta: str | None = None) -> float | None:
    """Median template length of the first ``max_pairs`` proper pairs (first mates; a bounded sample from the
    start of the file: its cost does not grow with the BAM), read by samtools in C."""
    sizes = samtools.template_lengths(path, max_pairs, _INSERT_FLAG_WANT, _INSERT_FLAG_MASK & ~_INSERT_FLAG_WANT,
                                      fasta)
    return float(np.median(sizes)) if sizes.size else None


def on_target_reads(path: str, bed: str, fasta: str | None, threads: int = 1) -> int:
    """Primary mapped reads overlapping the targets (samtools view -c -L, in C)."""
    args = ["-c", "-F", "0x904", "-L", bed, "-@", str(max(threads - 1, 0))]
    if fasta:
        args += ["-T", fasta]
    return int(samtools.run("view", *args, path).strip())


def measure_qc(path: str, targets: list[tuple[str, int, int]], target_bed: str | None, fasta: str | None,
               threads: int = 1, max_pairs: int = 200000) -> dict:
    """QC metrics of one alignment: reads, mapped %, duplicate %, on-target %, mean and 20th-percentile target
    depth, median insert size."""
    fs = _flagstat(path, threads, fasta)
    primary = fs.get("primary", fs.get("total", 0) - fs.get("secondary", 0) - fs.get("supplementary", 0))
    mapped = fs.get("primary_mapped", 0)
    metrics = {
        "reads": primary,
        "mapped_pct": round(100.0 * mapped / primary, 2) if primary else 0.0,
        "duplicate_pct": round(100.0 * fs.get("primary_duplicates", 0) / mapped, 2) if mapped else 0.0,
    }
    if target_bed and mapped:
        metrics["on_target_pct"] = round(100.0 * on_target_reads(path, target_bed, fasta, threads) / mapped, 2)
    else:
        metrics["on_target_pct"] = None
    metrics["median_insert_size"] = median_insert_size(path, max_pairs, fasta) if mapped else None
    depth = target_depths(path, targets, fasta, threads)
    metrics["target_bases"] = int(depth.size)
    metrics["mean_target_depth"] = round(float(depth.mean()), 1) if depth.size else 0.0
    metrics["p20_target_depth"] = round(float(np.percentile(depth, 20)), 1) if depth.size else 0.0
    return metrics


def apply_thresholds(metrics: dict, qc: dict, panel_mode: bool) -> list[str]:
    """Reasons a sample fails QC (empty = pass); each names the metric, its value and the threshold."""
    reasons = []
    checks = [
        ("reads", "min_reads", lambda v, t: v >= t, "reads {v} < minimum {t}"),
        ("mapped_pct", "min_mapped_pct", lambda v, t: v >= t, "mapped {v}% < minimum {t}%"),
        ("duplicate_pct", "max_duplicate_pct", lambda v, t: v <= t, "duplicates {v}% > maximum {t}%"),
        ("mean_target_depth", "min_mean_target_depth", lambda v, t: v >= t, "mean target depth {v}x < minimum {t}x"),
        ("p20_target_depth", "min_p20_target_depth", lambda v, t: v >= t,
         "20th-percentile target depth {v}x < minimum {t}x"),
    ]
    if panel_mode:
        checks.append(("on_target_pct", "min_on_target_pct", lambda v, t: v >= t, "on-target {v}% < minimum {t}%"))
    for metric, key, ok, text in checks:
        value = metrics.get(metric)
        if value is None:
            continue
        if not ok(value, qc[key]):
            reasons.append(text.format(v=value, t=qc[key]))
    return reasons


def on_reference(intervals, ref_contigs: dict) -> list[tuple[str, int, int]]:
    """Intervals on contigs the reference has (``chr7`` = ``7``): a reference holding only some chromosomes
    cannot be measured elsewhere, and the stages report those genes not_evaluable themselves."""
    from erbbscreen.annotation import contig_alias

    return [iv for iv in intervals if contig_alias(iv[0], ref_contigs) is not None]


def qc_targets(panel_bed: str | None, transcripts_bed: str | None) -> list[tuple[str, int, int]]:
    """The regions whose depth QC measures: the panel targets, or in whole-genome mode the annotated exons."""
    if panel_bed:
        return merge_intervals(read_bed(panel_bed))
    if transcripts_bed:
        exons = []
        with open(transcripts_bed) as fh:
            for line in fh:
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                f = line.rstrip("\n").split("\t")
                start = int(f[1])
                for size, off in zip(f[10].rstrip(",").split(","), f[11].rstrip(",").split(",")):
                    exons.append((f[0], start + int(off), start + int(off) + int(size)))
        return merge_intervals(exons)
    return []


def link_sample(bam: str, link: str, index_link: str, *, fasta: str, build: str) -> str:
    """Link one sample's alignment (and index, built when missing) under results/. For an unusable input
    (see :func:`check_alignment`) empty placeholders are written instead and the problems returned as text:
    no stage opens an alignment whose QC failed. Never raises for bad data."""
    from erbbscreen.settings import fasta_contigs

    is_cram = bam.lower().endswith(".cram")
    problems = check_alignment(bam, fasta_contigs(fasta), build, fasta if is_cram else None)
    if not problems:
        try:
            return "index " + link_alignment(bam, link, index_link)
        except (OSError, pysam.utils.SamtoolsError) as exc:
            problems = [f"cannot be indexed ({str(exc).strip()[:300]})"]
    for q in (Path(link), Path(index_link)):
        q.parent.mkdir(parents=True, exist_ok=True)
        if q.is_symlink() or q.exists():
            q.unlink()
        q.write_bytes(b"")
    return "placeholders written: " + "; ".join(problems)


def run_sample_qc(sample: dict, link: str, out_tsv: str, *, fasta: str, build: str, qc: dict,
                  panel_bed: str | None = None, transcripts_bed: str | None = None, threads: int = 1) -> dict:
    """Check and measure one sample (through its link under results/); write its one-row qc table.
    Never raises for bad data: the problem becomes a ``fail`` row naming the input file and the fix.
    ``sample`` holds sample_id, patient_id, sample_type, bam (the user's path)."""
    from erbbscreen.settings import fasta_contigs

    row = {k: sample[k] for k in ("sample_id", "patient_id", "sample_type")}
    bam = sample["bam"]
    is_cram = bam.lower().endswith(".cram")
    problems = check_alignment(bam, fasta_contigs(fasta), build, fasta if is_cram else None)
    if not problems and Path(link).stat().st_size == 0:
        problems.append("could not be indexed: the file is probably truncated or not coordinate-sorted; " + FIX_SORT)
    metrics = {}
    if not problems:
        try:
            metrics = measure_qc(link, on_reference(qc_targets(panel_bed, transcripts_bed), fasta_contigs(fasta)),
                                 panel_bed,
                                 fasta if is_cram else None, threads, qc.get("max_insert_size_sample", 200000))
        except (OSError, ValueError, pysam.utils.SamtoolsError) as exc:
            problems.append(f"reading failed ({str(exc).strip()[:300]}); the file is probably truncated or "
                            "corrupt; fix: re-create the BAM/CRAM (check with `samtools quickcheck -v`)")
        if metrics and metrics["reads"] == 0:
            problems.append("the alignment file contains no reads; fix: check that it is the intended file")
    if problems:
        reasons = [f"input {bam}: {p}" for p in problems]
    else:
        reasons = apply_thresholds(metrics, qc, panel_bed is not None)
    row["status"] = "fail" if reasons else "pass"
    row["reasons"] = "; ".join(reasons)
    row.update(metrics)
    row["warnings"] = (read_group_warning(bam, row["sample_id"], fasta if is_cram else None) or "") if not problems else ""
    row["bam"] = bam
    write_table(pd.DataFrame([row]), out_tsv, "qc")
    return row


def link_and_qc(sample: dict, link: str, index_link: str, out_tsv: str, *, fasta: str, build: str, qc: dict,
                panel_bed: str | None = None, transcripts_bed: str | None = None, threads: int = 1) -> dict:
    """One sample's preflight job: :func:`link_sample` then :func:`run_sample_qc` (one process, so the
    interpreter start-up and imports are paid once). Never raises for bad data."""
    note = link_sample(sample["bam"], link, index_link, fasta=fasta, build=build)
    print(f"{sample['sample_id']}: {note}", file=sys.stderr)
    return run_sample_qc(sample, link, out_tsv, fasta=fasta, build=build, qc=qc, panel_bed=panel_bed,
                         transcripts_bed=transcripts_bed, threads=threads)


# ----------------------------------------------------------------------------------------------------- CLI
def preflight_cohort(config: dict, workdir=None, check_alignments: bool = True) -> dict:
    """Everything checked before any job runs. Raises InputError for config/sheet/reference problems (the run
    cannot start); returns {'paths':..., 'samples':..., 'sample_problems': {sample: [..]}} where sample problems
    are per-sample data issues that make that sample fail QC without stopping the cohort."""
    from erbbscreen.samplesheet import load_samplesheet
    from erbbscreen.settings import check_files, fasta_contigs, resolve_paths, validate_config

    config = validate_config(config)
    paths = resolve_paths(config, workdir)
    problems = check_files(paths)
    if problems:
        raise InputError(problems, header="Reference/annotation files are missing")
    mismatch = build_mismatch(fasta_contigs(paths["fasta"]), paths["build"], f"the reference FASTA {paths['fasta']}")
    if mismatch:
        raise InputError([mismatch], header="Reference FASTA and reference.build disagree")
    if paths["hotspots"]:
        from erbbscreen.annotation import check_hotspots_against_fasta, harmonize_chroms, read_hotspots

        # The bundled GRCh38 table says chr12, GRCh37 says 12: a prefix-only difference is unambiguous.
        hotspots = harmonize_chroms(read_hotspots(paths["hotspots"]), fasta_contigs(paths["fasta"]))
        problems = check_hotspots_against_fasta(hotspots, paths["fasta"], partial_ok=True)
        if problems:
            raise InputError(problems, header=f"Hotspot table {paths['hotspots']} does not match the reference "
                                              f"{paths['fasta']}")
    samples = load_samplesheet(paths["samples"])
    sample_problems, sample_warnings = {}, {}
    if check_alignments:  # the main process (jobs skip what it already checked)
        # the trial rule set is only used by the last job: a typo must stop the run before any compute
        from erbbscreen.trials import load_trials

        load_trials(paths["trials"])
        sample_problems = check_sheet_alignments(samples, fasta_contigs(paths["fasta"]), paths["build"],
                                                 paths["fasta"])
        sample_warnings = read_group_warnings(samples, paths["fasta"])
    return {"config": config, "paths": paths, "samples": samples, "sample_problems": sample_problems,
            "sample_warnings": sample_warnings}


def format_sample_problems(sample_problems: dict, samples) -> str:
    lines = []
    for sid, probs in sample_problems.items():
        for p in probs:
            what = samples.loc[sid, "bam"] or "imported result files"
            lines.append(f"  - sample {sid} (sheet line {samples.loc[sid, 'line']}): {what}: {p}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="erbb-screen preflight",
                                 description="Check a config + sample sheet (and every BAM header) before running, "
                                             "or measure QC of one BAM with --bam.")
    ap.add_argument("--config", required=True, help="config YAML (as given to snakemake --configfile)")
    ap.add_argument("--bam", help="measure QC of this one BAM/CRAM instead of checking the cohort")
    ap.add_argument("--out", help="with --bam: write the QC row here (TSV)")
    args = ap.parse_args(argv)
    import yaml

    try:
        config = yaml.safe_load(Path(args.config).read_text()) or {}
        if args.bam:
            from erbbscreen.settings import resolve_paths, validate_config

            config = validate_config(config, args.config)
            paths = resolve_paths(config)
            sid = Path(args.bam).name.rsplit(".", 1)[0]
            tmp = Path(args.out or f"{sid}.qc.tsv").with_suffix("")
            ext = "cram" if args.bam.lower().endswith(".cram") else "bam"
            link = f"{tmp}.link.{ext}"
            row = link_and_qc({"sample_id": sid, "patient_id": sid, "sample_type": "tumor", "bam": args.bam},
                              link, link + (".crai" if ext == "cram" else ".bai"), args.out or f"{sid}.qc.tsv",
                              fasta=paths["fasta"], build=paths["build"], qc=config["qc"], panel_bed=paths["panel"],
                              transcripts_bed=paths["transcripts"])
            print("\t".join(f"{k}={v}" for k, v in row.items()))
            return 0 if row["status"] == "pass" else 1
        result = preflight_cohort(config)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    n = len(result["samples"])
    if result["sample_problems"]:
        print(f"{len(result['sample_problems'])} of {n} samples have input problems; they will be reported as "
              "QC 'fail' (not_evaluable downstream):\n" + format_sample_problems(result["sample_problems"],
                                                                                   result["samples"]))
    else:
        print(f"preflight OK: {n} samples, reference {result['paths']['fasta']}")
    return 0
