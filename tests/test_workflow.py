"""The workflow as users run it: lint, dry run, bad inputs at start-up, and a full run of the SYNTHETIC cohort
checked against its recorded truth (tests/cohort/data/truth.json)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, cohort_config, run_snakemake
from erbbscreen.tables import read_table


def output(proc):
    """Snakemake prints workflow errors to stdout or stderr depending on where they arise: read both."""
    return proc.stdout + proc.stderr


def test_lint_is_clean(tmp_path, cohort_dir):
    proc = run_snakemake(tmp_path, "--lint", configfile=cohort_config(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Lints for" not in out, out[-3000:]


def test_rule_files_are_snakefmt_formatted():
    """The Snakefile and every rules file are as `snakefmt` (pinned in requirements.txt) writes them."""
    snakefmt = SNAKEMAKE.with_name("snakefmt")
    files = [str(ROOT / "Snakefile")] + sorted(str(p) for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    proc = subprocess.run([str(snakefmt), "--check", *files], capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:] + "\nfix: .venv/bin/snakefmt Snakefile workflow/rules/"


def test_dry_run_from_another_directory(tmp_path, cohort_dir):
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules", configfile=cohort_config(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("preflight_qc", "biomarkers_table", "provenance"):
        assert rule in proc.stdout, proc.stdout


def test_per_sample_stages_run_in_batches_spread_over_the_cores(tmp_path, cohort_dir):
    """`batching.samples_per_job: auto` with --cores 2: each heavy per-sample stage is two batch jobs, each light
    one (hotspot counting and calling, fusions by sample type) one job (README "Batches"); every sample is in
    exactly one batch of each of its stages (dry run)."""
    proc = run_snakemake(tmp_path, "-n", "--cores", "2", configfile=cohort_config(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    sheet = read_table(cohort_dir / "samples.tsv")
    called = set(sheet.loc[sheet["sample_type"] != "normal", "sample_id"])
    plasma = set(sheet.loc[sheet["sample_type"] == "plasma", "sample_id"])
    two = ["b001", "b002"]
    stages = {"preflight_qc": (set(sheet["sample_id"]), two), "cnv_coverage": (set(sheet["sample_id"]), two),
              "cnv_segment": (called, two), "purity": (called, two),
              "hotspots_count": (set(sheet["sample_id"]) - called, ["b001"]), "hotspots_call": (called, ["b001"]),
              "fusions": (called, ["b001", "plasma_b001"])}
    # "rule NAME:" blocks of the dry run and the sample logs each declares
    blocks = re.findall(r"rule (\w+):\n(?:    .*\n)*?    log: ([^\n]+)", proc.stdout + proc.stderr)
    for stage, (samples, expected) in stages.items():
        batches = {rule: logs for rule, logs in blocks if re.fullmatch(f"{stage}_(plasma_)?b\\d{{3}}", rule)}
        assert sorted(batches) == [f"{stage}_{b}" for b in expected], (stage, sorted(batches))
        seen = [Path(log).name.split(".")[0] for logs in batches.values() for log in logs.split(", ")[1:]]
        assert sorted(seen) == sorted(samples), stage
        if stage == "fusions":  # tissue and plasma apart: a plasma sample waits for purity, tissue does not
            in_plasma_batch = [Path(log).name.split(".")[0] for log in batches["fusions_plasma_b001"].split(", ")[1:]]
            assert sorted(in_plasma_batch) == sorted(plasma)


def test_misspelled_config_key_stops_before_any_job(tmp_path, cohort_dir):
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["qc"]["min_mean_target_depht"] = 50
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "-n", configfile=cfg)
    assert proc.returncode != 0
    assert "unknown config key 'qc.min_mean_target_depht' (did you mean 'min_mean_target_depth'?)" in output(proc)
    assert not (tmp_path / "results").exists()


def test_bad_sheet_stops_with_every_problem(tmp_path, cohort_dir):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("patient_id\tsample_id\tsample_type\tbam\tpurity\n"
                     "P1\tS 1\ttumor\tx.bam\t1.5\nP1\tS2\tblood\tx.bam\t\n")
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(sheet)
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "-n", configfile=cfg)
    assert proc.returncode != 0
    for text in ("line 2, column 'sample_id': 'S 1' contains whitespace", "line 2, column 'purity': 1.5",
                 "line 3, column 'sample_type': 'blood' is not allowed"):
        assert text in output(proc), output(proc)[-3000:]


def test_missing_fai_stops_before_any_job(tmp_path, cohort_dir):
    ref = tmp_path / "ref.fa"
    shutil.copy(cohort_dir / "reference" / "genome.fa", ref)
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["reference"]["fasta"] = str(ref)
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "-n", configfile=cfg)
    assert proc.returncode != 0
    assert f"index {ref}.fai not found; fix: run `samtools faidx {ref}`" in output(proc)


def test_one_bad_sample_never_stops_the_cohort(tmp_path, cohort_dir):
    """A missing BAM and a BAM named with the wrong contig style become QC `fail` rows; the good one passes."""
    good = cohort_dir / "bams" / "P10-T.bam"
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("patient_id\tsample_id\tsample_type\tbam\tpurity\n"
                     f"P1\tP1-T\ttumor\t{good}\t0.5\n"
                     f"P2\tP2-T\ttumor\t{tmp_path / 'missing.bam'}\t\n")
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(sheet)
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "--cores", "2", "results/tables/qc.tsv", configfile=cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "missing.bam: file not found" in output(proc)  # reported at start-up
    qc = read_table(tmp_path / "results" / "tables" / "qc.tsv").set_index("sample_id")
    assert qc.loc["P1-T", "status"] == "pass", qc.loc["P1-T"].to_dict()
    assert qc.loc["P2-T", "status"] == "fail"
    assert "missing.bam: file not found; fix:" in qc.loc["P2-T", "reasons"]


def test_bam_and_cram_samples_are_linked_and_measured_in_one_job_each(tmp_path, cohort_dir):
    """BAM and CRAM samples are linked and measured by the preflight job (link + QC), which writes a Snakemake
    benchmark record (wall, CPU, peak RSS) under benchmarks/ of the run directory."""
    import pysam

    bam = cohort_dir / "bams" / "P09-T.bam"
    cram = tmp_path / "P09-T.cram"
    pysam.view("-C", "-T", str(cohort_dir / "reference" / "genome.fa"), "-o", str(cram), str(bam),
               catch_stdout=False)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("patient_id\tsample_id\tsample_type\tbam\tpurity\n"
                     f"P1\tS-BAM\ttumor\t{bam}\t0.5\nP1\tS-CRAM\ttumor\t{cram}\t0.5\n")
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["samples"] = str(sheet)
    cfg.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "--cores", "2", "results/tables/qc.tsv", configfile=cfg)
    assert proc.returncode == 0, output(proc)[-3000:]
    qc = read_table(tmp_path / "results" / "tables" / "qc.tsv").set_index("sample_id")
    assert qc.loc["S-BAM", "reads"] == qc.loc["S-CRAM", "reads"] != "0"
    assert qc.loc["S-BAM", "mean_target_depth"] == qc.loc["S-CRAM", "mean_target_depth"]
    assert (tmp_path / "results" / "preflight" / "S-CRAM" / "S-CRAM.cram.crai").is_file()
    # --cores 2 and two samples: `batching.samples_per_job: auto` gives one sample per job (b001 = S-BAM,
    # b002 = S-CRAM), each with its own benchmark record and its own sample log
    for batch, sample in (("b001", "S-BAM"), ("b002", "S-CRAM")):
        assert f"{sample}: " in (tmp_path / "logs" / "preflight" / f"{sample}.qc.log").read_text()
        bench = tmp_path / "benchmarks" / "preflight" / "preflight_qc" / f"{batch}.tsv"
        record = read_table(bench)
        assert {"s", "max_rss", "cpu_time"} <= set(record.columns) and float(record["s"].iloc[0]) > 0


@pytest.fixture(scope="module")
def truth(cohort_dir):
    return json.loads((cohort_dir / "truth.json").read_text())


def test_qc_table_matches_truth(workflow_results, truth, cohort_dir):
    qc = read_table(workflow_results / "results" / "tables" / "qc.tsv").set_index("sample_id")
    sheet = read_table(cohort_dir / "samples.tsv")
    assert sorted(qc.index) == sorted(sheet["sample_id"])
    for sid, row in qc.iterrows():
        if sid == "P09-T":  # the low-depth sample (~20x) must fail, saying why
            assert row["status"] == "fail"
            assert "mean target depth" in row["reasons"]
        else:
            assert row["status"] == "pass", (sid, row["reasons"])
        assert float(row["duplicate_pct"]) > 0  # PCR duplicates were planted and marked
    plasma = qc[qc["sample_type"] == "plasma"]
    tissue = qc[(qc["sample_type"] == "tumor") & (qc.index != "P09-T")]
    # cfDNA-like fragments: plasma median insert clearly shorter than tissue
    assert plasma["median_insert_size"].astype(float).max() < tissue["median_insert_size"].astype(float).min()


def test_provenance(workflow_results):
    prov = json.loads((workflow_results / "results" / "provenance.json").read_text())
    assert prov["version"] and prov["tools"]["cnvkit"] == "0.9.14"
    assert len(prov["checksums"]["reference_fasta"]["sha256"]) == 64
    assert prov["config"]["qc"]["min_p20_target_depth"] == 30
    assert prov["cnv_reference"]


# ----------------------------------------------------------------------------------------------------------------
# purity stage (issue #9) on the cohort: estimates vs the recorded truth, and the calls that depend on them

def _tables(workdir):
    t = workdir / "results" / "tables"
    return (read_table(t / "purity.tsv").set_index("sample_id"), read_table(t / "copy_number.tsv"),
            read_table(t / "biomarkers.tsv"))


def test_purity_estimates_match_truth(workflow_results, truth):
    """Every tissue sample without sheet purity that has CN events or SNVs: the estimate within 0.10 of the truth
    and inside its own interval's reach; flat tumours UNRESOLVED; sheet purity used as given."""
    pur, _, _ = _tables(workflow_results)
    tissue = [sid for sid, s in truth["samples"].items() if s["sample_type"] == "tumor" and sid != "P09-T"]
    assert set(tissue) <= set(pur.index)
    checked = 0
    for sid in tissue:
        s, row = truth["samples"][sid], pur.loc[sid]
        events = [e for e in s["planted"] if e["type"] in ("copy_number", "snv", "mnv")]
        if s["sheet_purity"] is not None:
            assert row["source"] == "sheet" and float(row["purity"]) == pytest.approx(s["sheet_purity"])
            continue
        if not events:
            assert row["states"] == "UNRESOLVED" and row["purity"] == "", (sid, row.to_dict())
            continue
        est, lo, hi = float(row["purity"]), float(row["purity_low"]), float(row["purity_high"])
        assert abs(est - s["true_tumour_fraction"]) <= 0.10, (sid, est, s["true_tumour_fraction"], row["reason"])
        assert lo <= est <= hi and row["source"] not in ("sheet", "none")
        checked += 1
    assert checked >= 2          # P06-T (SNV only) and P12-T (CN events only)
    assert pur.loc["P14-T", "states"] == "UNRESOLVED" and "nothing to estimate from" in pur.loc["P14-T", "reason"]


