"""Noise Lab entry point: no arguments opens the window, ``open FILE`` opens it on a run,
any other command runs headless (see ``python main.py --help``)."""
from __future__ import annotations

import signal
import sys


def main(argv=None) -> int:
    """The window for no arguments or ``open [FILE]``, else the command line; the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] == "open":
        from widgets.app import run_app  # Qt is imported only when a window is wanted

        return run_app(argv[1:2])
    if argv[0] == "figure":
        from lab.cli import build_parser
        from widgets.figure import cli_figure  # Qt, offscreen

        return cli_figure(build_parser().parse_args(argv))
    from lab.cli import main as cli_main

    if hasattr(signal, "SIGPIPE"):  # `noiselab list | head` ends quietly, like any Unix filter
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
