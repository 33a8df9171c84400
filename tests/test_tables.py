"""erbbscreen.tables: the table merge writes what the pandas round trip wrote, byte for byte."""
import json
from pathlib import Path

import pandas as pd

from erbbscreen.tables import COLUMNS, concat_tables, read_table, write_table


def pandas_concat(paths, out, table):
    """The merge as it was written with pandas (the reference the csv-module merge must equal)."""
    frames = [read_table(p) for p in paths if Path(p).stat().st_size > 0]
    frames = [f for f in frames if len(f.columns)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS[table])
    write_table(df, out, table)


def _merge_both(tmp_path, paths, table):
    new, old = tmp_path / "new.tsv", tmp_path / "old.tsv"
    n = concat_tables(paths, new, table)
    pandas_concat(paths, old, table)
    assert new.read_bytes() == old.read_bytes()
    return n, new


def test_merge_equals_pandas_round_trip_on_awkward_cells(tmp_path):
    details = json.dumps({"call": "amplification", "reason": 'CN "high"\tand\nmulti-line', "ci": [1.5, 2.25]})
    a = pd.DataFrame([{"sample_id": "S1", "patient_id": "P1", "sample_type": "tumor", "biomarker": "ERBB2_CN",
                       "status": "positive", "value": "8.10", "evidence": details, "extra_a": "NA"},
                      {"sample_id": "S1", "patient_id": "P1", "sample_type": "tumor", "biomarker": "KRAS",
                       "status": "not_evaluable", "value": "", "evidence": "", "extra_a": " padded "}])
    b = pd.DataFrame([{"patient_id": "P2", "sample_id": "S2", "sample_type": "plasma", "biomarker": "TUMOR_FRACTION",
                       "status": "positive", "value": "0.100", "evidence": "it's 'quoted'", "extra_b": "nan"}])
    paths = []
    for i, df in enumerate((a, b)):
        paths.append(tmp_path / f"{i}.tsv")
        write_table(df, paths[-1], "biomarkers")
    empty, header_only = tmp_path / "empty.tsv", tmp_path / "header.tsv"
    empty.write_text("")
    write_table(pd.DataFrame(columns=COLUMNS["biomarkers"] + ["extra_c"]), header_only, "biomarkers")
    n, merged = _merge_both(tmp_path, [paths[0], empty, header_only, paths[1]], "biomarkers")
    assert n == 3
    back = read_table(merged)
    assert list(back.columns[:7]) == COLUMNS["biomarkers"] and list(back.columns[7:]) == ["extra_a", "extra_c",
                                                                                           "extra_b"]
    assert back.loc[0, "evidence"] == details and back.loc[2, "extra_b"] == "nan" and back.loc[2, "extra_a"] == ""


def test_merge_of_nothing_is_the_contract_header(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert _merge_both(tmp_path, [empty], "qc")[0] == 0
    assert _merge_both(tmp_path, [], "purity")[1].read_text() == "\t".join(COLUMNS["purity"]) + "\n"


def test_merge_equals_pandas_round_trip_on_the_cohort_run(workflow_results, tmp_path):
    """Every per-sample table of a workflow run (SYNTHETIC cohort), merged both ways."""
    results = workflow_results / "results"
    for table, pattern in (("qc", "preflight/*/qc.tsv"), ("hotspots", "hotspots/*/hotspots.tsv"),
                           ("fusions", "fusions/*/fusions.tsv"), ("purity", "purity/*/purity.tsv"),
                           ("biomarkers", "*/*/biomarkers.tsv")):
        paths = sorted(results.glob(pattern))
        assert paths, pattern
        n, merged = _merge_both(tmp_path, paths, table)
        if table in ("qc", "purity"):  # one row per sample; the published table holds the same rows (sheet order)
            assert n == len(paths)
            published = (results / "tables" / f"{table}.tsv").read_text().splitlines()
            assert sorted(merged.read_text().splitlines()) == sorted(published)
