"""The run-file documentation's example works on a real run file, with plain h5py."""

import os
import re
import subprocess
import sys

from lab.runner import run_experiment

from . import fake_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_runfile_doc_example_reads_a_run(tmp_path):
    fake_experiment.install()
    r = run_experiment("fake", {"steps": 40, "seed": 7}, out_dir=str(tmp_path))
    text = open(os.path.join(ROOT, "docs", "runfile.md")).read()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script), r.path], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "fake completed"
    assert out.splitlines()[1].startswith("7 40 ['loss']")
