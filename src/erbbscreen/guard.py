"""One sample's job failing never stops the cohort: a per-sample step that raises while reading a sample (an
unreadable region, a BAM truncated or corrupted after QC passed) is rerun through the step's own QC-failure path,
so its outputs exist and say `not_evaluable` with the reason, and the cohort tables still come out.

Every per-sample stage already turns a failed QC row into not_evaluable outputs without opening the alignment;
:func:`run_or_not_evaluable` reuses exactly that path with a QC row that carries the failure."""
from __future__ import annotations

import logging
import traceback
from pathlib import Path

from erbbscreen.tables import read_qc_row, write_table

log = logging.getLogger("erbbscreen.guard")

FIX = ("fix: check the alignment with `samtools quickcheck -v` and by reading it end to end "
       "(`samtools view -c`), re-create it if it is truncated or corrupt, then rerun")


def failure_qc(qc_path, step: str, exc: BaseException, out_dir) -> Path:
    """A copy of the sample's QC row with status fail and the step's failure as the reason (written in out_dir)."""
    row = read_qc_row(qc_path)
    reason = f"{step} failed while reading this sample ({type(exc).__name__}: {str(exc).strip()[:300]}); {FIX}"
    row["status"] = "fail"
    row["reasons"] = "; ".join(r for r in (row.get("reasons", ""), reason) if r)
    path = Path(out_dir) / f".{step}.failure_qc.tsv"
    write_table([row], path, "qc")
    return path


def run_or_not_evaluable(step: str, qc_path, out_dir, run):
    """``run(qc_path)``; if it raises an Exception, log it and call ``run`` again with a failed QC row naming the
    failure, so that the step writes its not_evaluable outputs. A second failure propagates (the job fails and,
    with --keep-going, the rest of the cohort goes on)."""
    try:
        return run(qc_path)
    except Exception as exc:  # noqa: BLE001 - any read error of one sample; the traceback goes to the job log
        log.error("%s failed; the sample becomes not_evaluable:\n%s", step, traceback.format_exc())
        failed = failure_qc(qc_path, step, exc, out_dir)
        try:
            return run(str(failed))
        finally:
            failed.unlink(missing_ok=True)