def test_purity_data_estimates_agree_with_truth_where_identifiable(workflow_results, truth):
    """The data estimate of sheet-purity samples too (column data_estimate): within 0.10 wherever an estimator
    other than a subclonal SNV produced one; a subclonal SNV (P05-T) is flagged, not silently averaged."""
    pur, _, _ = _tables(workflow_results)
    for sid in ("P01-T", "P02-T", "P07-T"):          # clonal SNVs: 2 x VAF
        s = truth["samples"][sid]
        assert abs(float(pur.loc[sid, "data_estimate"]) - s["true_tumour_fraction"]) <= 0.10, sid
    assert "SHEET_DISAGREEMENT" in pur.loc["P05-T", "warnings"]   # NRAS Q61K in 20% of cells reads ~0.12


def test_erbb2_cn_without_sheet_purity(workflow_results, truth):
    """P12-T (purity 0.35 not in the sheet, ERBB2 CN 8; raw mixture 4.1): amplified, CN within 25% of the truth."""
    _, cn, _ = _tables(workflow_results)
    row = cn[(cn["sample_id"] == "P12-T") & (cn["gene"] == "ERBB2")].iloc[0]
    assert row["call"] == "amplification", row["reason"]
    assert float(row["copy_number"]) == pytest.approx(8, rel=0.25)
    assert "across the purity interval" in row["reason"]


