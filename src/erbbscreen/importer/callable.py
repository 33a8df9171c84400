"""``--callable``: where the assay covered the genome at adequate depth.

Accepted:
* a BED of callable regions (0-based, half-open). A 4th column is read when it is a number (depth, e.g. mosdepth
  per-region output: compared with the configured depth) or a GATK CallableLoci state (only ``CALLABLE`` counts);
  any other name (a bait/target name) leaves the interval "declared callable" by the lab;
* a gVCF / all-sites VCF (``.g.vcf``, ``.vcf``, ``.vcf.gz``, ``.bcf``): its reference blocks with MIN_DP/DP.

Only intervals overlapping ``keep(chrom, start0, end0)`` are kept, so a genome-wide file costs one pass.
"""
from __future__ import annotations

import gzip
from pathlib import Path

from erbbscreen.errors import InputError
from erbbscreen.importer.records import Coverage

CALLABLE_LOCI_STATES = {"CALLABLE", "REF_N", "NO_COVERAGE", "LOW_COVERAGE", "EXCESSIVE_COVERAGE", "POOR_MAPPING_QUALITY"}
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".bcf", ".gvcf", ".gvcf.gz", ".g.vcf", ".g.vcf.gz")


def is_vcf(path) -> bool:
    return str(path).lower().endswith(VCF_SUFFIXES)


def read_callable(path, keep=None, vcf_sample: str | None = None) -> Coverage:
    path = Path(path)
    if not path.is_file():
        raise InputError([f"{path}: callable-regions file not found; fix: check the --callable path / sheet "
                          "column callable"])
    if is_vcf(path):
        from erbbscreen.importer.vcf import read_vcf

        _, cov, _ = read_vcf(path, sample=vcf_sample, keep_coverage=keep)
        cov.sources = [f"gVCF {path.name}"]
        return cov
    cov = Coverage(sources=[f"callable BED {path.name}"])
    opener = gzip.open if path.name.endswith(".gz") else open
    problems = []
    with opener(path, "rt") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\r\n").split("\t")
            if len(f) < 3:
                problems.append(f"{path}:{n}: {len(f)} column(s); need tab-separated chrom, start, end")
                continue
            try:
                s, e = int(f[1]), int(f[2])
            except ValueError:
                problems.append(f"{path}:{n}: start/end {f[1]!r}/{f[2]!r} must be integers (0-based BED)")
                continue
            if len(problems) > 20:
                break
            if keep is not None and not keep(f[0], s, e):
                continue
            depth = None
            if len(f) > 3:
                name = f[3].strip()
                if name.upper() in CALLABLE_LOCI_STATES:
                    if name.upper() != "CALLABLE":
                        continue
                else:
                    try:
                        depth = int(float(name))
                    except ValueError:
                        depth = None
            cov.add(f[0], s, e, depth, f"{path.name}:{n}")
    if problems:
        raise InputError(problems, header=f"Callable BED {path} is malformed")
    return cov
