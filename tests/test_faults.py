"""Bad input the cohort must survive (issue #12), on small SYNTHETIC inputs built from the test cohort.

Each case gives a clear message naming the file, the record and the fix, or a not_evaluable row with the reason;
the rest of the cohort finishes, inputs stay byte-identical, and no `candidate` appears that evidence does not
support. The workflow-level cases share one small run (2 evaluable patients + 2 normals + 3 bad samples)."""
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, cohort_config, run_snakemake
from erbbscreen.guard import run_or_not_evaluable
from erbbscreen.samplesheet import load_samplesheet
from erbbscreen.tables import read_table, write_table

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def output(proc):
    return proc.stdout + proc.stderr


def sha256_tree(paths):
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def truncated_copy(src: Path, dst: Path, keep_eof: bool) -> Path:
    """First 60 % of a BAM (cut inside a BGZF block); with ``keep_eof`` the EOF marker is appended again, so the
    header opens and nothing looks wrong until a job reads past the cut. Its original index is copied too."""
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 6 // 10] + (BGZF_EOF if keep_eof else b""))
    shutil.copy(str(src) + ".bai", str(dst) + ".bai")
    return dst


def with_config(tmp_path, **changes) -> Path:
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config.update(changes)
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    return cfg


# ------------------------------------------------------------------------------------------ start-up checks
def test_trials_typo_in_criterion_kind_stops_before_any_job(tmp_path, cohort_dir):
    trials = tmp_path / "trials.yaml"
    text = (ROOT / "config" / "trials.yaml").read_text()
    assert "kind: erbb2_amplification" in text
    trials.write_text(text.replace("kind: erbb2_amplification", "kind: erbb2_amplificaton", 1))
    before = sha256_tree([trials])
    proc = run_snakemake(tmp_path, "-n", configfile=with_config(tmp_path, trials=str(trials)))
    assert proc.returncode != 0
    out = output(proc)
    assert str(trials) in out, out[-3000:]
    assert "'erbb2_amplificaton' is not an allowed criterion kind (did you mean 'erbb2_amplification'?)" in out
    assert "trial " in out.lower()  # the record: which trial and criterion
    assert not (tmp_path / "results").exists()
    assert sha256_tree([trials]) == before


def test_bgzipped_fasta_without_gzi_stops_with_the_fix(tmp_path, cohort_dir):
    fasta = tmp_path / "genome.fa.gz"
    with open(fasta, "wb") as out:
        subprocess.run(["bgzip", "-c", str(cohort_dir / "reference" / "genome.fa")], stdout=out, check=True)
    subprocess.run(["samtools", "faidx", str(fasta)], check=True)
    Path(str(fasta) + ".gzi").unlink()
    cfg = cohort_config(tmp_path)
    config = yaml.safe_load(cfg.read_text())
    config["reference"]["fasta"] = str(fasta)
    cfg.write_text(yaml.safe_dump(config))
    before = sha256_tree([fasta, str(fasta) + ".fai"])
    proc = run_snakemake(tmp_path, "-n", configfile=cfg)
    assert proc.returncode != 0
    assert f"{fasta} is compressed but {fasta}.gzi is missing; fix:" in output(proc), output(proc)[-3000:]
    assert "samtools faidx" in output(proc)
    assert not (tmp_path / "results").exists()
    assert sha256_tree([fasta, str(fasta) + ".fai"]) == before


def test_sample_sheet_with_utf8_bom_loads(tmp_path, cohort_dir):
    sheet = tmp_path / "samples.tsv"
    sheet.write_bytes(b"\xef\xbb\xbf" + (cohort_dir / "samples.tsv").read_bytes().replace(
        b"bams/", str(cohort_dir / "bams").encode() + b"/"))
    df = load_samplesheet(sheet)
    assert list(df.columns[:4]) == ["patient_id", "sample_id", "sample_type", "bam"]
    assert df.loc["P01-T", "patient_id"] == "P01"


# --------------------------------------------------------------------------------- a job failing mid-run
@pytest.mark.parametrize("step", ["hotspots_count", "fusions"])
def test_step_failing_on_one_sample_writes_not_evaluable_outputs(tmp_path, cohort_dir, step):
    """A read error inside a per-sample job (here: the BAM was truncated after its QC passed) gives that
    sample's not_evaluable outputs with the reason instead of a failed job."""
    ref = cohort_dir / "reference"
    bam = truncated_copy(cohort_dir / "bams" / "P10-T.bam", tmp_path / "P10-T.bam", keep_eof=False)
    qc = tmp_path / "qc.tsv"  # the QC row written before the file went bad
    write_table([{"sample_id": "P10-T", "patient_id": "P10", "sample_type": "tumor", "status": "pass",
                  "reasons": ""}], qc, "qc")
    out = tmp_path / "out"
    sample = {"sample_id": "P10-T", "patient_id": "P10", "sample_type": "tumor", "purity": 0.5}
    if step == "hotspots_count":
        from erbbscreen.hotspots import run_count

        run_or_not_evaluable(step, qc, out, lambda q: run_count(str(bam), str(ref / "hotspots.tsv"),
                                                                  str(ref / "genome.fa"), str(out / "counts.tsv"),
                                                                  qc=q))
        text = (out / "counts.tsv").read_text()
    else:
        from erbbscreen.fusions import run

        run_or_not_evaluable(step, qc, out, lambda q: run(str(bam), str(ref / "transcripts.bed12"), out, sample,
                                                            fasta=str(ref / "genome.fa"), qc_path=q,
                                                            domains_path=str(ref / "domains.bed")))
        row = read_table(out / "biomarkers.tsv").iloc[0]
        assert row["status"] == "not_evaluable", row.to_dict()
        text = row["evidence"]
    assert f"{step} failed while reading this sample" in text and "truncated" in text, text[:2000]
    assert not list(out.glob(".*failure_qc.tsv"))