def test_plasma_fraction_and_fraction_free_amplification(workflow_results, truth):
    """P13-L (f 0.15 not given, RAS wild type, no SNV): ERBB2 amplified by the fraction-free test; fraction
    estimated from allelic imbalance (never a silent 0); P09-L (no tumour DNA) below detection with an LoD."""
    pur, cn, bm = _tables(workflow_results)
    row = cn[(cn["sample_id"] == "P13-L") & (cn["gene"] == "ERBB2")].iloc[0]
    assert row["call"] == "amplification", row["reason"]
    b = bm[(bm["sample_id"] == "P13-L") & (bm["biomarker"] == "ERBB2_CN")].iloc[0]
    assert b["status"] == "positive"
    f = pur.loc["P13-L"]
    # at this cohort's plasma SNP depth (~37x at ~20 chr12 SNPs) the chr12 loss's imbalance (b 0.46) is below
    # detection: the fraction is then a lower bound implied by the amplification, never above the truth
    assert f["purity"] != "" and float(f["purity_low"]) <= 0.15, f.to_dict()
    if f["source"] == "amplification_bound":
        assert "LOWER BOUND" in f["reason"] and float(f["purity_high"]) == 1.0
        tf = bm[(bm["sample_id"] == "P13-L") & (bm["biomarker"] == "TUMOR_FRACTION")].iloc[0]
        assert json.loads(tf["details"])["lower_bound_only"] is True
        assert "ApCN not evaluable" in row["reason"] or "fraction unknown" in row["reason"]
    else:
        assert abs(float(f["purity"]) - 0.15) <= 0.10, f.to_dict()
    p09 = pur.loc["P09-L"]
    assert p09["purity"] == "" and "NO_TUMOR_EVIDENCE" in p09["states"] and float(p09["lod"]) > 0
    tf = bm[(bm["sample_id"] == "P09-L") & (bm["biomarker"] == "TUMOR_FRACTION")].iloc[0]
    assert tf["status"] == "negative" and "below detection" in tf["evidence"] and "LoD" in tf["evidence"]
    # one owner of TUMOR_FRACTION: one row per tumour/plasma sample
    tfr = bm[bm["biomarker"] == "TUMOR_FRACTION"]
    assert tfr["sample_id"].is_unique and set(tfr["sample_id"]) == set(pur.index)


def test_no_amplification_in_copy_neutral_samples(workflow_results, truth):
    _, cn, _ = _tables(workflow_results)
    for sid, s in truth["samples"].items():
        if s["sample_type"] == "normal":
            continue
        amp_genes = {e["gene"] for e in s["planted"] if e["type"] == "copy_number" and e.get("gene")}
        # the biomarker genes (the plasma libraries' extra capture of the RAS/PIK3CA hotspot exons, absent from the
        # tissue normals of the reference, makes co-alteration genes such as KRAS read high in plasma)
        calls = cn[(cn["sample_id"] == sid) & (cn["call"] == "amplification") & cn["gene"].isin(["ERBB2", "ERBB3"])]
        assert set(calls["gene"]) <= amp_genes, (sid, calls[["gene", "reason"]].to_dict("records"))


def test_wild_type_by_clonal_power_carries_a_caveat(workflow_results):
    el = read_table(workflow_results / "results" / "tables" / "eligibility.tsv")
    assert "caveats" in el.columns
    with_caveat = el[el["caveats"] != ""]
    for _, r in with_caveat.iterrows():
        assert "clonal mutation" in r["caveats"] and r["status"] in ("candidate", "excluded", "screen_negative",
                                                                     "not_evaluable", "not_assessable")
