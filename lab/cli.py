"""The headless command line: ``run``, ``list`` and ``info`` (``open`` and no command
start the window, which lives outside lab/)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import experiments
from .params import ParamError, resolve_preset
from .runfile import RunFileError, read_run
from .runner import default_run_dir, run_experiment


class ProgressPrinter:
    """A one-line progress bar with rate and ETA on stderr, redrawn at most 5x a second."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.t0 = time.monotonic()
        self.last = 0.0

    def __call__(self, kind: str, name: str, payload) -> None:
        if kind != "progress":
            return
        done, total = payload
        now = time.monotonic()
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        self.stream.write("\r" + progress_text(done, total, now - self.t0, self.width))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def progress_text(done: int, total: int, elapsed: float, width: int = 30) -> str:
    """``[#####.....]  50.0%  1,234/s  ETA 0:00:12``"""
    frac = done / total if total else 0.0
    fill = int(round(frac * width))
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("nan")
    eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta == eta else "--:--:--"
    return f"[{'#' * fill}{'.' * (width - fill)}] {100 * frac:5.1f}%  {rate:,.0f}/s  ETA {eta_s}"


def cmd_run(args) -> int:
    """Run one experiment with a progress bar; the run file's path is printed last."""
    mod = experiments.get(args.experiment)
    values = resolve_preset(mod.SPEC, mod.PRESETS, args.preset, mod.SPEC.parse_sets(args.set or []))
    bar = ProgressPrinter()
    result = run_experiment(args.experiment, values, out_dir=args.out, tag=args.preset or "", listeners=[bar])
    bar.close()
    print(f"status: {result.status}", file=sys.stderr)
    if result.summary:
        print("summary: " + json.dumps(result.summary), file=sys.stderr)
    if result.error:
        print(result.error, file=sys.stderr)
    print(result.path)
    return 0 if result.status == "completed" else 1


def cmd_list(args) -> int:
    """Every experiment (or the one named) with its parameters and presets."""
    chosen = {args.experiment: experiments.get(args.experiment)} if args.experiment else experiments.registry()
    for name, mod in chosen.items():
        print(f"{name}: {mod.TITLE}")
        for p in mod.SPEC.describe():
            unit = f" [{p['unit']}]" if p["unit"] and not p["allowed"].endswith(p["unit"]) else ""
            print(f"  {p['name']:<16} = {p['default']:<14} {p['allowed']}{unit}  -- {p['help']}")
        if mod.PRESETS:
            print("  presets: " + ", ".join(mod.PRESETS))
        print()
    return 0


def cmd_info(args) -> int:
    """Header, datasets and summary of one run file."""
    run = read_run(args.file)
    h = run.header
    print(f"file:        {h.path}")
    print(f"experiment:  {h.experiment}")
    print(f"status:      {h.display_status}" + (f" (diverged at step {h.diverged_step})" if h.status == "diverged" else ""))
    print(f"created:     {h.created}   finished: {h.finished or '-'}")
    print(f"device:      {h.device}   seed: {h.seed}")
    print("parameters:  " + ", ".join(f"{k}={v}" for k, v in h.params.items()))
    print("datasets:")
    for path, arr in sorted(run.arrays.items()):
        print(f"  {path:<28} {str(arr.shape):<16} {arr.dtype}")
    print("summary:     " + json.dumps(h.summary))
    if h.error:
        print("error:\n" + h.error)
    return 0


def cmd_data(args) -> int:
    """Per data set: found or missing, counts and classes, or the layout expected."""
    from .data import DataError, download, scan

    if args.download:
        try:
            download(args.download, args.folder)
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print("built-in     digits (1,797 8x8 images, 10 classes) and gaussian (synthetic mixture)")
    print(f"data folder  {args.folder}")
    for s in scan(args.folder):
        if s.found:
            print(f"  {s.name:<14} found    train {s.n_train:>7,}  test {s.n_test:>7,}  classes {s.num_classes:>3}  in {s.folder}")
        else:
            print(f"  {s.name:<14} {s.state:<10} " + s.problem.replace("\n", "\n" + " " * 28))
    return 0


def cmd_sweep(args) -> int:
    """Run an experiment over a sweep space; a table of the runs goes to stderr, the sweep
    file's path is printed last. Exits 1 when any run did not complete."""
    from .sweep import Space, SweepError, make_backend, read_sweep, run_sweep

    mod = experiments.get(args.experiment)
    base = resolve_preset(mod.SPEC, mod.PRESETS, args.preset, mod.SPEC.parse_sets(args.set or []))
    space = Space.parse(mod.SPEC, args.param, random=args.random, sample_seed=args.sample_seed)

    def report(entry, done, total):
        print(f"[{done}/{total}] {entry['status']}: " + ", ".join(f"{k}={v}" for k, v in entry["values"].items()),
              file=sys.stderr)

    try:
        backend = make_backend(args.backend, jobs=args.jobs, address=args.address, num_cpus=args.cpus_per_run,
                               num_gpus=args.gpus_per_run)
        path = run_sweep(args.experiment, base, space, args.out, preset=args.preset or "", seeds=args.seeds,
                         backend=backend, resume=args.resume, on_run=report)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sweep = read_sweep(path)
    print(run_table(sweep), file=sys.stderr)
    print(path)
    return 0 if all(r["status"] == "completed" for r in sweep.runs) else 1


