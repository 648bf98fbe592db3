# PYTHON_ARGCOMPLETE_OK
"""Noise Lab entry point: no arguments opens the window, ``open FILE`` opens it on a run,
any other command runs headless (see ``python main.py --help``; exit codes there)."""

from __future__ import annotations

import os
import signal
import sys


def main(argv=None) -> int:
    """The window for no arguments or ``open [FILE]``, else the command line; the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if (not argv or argv[0] == "open") and "_ARGCOMPLETE" not in os.environ:
            from lab.cli import window_files

            code, files = window_files(argv) if argv else (None, [])
            if code is not None:  # not a readable run: said on stderr, no window opened
                return code
            from widgets.app import run_app  # Qt is imported only when a window is wanted

            return run_app(files)
        if argv[0] == "figure":
            from lab.cli import build_parser
            from widgets.figure import cli_figure  # Qt, offscreen

            return cli_figure(build_parser().parse_args(argv))
        from lab.cli import main as cli_main

        if hasattr(signal, "SIGPIPE"):  # `noiselab list | head` ends quietly, like any Unix filter
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return cli_main(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up: no traceback
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
