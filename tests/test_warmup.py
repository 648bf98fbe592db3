"""The start-up warm-up imports what a first run would import lazily (while a panel draws)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import sys
import torch
from workers.warmup import start_warm_up
start_warm_up().join()
before = set(sys.modules)
model = torch.nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.ones(3, 4)).sum().backward()
opt.step()
from lab.sgd import compiled
if compiled.AVAILABLE:
    import numpy as np
    compiled._advance_jit(np.zeros((1, 1, 1, 1, 1), np.int64), np.zeros((0, 1, 1, 1, 1)), np.zeros((1, 6)), 1,
                          np.zeros((2, 1)), np.zeros((2, 1)), 1, np.zeros((1, 1, 2)), np.zeros((1, 1, 2)))
print(len(set(sys.modules) - before))
"""


def test_after_the_warm_up_a_first_optimizer_step_and_compiled_loop_import_almost_nothing():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    # without the warm-up: some 1,300 (torch._dynamo, sympy, numba's registries)
    assert int(out.stdout.split()[-1]) < 25
