"""erbb-screen: screen cancer cohorts for HER2/HER3-targeted trials from aligned reads.

The library holds every piece of logic; the Snakemake rules and the command line
(`erbb-screen <stage>`) are thin layers over it.
"""

__version__ = "0.1.0"

#: Output statuses fixed by the contract (shared/interfaces.md).
QC_STATUSES = ("pass", "fail")
CN_CALLS = ("amplification", "gain", "neutral", "loss", "not_evaluable")
HOTSPOT_STATUSES = ("detected", "not_detected", "not_evaluable")
BIOMARKER_STATUSES = ("positive", "negative", "not_evaluable")
BIOMARKERS = ("ERBB2_CN", "ERBB3_CN", "KRAS", "NRAS", "BRAF", "PIK3CA", "NRG1_FUSION", "TUMOR_FRACTION")
ELIGIBILITY_STATUSES = ("candidate", "excluded", "screen_negative", "not_evaluable", "not_assessable")
SAMPLE_TYPES = ("tumor", "plasma", "normal")
