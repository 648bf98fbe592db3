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
        self._write("\r" + progress_text(done, total, now - self.t0, self.width))

    def close(self) -> None:
        self._write("\n")

    def _write(self, text: str) -> None:
        """A closed terminal or pipe (SIGPIPE is ignored: EPIPE) must not end the run."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


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
    if args.out is not None and not args.out.strip():
        raise ParamError("--out", args.out, "a folder for the run file (leave --out away for the default)")
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


def cmd_repair(args) -> int:
    """Clear the open-for-write mark of a file whose writer died, then read its header."""
    from .runrepair import RepairError, clear_open_flags
    from .runfile import read_header

    try:
        print(f"{args.file}: {clear_open_flags(args.file)}")
    except (OSError, RepairError) as e:
        print(f"error: {args.file}: cannot be repaired ({e})", file=sys.stderr)
        return 2
    h = read_header(args.file)
    print(f"{args.file}: readable: {h.experiment}, status {h.display_status}")
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
    """Run an experiment over a parameter grid; the sweep file's path is printed last."""
    from .sweep import SweepError, parse_values, run_sweep

    mod = experiments.get(args.experiment)
    base = resolve_preset(mod.SPEC, mod.PRESETS, args.preset, mod.SPEC.parse_sets(args.set or []))
    grid = dict(parse_values(mod.SPEC, item) for item in args.param)

    def report(entry, done, total):
        print(f"[{done}/{total}] {entry['status']}: " + ", ".join(f"{k}={v}" for k, v in entry["values"].items()),
              file=sys.stderr)

    try:
        path = run_sweep(args.experiment, base, grid, args.out, preset=args.preset or "", jobs=args.jobs, on_run=report)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


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
    rp = sub.add_parser("repair", help="clear the open-for-write mark HDF5 left in a file whose writer died")
    rp.add_argument("file")
    rp.set_defaults(func=cmd_repair)
    d = sub.add_parser("data", help="which data sets a folder holds (counts), or the layout expected")
    d.add_argument("folder")
    d.add_argument("--download", choices=("fashion-mnist", "cifar10", "cifar100", "svhn"),
                   help="first download this data set into the folder through torchvision (needs a network)")
    d.set_defaults(func=cmd_data)
    sw = sub.add_parser("sweep", help="run an experiment over a grid of parameter values; prints the sweep file last")
    sw.add_argument("experiment")
    sw.add_argument("--param", action="append", required=True, metavar="NAME=v1,v2,...",
                    help="values of a numeric parameter: v1,v2,v3 or lin:lo:hi:n or log:lo:hi:n (repeat for a grid)")
    sw.add_argument("--preset", help="a named preset for the values not swept")
    sw.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    sw.add_argument("--jobs", type=int, default=1, help="parallel local processes (default 1)")
    sw.add_argument("--out", required=True, help="an empty folder for sweep.json and the runs")
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