# ------------------------------------------------------------------------------ one small workflow run
@pytest.fixture(scope="module")
def fault_run(cohort_dir, tmp_path_factory):
    """A small cohort with bad samples, run to the end with --keep-going: its workdir, inputs and checksums."""
    tmp = tmp_path_factory.mktemp("faults")
    bams = cohort_dir / "bams"
    trunc_start = truncated_copy(bams / "P03-T.bam", tmp / "PT1-T.bam", keep_eof=False)  # seen at start-up
    trunc_job = truncated_copy(bams / "P04-T.bam", tmp / "PT2-T.bam", keep_eof=True)  # seen only when read
    rows = [
        ("P01", "P01-T", "tumor", bams / "P01-T.bam", "0.6"),
        ("P01", "P01-N", "normal", bams / "P01-N.bam", ""),
        ("P10", "PR-T", "tumor", bams / "P10-T.bam", "0.5"),  # read groups say SM:P10-T
        ("PN", "PN-N", "normal", bams / "P05-N.bam", ""),  # a patient with only a normal sample
        ("PT1", "PT1-T", "tumor", trunc_start, "0.5"),
        ("PT2", "PT2-T", "tumor", trunc_job, "0.5"),
    ]
    sheet = tmp / "samples.tsv"
    sheet.write_bytes(b"\xef\xbb\xbf" + ("patient_id\tsample_id\tsample_type\tbam\tpurity\n" + "".join(
        f"{p}\t{s}\t{t}\t{b}\t{pur}\n" for p, s, t, b, pur in rows)).encode())  # UTF-8 BOM, as Excel saves it
    inputs = [sheet] + [r[3] for r in rows] + [str(r[3]) + ".bai" for r in rows]
    inputs += [p for p in (cohort_dir / "reference").iterdir()] + [ROOT / "config" / "trials.yaml"]
    before = sha256_tree(inputs)
    cfg = with_config(tmp, samples=str(sheet))
    proc = run_snakemake(tmp, "--cores", "2", "--keep-going", configfile=cfg)
    return {"dir": tmp, "proc": proc, "before": before, "inputs": inputs}


@pytest.mark.integration
def test_fault_run_finishes_with_every_table(fault_run):
    proc = fault_run["proc"]
    assert proc.returncode == 0, output(proc)[-6000:]
    for table in ("qc", "copy_number", "hotspots", "fusions", "biomarkers", "eligibility", "funnel"):
        assert (fault_run["dir"] / "results" / "tables" / f"{table}.tsv").is_file(), table
    assert sha256_tree(fault_run["inputs"]) == fault_run["before"], "an input file was modified"


@pytest.mark.integration
def test_truncated_bams_fail_qc_naming_file_and_fix(fault_run):
    qc = read_table(fault_run["dir"] / "results" / "tables" / "qc.tsv").set_index("sample_id")
    assert qc.loc["P01-T", "status"] == "pass"
    for sid in ("PT1-T", "PT2-T"):
        reasons = qc.loc[sid, "reasons"]
        assert qc.loc[sid, "status"] == "fail", (sid, reasons)
        assert f"{sid}.bam" in reasons and "truncated" in reasons and "fix:" in reasons, (sid, reasons)
    # PT1 was caught from its header at start-up, PT2 only when the QC job read past the cut
    assert "PT1-T.bam" in output(fault_run["proc"])


@pytest.mark.integration
def test_read_groups_naming_another_sample_warn_but_do_not_stop(fault_run):
    qc = read_table(fault_run["dir"] / "results" / "tables" / "qc.tsv").set_index("sample_id")
    assert qc.loc["PR-T", "status"] == "pass", qc.loc["PR-T", "reasons"]
    assert "read groups name sample(s) P10-T, not 'PR-T'" in qc.loc["PR-T", "warnings"]
    assert qc.loc["P01-T", "warnings"] == ""
    assert "read groups name sample(s) P10-T, not 'PR-T'" in output(fault_run["proc"])
    calls = read_table(fault_run["dir"] / "results" / "tables" / "biomarkers.tsv")
    assert set(calls.loc[calls["sample_id"] == "PR-T", "status"]) - {"not_evaluable"}, "PR-T was not evaluated"


@pytest.mark.integration
def test_bad_and_normal_only_patients_are_not_evaluable_never_candidate(fault_run):
    elig = read_table(fault_run["dir"] / "results" / "tables" / "eligibility.tsv")
    for pid in ("PN", "PT1", "PT2"):
        rows = elig[elig["patient_id"] == pid]
        assert len(rows), f"patient {pid} missing from eligibility.tsv"
        assert "candidate" not in set(rows["status"]), rows.to_dict("records")
        assert set(rows["status"]) <= {"not_evaluable", "not_assessable"}, rows[["trial_id", "status"]]
        assert all(r.strip() for r in rows["reasons"]), f"{pid}: a verdict without a reason"
    # the evaluable patients still got verdicts from evidence
    assert set(elig.loc[elig["patient_id"] == "P01", "status"]) - {"not_evaluable", "not_assessable"}
