"""The entry point as a shell user meets it."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_listing_piped_into_head_ends_quietly():
    out = subprocess.run(
        f"'{sys.executable}' main.py list | head -n 1", shell=True, cwd=ROOT, capture_output=True, text=True
    )
    assert out.stdout.startswith("ols:") and "Traceback" not in out.stderr, out.stderr
