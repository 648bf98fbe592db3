"""Run every run-file reader on the files named on the command line, one JSON line per
file and reader: ``{"file", "reader", "outcome": "ok" | "message" | <exception type>,
"text"}``. Run in a subprocess by ``tests/test_runfile_hostile.py``, so that a hang or a
crash is caught by its timeout and names the file last printed."""

import contextlib
import io
import json
import sys

from lab import cli
from lab.runfile import RunFileError, RunFollower, read_header, read_run


def _info(path):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(["info", path])
    if code != 0:
        raise RunFileError(err.getvalue().strip())
    return out.getvalue()


READERS = {"read_header": read_header, "read_run": read_run, "follow": lambda p: RunFollower(p).poll(), "info": _info}


def main(paths):
    for path in paths:
        for name, fn in READERS.items():
            print(json.dumps({"file": path, "reader": name, "start": True}), flush=True)
            try:
                result = fn(path)
                outcome, text = "ok", str(result)[:2000]
            except RunFileError as e:
                outcome, text = "message", str(e)
            except BaseException as e:
                outcome, text = type(e).__name__, str(e)
            print(json.dumps({"file": path, "reader": name, "outcome": outcome, "text": text[:4000]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
