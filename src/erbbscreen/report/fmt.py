"""Small formatting helpers shared by the report pages and the workbook (numbers, status colours, labels)."""
from __future__ import annotations

import math

#: one colour per status word of the contract tables (eligibility, biomarkers, QC, hotspots, copy number)
STATUS_COLOURS = {
    "candidate": "#1b7837", "excluded": "#b2182b", "screen_negative": "#6f6f6f", "not_evaluable": "#c46a00",
    "not_assessable": "#5e3c99",
    "positive": "#1b7837", "negative": "#6f6f6f", "pass": "#1b7837", "fail": "#b2182b",
    "detected": "#b2182b", "not_detected": "#6f6f6f", "amplification": "#b2182b", "gain": "#d6604d",
    "neutral": "#6f6f6f", "loss": "#2166ac",
    "wild type": "#6f6f6f",
    "met": "#1b7837", "not met": "#b2182b", "unknown": "#c46a00", "pending": "#5e3c99",
}
ELIGIBILITY_ORDER = ("candidate", "not_evaluable", "not_assessable", "screen_negative", "excluded")
#: what each verdict means, in one line (legend of every page)
STATUS_MEANING = {
    "candidate": "every DNA criterion supports the patient; non-DNA confirmations pending",
    "excluded": "a DNA-assessed protocol criterion is not met",
    "screen_negative": "the DNA-assessed target was measured and not found",
    "not_evaluable": "DNA evidence needed to decide is missing or insufficient",
    "not_assessable": "the trial selects only on criteria DNA cannot measure",
}


def colour(status) -> str:
    return STATUS_COLOURS.get(str(status or ""), "#555555")


def num(x):
    """float or None (empty strings, NaN and non-numbers are None)."""
    if x is None or x == "":
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fnum(x, digits: int = 3, na: str = "NA") -> str:
    """A number with ``digits`` significant digits, ``na`` when missing."""
    f = num(x)
    if f is None:
        return na
    if f != 0 and abs(f) < 10 ** -(digits + 1):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}"


def fixed(x, decimals: int = 1, na: str = "NA") -> str:
    f = num(x)
    return na if f is None else f"{f:.{decimals}f}"


def ci_text(lo, hi, decimals: int = 1) -> str:
    """'[10.4-12.3]' or '' when either bound is missing."""
    a, b = num(lo), num(hi)
    if a is None or b is None:
        return ""
    return f"[{a:.{decimals}f}-{b:.{decimals}f}]"


def verified_label(verified) -> str:
    """The criterion's verification label as printed everywhere: verified, ASSUMED or UNVERIFIED."""
    if verified is True:
        return "verified"
    return "ASSUMED" if verified == "assumed" else "UNVERIFIED"


def state_word(value: str, cause: str | None = None) -> str:
    """met / not met / unknown / pending from the engine's three-valued criterion value."""
    if value == "true":
        return "met"
    if value == "false":
        return "not met"
    return "pending" if cause == "needs_non_dna_test" else "unknown"


def sample_type_label(sample_type: str) -> str:
    return {"tumor": "tumour", "plasma": "plasma", "normal": "normal"}.get(sample_type, sample_type)


def one_line(text, n: int = 140) -> str:
    """Whitespace collapsed, cut at ``n`` characters (for cells that must stay one line)."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"
