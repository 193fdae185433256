import sys

from host_tools.history.export import main as export_main


def main(argv=None):
    # The ihd-history entry point: `plot` is host_tools/history/plot.py, the rest export.py's.
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["plot"]:
        from host_tools.history import plot

        return plot.main(argv[1:])
    if argv[:1] in (["-h"], ["--help"]):
        export_main(["--help"])
        print("\nalso: plot IMAGE --out DIR [--format png|svg]  charts of the history (plot -h)")
        return 0
    return export_main(argv)


if __name__ == "__main__":
    sys.exit(main())
