"""Command line: `erbb-screen <stage> ...`; each stage module owns its own argument parser.

Every stage module exposes ``main(argv) -> int``. The stage modules are imported lazily so
that `erbb-screen --help` stays fast.
"""
import importlib
import sys

#: subcommand -> (module, one-line description)
COMMANDS = {
    "preflight": ("erbbscreen.preflight", "check a sample sheet + config before running; measure QC of one BAM"),
    "check-hotspots": ("erbbscreen.annotation", "check a hotspot table against a reference FASTA"),
    "copy-number": ("erbbscreen.copynumber", "gene-level ERBB2/ERBB3 calls from CNVkit .cnr/.cns files"),
    "purity": ("erbbscreen.purity", "tumour purity / ctDNA fraction of a BAM (+ optional CNVkit .cnr/.cns)"),
    "hotspots": ("erbbscreen.hotspots", "genotype hotspot codons in a BAM/CRAM"),
    "fusions": ("erbbscreen.fusions", "detect NRG1 fusions in a BAM/CRAM"),
    "import": ("erbbscreen.importer.cli", "biomarker rows from existing VCF/MAF, CNVkit/PURPLE, fusion-caller files"),
    "eligibility": ("erbbscreen.eligibility", "trial verdicts from a biomarkers.tsv (+ qc.tsv)"),
    "report": ("erbbscreen.report", "cohort page, one page per patient and an XLSX from a run's results"),
}


def _usage():
    lines = ["usage: erbb-screen <command> [options]", "", "commands:"]
    for name, (_, desc) in COMMANDS.items():
        lines.append(f"  {name:<15} {desc}")
    lines.append("")
    lines.append("Run `erbb-screen <command> --help` for a command's options.")
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from erbbscreen import __version__

        print(__version__)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"erbb-screen: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