def run_table(sweep) -> str:
    """One line per run: index, status, the swept values (and seed), the node it ran on,
    and the error's last line where there is one; then the count of each status."""
    keys = sweep.swept + (["seed"] if sweep.seeds > 1 else [])
    rows = [["#", "status", *keys, "node", "note"]]
    for r in sweep.runs:
        note = r["error"].strip().splitlines()[-1][:60] if r["error"].strip() else ""
        rows.append([str(r["index"]), sweep.run_status(r), *(f"{r['values'][k]:g}" if isinstance(r["values"][k], float)
                     else str(r["values"][k]) for k in keys), r.get("node", "")[:12], note])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    counts: dict[str, int] = {}
    for r in sweep.runs:
        counts[sweep.run_status(r)] = counts.get(sweep.run_status(r), 0) + 1
    return "\n".join(lines + [f"sweep {sweep.display_status}: " + ", ".join(f"{n} {s}" for s, n in counts.items())])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="noiselab", description="Noise Lab: experiments on noise in training. "
                                "Without a command the window opens.")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("run", help="run an experiment headless; prints the run file's path last")
    r.add_argument("experiment")
    r.add_argument("--preset", help="a named preset (see 'list')")
    r.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    r.add_argument("--out", default=None, help=f"folder for the run file (default {default_run_dir()})")
    r.set_defaults(func=cmd_run)
    ls = sub.add_parser("list", help="experiments, their parameters and presets")
    ls.add_argument("experiment", nargs="?")
    ls.set_defaults(func=cmd_list)
    i = sub.add_parser("info", help="status, parameters, datasets and summary of a run file")
    i.add_argument("file")
    i.set_defaults(func=cmd_info)
    d = sub.add_parser("data", help="which data sets a folder holds (counts), or the layout expected")
    d.add_argument("folder")
    d.add_argument("--download", choices=("fashion-mnist", "cifar10", "cifar100", "svhn"),
                   help="first download this data set into the folder through torchvision (needs a network)")
    d.set_defaults(func=cmd_data)
    sw = sub.add_parser("sweep", help="run an experiment over a sweep space (grid or random); prints the sweep file last")
    sw.add_argument("experiment")
    sw.add_argument("--param", action="append", required=True, metavar="NAME=v1,v2,...",
                    help="values of a numeric or choice parameter: v1,v2,v3 or lin:lo:hi:n or log:lo:hi:n "
                         "(repeat for a grid over several)")
    sw.add_argument("--random", type=int, default=0, metavar="N",
                    help="draw N random points from the ranges instead of a grid (log-uniform for log:)")
    sw.add_argument("--sample-seed", type=int, default=0, help="seed of the random points (default 0)")
    sw.add_argument("--seeds", type=int, default=1, metavar="K", help="repeat every point with K run seeds")
    sw.add_argument("--preset", help="a named preset for the values not swept")
    sw.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    sw.add_argument("--backend", default="local", help="where runs execute: local (default) or ray")
    sw.add_argument("--jobs", type=int, default=1, help="local backend: parallel processes (default 1)")
    sw.add_argument("--address", default="", help="ray backend: the cluster (host:port, auto or ray://host:10001); "
                                                  "none: the one 'ray start' runs on this machine, else a new "
                                                  "local instance")
    sw.add_argument("--cpus-per-run", type=float, default=None, help="ray backend: CPUs per run (default 1)")
    sw.add_argument("--gpus-per-run", type=float, default=None,
                    help="ray backend: GPUs per run, fractions pack runs on one GPU (default 0)")
    sw.add_argument("--resume", action="store_true",
                    help="continue the sweep in --out: keep finished runs, rerun failed, cancelled and interrupted ones")
    sw.add_argument("--out", required=True, help="a folder for sweep.json and the runs (empty unless --resume)")
    sw.set_defaults(func=cmd_sweep)
    o = sub.add_parser("open", help="open the window on a run file")
    o.add_argument("file")
    return p


def main(argv=None) -> int:
    """Headless commands; returns the exit code (2 for bad input, with a message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):  # no command, or 'open' (main.py starts the window for that)
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ParamError, RunFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
