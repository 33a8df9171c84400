"""Sample sheet and config validation: every problem reported at once, naming file, line, column and the fix."""
from pathlib import Path

import pytest
import yaml

from erbbscreen.errors import InputError
from erbbscreen.samplesheet import load_samplesheet
from erbbscreen.settings import check_files, resolve_paths, validate_config

HEADER = "patient_id\tsample_id\tsample_type\tbam\tpurity\n"


def write_sheet(tmp_path, rows, header=HEADER):
    path = tmp_path / "samples.tsv"
    path.write_text(header + "".join("\t".join(r) + "\n" for r in rows))
    return path


def problems_of(path):
    with pytest.raises(InputError) as info:
        load_samplesheet(path)
    return info.value.problems, str(info.value)


def test_valid_sheet_resolves_paths_against_sheet_folder(tmp_path):
    path = write_sheet(tmp_path, [["P1", "P1-T", "tumor", "bams/P1-T.bam", "0.4"],
                                  ["P1", "P1-L", "plasma", "/abs/P1-L.cram", ""]])
    df = load_samplesheet(path)
    assert list(df.index) == ["P1-T", "P1-L"]
    assert df.loc["P1-T", "bam"] == str(tmp_path / "bams" / "P1-T.bam")
    assert df.loc["P1-L", "bam"] == "/abs/P1-L.cram"
    assert df.loc["P1-T", "purity"] == pytest.approx(0.4)
    assert df.loc["P1-L", "purity"] != df.loc["P1-L", "purity"]  # NaN when not given


@pytest.mark.parametrize("rows, expected", [
    ([["P1", "S1", "tumor", "a.bam", ""], ["P2", "S1", "tumor", "b.bam", ""]],
     ["lines 2, 3, column 'sample_id': 'S1' is used more than once"]),
    ([["P1", "S 1", "tumor", "a.bam", ""]], ["line 2, column 'sample_id': 'S 1' contains whitespace"]),
    ([["P1", "S1;rm", "tumor", "a.bam", ""]], ["column 'sample_id': 'S1;rm' contains ';'"]),
    ([["P$1", "S1", "tumor", "a.bam", ""]], ["column 'patient_id': 'P$1' contains '$'"]),
    ([["P1", "S1", "tissue", "a.bam", ""]], ["column 'sample_type': 'tissue' is not allowed; allowed: tumor, plasma, normal"]),
    ([["P1", "S1", "tumor", "a.bam", "0"]], ["column 'purity': 0 is out of range; allowed: a number with 0 < purity <= 1"]),
    ([["P1", "S1", "tumor", "a.bam", "1.5"]], ["column 'purity': 1.5 is out of range"]),
    ([["P1", "S1", "tumor", "a.bam", "high"]], ["column 'purity': 'high' is not a number"]),
    ([["P1", "S1", "tumor", "a.fastq", ""]], ["column 'bam': 'a.fastq' does not end in .bam or .cram"]),
])
def test_bad_rows_are_named(tmp_path, rows, expected):
    problems, text = problems_of(write_sheet(tmp_path, rows))
    for e in expected:
        assert e in text, text
    assert str(tmp_path / "samples.tsv") in text


def test_every_problem_reported_at_once(tmp_path):
    rows = [["P1", "S1", "tumour", "a.bam", "2"], ["P 2", "S1", "tumor", "b.bam", "x"]]
    problems, text = problems_of(write_sheet(tmp_path, rows))
    assert len(problems) == 5, text  # type, purity 2, patient space, purity x, duplicate


def test_missing_column_and_wrong_separator(tmp_path):
    _, text = problems_of(write_sheet(tmp_path, [["P1", "S1", "tumor", ""]],
                                      header="patient_id\tsample_id\tsample_type\tpurity\n"))
    assert "missing required column(s) bam" in text
    path = tmp_path / "comma.tsv"
    path.write_text("patient_id,sample_id,sample_type,bam\nP1,S1,tumor,a.bam\n")
    _, text = problems_of(path)
    assert "comma- or space-separated" in text


def base_config(tmp_path):
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr1\nACGT\n")
    (tmp_path / "ref.fa.fai").write_text("chr1\t4\t6\t4\t5\n")
    for name in ("tx.bed12", "hs.tsv"):
        (tmp_path / name).write_text("")
    return {"samples": str(tmp_path / "samples.tsv"), "reference": {"fasta": str(fasta), "build": "custom"},
            "annotation": {"transcripts": str(tmp_path / "tx.bed12"), "hotspots": str(tmp_path / "hs.tsv")}}


def test_misspelled_config_key_is_rejected_with_suggestion(tmp_path):
    config = base_config(tmp_path)
    config["hotspot"] = {}
    config["qc"] = {"min_mean_target_depht": 50}
    with pytest.raises(InputError) as info:
        validate_config(config, "my.yaml")
    text = str(info.value)
    assert "my.yaml: unknown config key 'hotspot' (did you mean 'hotspots'?)" in text
    assert "unknown config key 'qc.min_mean_target_depht' (did you mean 'min_mean_target_depth'?)" in text


def test_bad_config_values_name_the_key(tmp_path):
    config = base_config(tmp_path)
    config["reference"]["build"] = "hg19"
    config["qc"] = {"min_mapped_pct": 150}
    with pytest.raises(InputError) as info:
        validate_config(config, "my.yaml")
    text = str(info.value)
    assert "config key 'reference.build': 'hg19' is not one of ['GRCh38', 'GRCh37', 'custom']" in text
    assert "config key 'qc.min_mapped_pct'" in text


def test_defaults_injected(tmp_path):
    config = validate_config(base_config(tmp_path))
    assert config["qc"]["min_p20_target_depth"] == 30


def test_missing_fai_names_the_fix(tmp_path):
    config = validate_config(base_config(tmp_path))
    (tmp_path / "ref.fa.fai").unlink()
    problems = check_files(resolve_paths(config, tmp_path))
    assert any("ref.fa.fai not found; fix: run `samtools faidx" in p for p in problems), problems


def test_bundled_config_is_valid():
    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    validate_config(config, "config/config.yaml")


def test_stage_cli_config_section(tmp_path):
    """A stage CLI's --config: the named section, {} without a file, a clear error naming a bad file."""
    from erbbscreen.settings import config_section

    good = tmp_path / "my.yaml"
    good.write_text("cnv:\n  min_bins: 5\npurity:\n")
    assert config_section(good, "cnv") == {"min_bins": 5}
    assert config_section(good, "purity") == {} and config_section(None, "cnv") == {}
    assert config_section(good) == {"cnv": {"min_bins": 5}, "purity": None}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError) as info:
        config_section(bad, "cnv")
    assert str(bad) in str(info.value) and "mapping" in str(info.value)
    with pytest.raises(InputError) as info:
        config_section(tmp_path / "absent.yaml", "cnv")
    assert "absent.yaml: cannot read the config file" in str(info.value)
