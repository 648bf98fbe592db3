#!/usr/bin/env bash
# One prepared check of the GPU paths, for a machine with a CUDA GPU (about 6-8 minutes on
# an H200): the CUDA-marked tests, then every benchmark on the GPU, then one summary table
# (with nvidia-smi facts and each step's figures and peak GPU memory) on stdout and, when
# $OUT is set, in $OUT/device_check.md with every step's full log in $OUT/logs/.
#
#   bash benchmarks/device_check.sh                        # on the CUDA machine
#   DEVICE_CHECK_QUICK=1 bash benchmarks/device_check.sh   # the same steps on the CPU at
#                                                          # --quick sizes (checks the script)
#
# PYTHON picks the interpreter (default: .venv/bin/python if present, else python3);
# DEVICE_CHECK_BUDGET the seconds after which the remaining steps are skipped (450).
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
QUICK=${DEVICE_CHECK_QUICK:-0}
BUDGET=${DEVICE_CHECK_BUDGET:-450}
OUTDIR=${OUT:-$(mktemp -d)}
LOGS="$OUTDIR/logs"
mkdir -p "$LOGS"
: > "$LOGS/steps.tsv"
START=$(date +%s)

# quick: one epoch per training path and no torch.compile (the CPU is slow for these
# networks; tests/test_cuda.py covers the compile option)
if [ "$QUICK" = 1 ]; then DEV=cpu; Q=--quick; E="--epochs 1 --naive-epochs 1"; C=
else DEV=cuda; Q=; E=; C=--compile; fi

# step NAME TIMEOUT_S COMMAND...: run it unless the budget is spent; record status and time
step() {
    local name=$1 limit=$2; shift 2
    local now; now=$(date +%s)
    if [ $((now - START)) -ge "$BUDGET" ]; then
        printf '%s\t%s\t%s\n' "$name" "skipped (budget)" 0 >> "$LOGS/steps.tsv"; return
    fi
    echo "== $name: $*" >&2
    local t0; t0=$(date +%s)
    timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
    local rc=$?
    local status=ok
    [ $rc -eq 124 ] && status="timed out (${limit} s)"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="failed (rc $rc)"
    printf '%s\t%s\t%s\n' "$name" "$status" $(( $(date +%s) - t0 )) >> "$LOGS/steps.tsv"
    tail -n 3 "$LOGS/$name.log" >&2
}

{
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm,compute_cap \
            --format=csv 2>&1
    else
        echo "nvidia-smi: not available"
    fi
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available(), 'cudnn', torch.backends.cudnn.version())" 2>&1
    "$PY" -c "import numba; print('numba', numba.__version__)" 2>&1 | tail -n 1
    nproc | sed 's/^/cpu cores: /'
} > "$LOGS/machine.log"

step cuda_tests 240 "$PY" -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py tests/test_training.py
step loader 120 "$PY" benchmarks/bench_loader.py --device "$DEV" $Q $( [ "$QUICK" = 1 ] || echo --n 50000 --workers 8 )
step ols 120 "$PY" benchmarks/bench_ols.py --device "$DEV" $Q
step phase_map 150 "$PY" benchmarks/bench_nin_phase_map.py --device "$DEV" $Q $( [ "$QUICK" = 1 ] || echo --n 200 )
step elr 300 "$PY" benchmarks/bench_elr.py --device "$DEV" $Q $E --ablate $C
step distill 150 "$PY" benchmarks/bench_distill.py --device "$DEV" $Q $E
step grad_norm 60 "$PY" benchmarks/bench_grad_norm.py --device "$DEV" --model cnn

"$PY" - "$LOGS" "$(( $(date +%s) - START ))" "$QUICK" > "$OUTDIR/device_check.md" <<'PYEOF'
"""The summary table: one row per step with its status, seconds and name=value figures."""
import re
import sys
from pathlib import Path

logs, total, quick = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
print("# Device check" + (" (DEVICE_CHECK_QUICK: CPU, --quick sizes)" if quick else ""))
print()
print("```")
print((logs / "machine.log").read_text().strip())
print("```")
print()
print("| step | status | s | figures (name=value lines of its output) | last line |")
print("|---|---|---|---|---|")
for line in (logs / "steps.tsv").read_text().splitlines():
    name, status, secs = line.split("\t")
    log = logs / f"{name}.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    figures = re.findall(r"^(?:\S+=\S+ ?)+$", text, re.M)
    if name == "cuda_tests":
        figures = re.findall(r"^=*\s*(\d+ (?:passed|failed|skipped|error).*?)\s*=*$", text, re.M)[-1:]
    last = text.strip().splitlines()[-1] if text.strip() else ""
    cell = "; ".join(f.strip() for f in figures).replace("|", "/")
    print(f"| {name} | {status} | {secs} | {cell} | {last[:120].replace('|', '/')} |")
print()
print(f"total: {total} s; full logs in {logs}")
PYEOF
cat "$OUTDIR/device_check.md"
