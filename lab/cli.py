"""The headless command line: ``run``, ``list``, ``info``, ``data``, ``sweep`` and
``export`` (``open`` and no command start the window, and ``figure`` draws a panel
offscreen: both need Qt, which lives outside lab/; main.py hands them over).

Exit codes, the same for every command (:data:`EXIT_CODES`): 0 done (a run
completed), 1 a run (or a sweep's run, or a download) did not complete, 2 usage or bad
input (the message names what is wrong), 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys

from . import __version__, experiments
from .configs import ConfigError, preset_names, resolve, save_config, user_preset_dir
from .params import ParamError, resolve_preset
from .progress import ProgressDisplay
from .runfile import RunFileError, read_header, read_run
from .runner import default_run_dir, run_experiment

OK, NOT_COMPLETED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = """exit codes:
  0    done (the run completed; every run of a sweep completed)
  1    a run did not complete (cancelled, failed, diverged), in a sweep any run
  2    usage error or bad input (a parameter, a file, a folder); the message says which
  130  interrupted by Ctrl-C (the run is recorded as cancelled)"""


def plain(obj):
    """``obj`` as strict JSON values: NaN and infinities become ``null``, numpy scalars
    and arrays Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return plain(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, str) and obj in ("nan", "inf", "-inf"):  # how run files store them
        return None
    return obj


def json_text(obj, **kw) -> str:
    """Strict JSON (no ``NaN``) of ``obj``."""
    return json.dumps(plain(obj), allow_nan=False, **kw)


def cmd_run(args) -> int:
    """Run one experiment with a progress display; the run file's path is printed last.
    Ctrl-C cancels the run between steps (:mod:`lab.interrupts`) and ends with one line
    (status and path) and exit code 130 (SIGTERM 143, SIGHUP 129)."""
    exp = experiments.get(args.experiment)
    values = resolve(exp, args.preset, args.config, exp.spec.parse_sets(args.set or []))
    if args.out is not None and not args.out.strip():
        raise ParamError("--out", args.out, "a folder for the run file (leave --out away for the default)")
    if args.save_config:
        save_config(args.save_config, exp.name, values)
        print(args.save_config)
        return OK
    display = ProgressDisplay(label=exp.name)
    try:
        result = run_experiment(args.experiment, values, out_dir=args.out, tag=args.preset or "", listeners=[display])
    except KeyboardInterrupt:
        display.close()
        if not display.path:
            print("interrupted before the run file was made", file=sys.stderr)
            return INTERRUPTED
        try:
            status = read_header(display.path).status
        except RunFileError:
            status = "unknown"
        print(f"{status}: {display.path} (interrupted by Ctrl-C)", file=sys.stderr)
        return INTERRUPTED
    display.close()
    signame = result.error[len("cancelled by ") :] if result.error.startswith("cancelled by SIG") else ""
    if result.status == "cancelled" and signame:  # Ctrl-C (or SIGTERM, SIGHUP): one line, 128 + the signal
        name = "Ctrl-C" if signame == "SIGINT" else signame
        print(f"cancelled: {result.path} (interrupted by {name})", file=sys.stderr)
        return 128 + int(getattr(signal, signame, signal.SIGINT))
    print(f"status: {result.status}", file=sys.stderr)
    if result.summary:
        print("summary: " + json_text(result.summary), file=sys.stderr)
    if result.error:
        print(result.error, file=sys.stderr)
    print(result.path)
    return OK if result.status == "completed" else NOT_COMPLETED


def experiment_text(exp) -> str:
    """An experiment's parameters (default, allowed values, unit, help) and presets."""
    lines = [f"{exp.name}: {exp.title}", "parameters (--set NAME=VALUE, or NAME = VALUE in a --config file):"]
    for p in exp.spec.describe():
        unit = f" [{p['unit']}]" if p["unit"] and not p["allowed"].endswith(p["unit"]) else ""
        lines.append(f"  {p['name']:<16} = {p['default']:<14} {p['allowed']}{unit}  -- {p['help']}")
    if exp.presets:
        lines.append("presets: " + ", ".join(exp.presets))
        lines += [f"  {preset}: {note}" for preset, note in exp.preset_notes.items()]
    user = preset_names(exp)[len(exp.presets) :]
    if user:
        lines.append(f"user presets ({user_preset_dir(exp.name)}): " + ", ".join(user))
    return "\n".join(lines)


def _experiment_json(exp) -> dict:
    return {
        "name": exp.name,
        "title": exp.title,
        "parameters": [{**d, "value": p.default} for d, p in zip(exp.spec.describe(), exp.spec)],
        "presets": {n: dict(v) for n, v in exp.presets.items()},
        "preset_notes": dict(exp.preset_notes),
        "user_presets": preset_names(exp)[len(exp.presets) :],
    }


def cmd_list(args) -> int:
    """Every experiment (or the one named) with its parameters and presets."""
    chosen = [experiments.get(args.experiment)] if args.experiment else list(experiments.registry().values())
    if args.json:
        print(json_text([_experiment_json(exp) for exp in chosen], indent=1))
        return OK
    for exp in chosen:
        print(experiment_text(exp) + "\n")
    return OK


def _provenance_text(a: dict) -> list[str]:
    code = a.get("git_commit", "")
    code += " (uncommitted changes)" if code and a.get("git_dirty") else ""
    who = f"{a.get('user', '?')}@{a.get('host', '?')}" if "host" in a else ""
    return [
        f"{k:<13}{v}"
        for k, v in (
            ("command:", a.get("command", "")),
            ("code:", code),
            ("by:", who),
            ("cuda device:", a.get("cuda_device", "")),
        )
        if v
    ]


def cmd_info(args) -> int:
    """Header, provenance, datasets and summary of one run file."""
    run = read_run(args.file)
    h = run.header
    if args.json:
        keys = ("command", "git_commit", "git_dirty", "host", "user", "cuda_device", "writer")
        print(
            json_text(
                {
                    "path": h.path,
                    "experiment": h.experiment,
                    "status": h.display_status,
                    "created": h.created,
                    "finished": h.finished,
                    "device": h.device,
                    "seed": h.seed,
                    "params": h.params,
                    "summary": h.summary,
                    "error": h.error,
                    "diverged_step": h.diverged_step,
                    "versions": h.versions,
                    "provenance": {k: h.attrs[k] for k in keys if k in h.attrs},
                    "datasets": {
                        k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in sorted(run.arrays.items())
                    },
                },
                indent=1,
            )
        )
        return OK
    print(f"file:        {h.path}")
    print(f"experiment:  {h.experiment}")
    print(
        f"status:      {h.display_status}"
        + (f" (diverged at step {h.diverged_step})" if h.status == "diverged" else "")
    )
    print(f"created:     {h.created}   finished: {h.finished or '-'}")
    print(f"device:      {h.device}   seed: {h.seed}")
    for line in _provenance_text(h.attrs):
        print(line)
    print("parameters:  " + ", ".join(f"{k}={v}" for k, v in h.params.items()))
    print("datasets:")
    for path, arr in sorted(run.arrays.items()):
        print(f"  {path:<28} {str(arr.shape):<16} {arr.dtype}")
    print("summary:     " + json_text(h.summary))
    for key in sorted(k for k in h.attrs if k.endswith("conventions")):
        print(f"{key}: {h.attrs[key]}")
    if "note_heavy_tail" in h.attrs:
        print(f"warning:     {h.attrs['note_heavy_tail']}")
    if h.error:
        print("error:\n" + h.error)
    return OK


def cmd_repair(args) -> int:
    """Clear the open-for-write mark of a file whose writer died, then read its header."""
    from .runfile import read_header
    from .runrepair import RepairError, clear_open_flags

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

    if not args.download and not os.path.isdir(args.folder):
        print(
            f"error: {args.folder}: no such folder (pass --download NAME to fetch a data set into it)", file=sys.stderr
        )
        return BAD_INPUT
    if args.download:
        try:
            download(args.download, args.folder)
        except DataError as e:
            print(f"error: {e}", file=sys.stderr)
            return NOT_COMPLETED
    print("built-in     digits (1,797 8x8 images, 10 classes) and gaussian (synthetic mixture)")
    print(f"data folder  {args.folder}")
    for s in scan(args.folder):
        if s.found:
            print(
                f"  {s.name:<14} found    train {s.n_train:>7,}  test {s.n_test:>7,}  classes {s.num_classes:>3}  in {s.folder}"
            )
        else:
            print(f"  {s.name:<14} {s.state:<10} " + s.problem.replace("\n", "\n" + " " * 28))
    return OK


def cmd_sweep(args) -> int:
    """Run an experiment over a sweep space; a table of the runs goes to stderr, the sweep
    file's path is printed last. Exits 1 when any run did not complete."""
    from .sweep import Space, SweepError, make_backend, read_sweep, run_sweep

    exp = experiments.get(args.experiment)
    base = resolve_preset(exp.spec, exp.presets, args.preset, exp.spec.parse_sets(args.set or []))
    space = Space.parse(exp.spec, args.param, random=args.random, sample_seed=args.sample_seed)

    def report(entry, done, total):
        print(
            f"[{done}/{total}] {entry['status']}: " + ", ".join(f"{k}={v}" for k, v in entry["values"].items()),
            file=sys.stderr,
        )

    try:
        backend = make_backend(
            args.backend, jobs=args.jobs, address=args.address, num_cpus=args.cpus_per_run, num_gpus=args.gpus_per_run
        )
        path = run_sweep(
            args.experiment,
            base,
            space,
            args.out,
            preset=args.preset or "",
            seeds=args.seeds,
            backend=backend,
            resume=args.resume,
            on_run=report,
        )
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT
    sweep = read_sweep(path)
    print(run_table(sweep), file=sys.stderr)
    print(path)
    return OK if all(r["status"] == "completed" for r in sweep.runs) else NOT_COMPLETED


def run_table(sweep) -> str:
    """One line per run: index, status, the swept values (and seed), the node it ran on,
    and the error's last line where there is one; then the count of each status."""
    keys = sweep.swept + (["seed"] if sweep.seeds > 1 else [])
    rows = [["#", "status", *keys, "node", "note"]]
    for r in sweep.runs:
        note = r["error"].strip().splitlines()[-1][:60] if r["error"].strip() else ""
        rows.append(
            [
                str(r["index"]),
                sweep.run_status(r),
                *(f"{r['values'][k]:g}" if isinstance(r["values"][k], float) else str(r["values"][k]) for k in keys),
                r.get("node", "")[:12],
                note,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    counts: dict[str, int] = {}
    for r in sweep.runs:
        counts[sweep.run_status(r)] = counts.get(sweep.run_status(r), 0) + 1
    return "\n".join(lines + [f"sweep {sweep.display_status}: " + ", ".join(f"{n} {s}" for s, n in counts.items())])


def cmd_export(args) -> int:
    """A folder: one CSV row per run (parameters and summaries, :mod:`lab.tables`).
    A run file: that run's datasets."""
    if os.path.isdir(args.target):
        if args.what:
            print(f"error: {args.target} is a folder; --what names a dataset of one run file (.h5)", file=sys.stderr)
            return BAD_INPUT
        return _export_table(args)
    if os.path.isfile(args.target):
        return _export_run(args)
    print(f"error: {args.target}: no such folder or run file", file=sys.stderr)
    return BAD_INPUT


def _export_table(args) -> int:
    from .tables import runs_table, write_runs_csv

    rows = runs_table(args.target, args.experiment)
    if not rows:
        what = f" of experiment '{args.experiment}'" if args.experiment else ""
        print(f"error: {args.target}: no run files{what} in this folder", file=sys.stderr)
        return BAD_INPUT
    if args.output in (None, "-"):
        write_runs_csv(rows, sys.stdout)
    else:
        try:
            with open(args.output, "w", newline="") as f:
                write_runs_csv(rows, f)
        except OSError as e:
            print(f"error: {args.output}: cannot be written ({e.strerror or e})", file=sys.stderr)
            return BAD_INPUT
        print(args.output)
    print(f"{len(rows)} runs", file=sys.stderr)
    return OK


def _export_run(args) -> int:
    """One dataset of a run file to CSV/NPY (:mod:`lab.export`), or the list of them."""
    from .export import ExportError, export_names, write_export

    run = read_run(args.target)
    if not args.what:
        print("\n".join(export_names(run)))
        return OK
    if not args.output:
        print("error: --output FILE (.csv or .npy) is needed with --what", file=sys.stderr)
        return BAD_INPUT
    try:
        skipped = write_export(run, args.what, args.output)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT
    if skipped:
        print(f"left out (another row axis): {', '.join(skipped)}", file=sys.stderr)
    print(args.output)
    return OK


def name_value(text: str) -> str:
    """``--set``'s argument: ``NAME=VALUE``, else a usage error saying so."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"'{text}' gives no value; write NAME=VALUE, e.g. --set {text}=VALUE")
    return text


class _RunHelp(argparse.Action):
    """``run EXP --help``: the usage, then that experiment's parameters and presets."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        name = getattr(namespace, "experiment", None)
        if name:
            try:
                print("\n" + experiment_text(experiments.get(name)))
            except ParamError as e:
                parser.exit(BAD_INPUT, f"error: {e}\n")
        parser.exit()


def _complete(action: argparse.Action, completer) -> None:
    """Give ``action`` an argcomplete completer."""
    action.completer = completer  # type: ignore[attr-defined]  # argcomplete's attribute


def build_parser() -> argparse.ArgumentParser:
    from . import completion as c

    p = argparse.ArgumentParser(
        prog="noiselab",
        description="Noise Lab: experiments on noise in training. Without a command the window opens.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"noiselab {__version__}")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser(
        "run",
        help="run an experiment headless; prints the run file's path last",
        add_help=False,
        description="Run an experiment headless. 'run EXP --help' lists EXP's parameters and presets.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("-h", "--help", action=_RunHelp, help="this help; after EXP, EXP's parameters and presets")
    _complete(r.add_argument("experiment"), c.complete_experiments)
    _complete(
        r.add_argument("--preset", help="a named preset, built-in or the user's (see 'list EXP')"), c.complete_presets
    )
    r.add_argument(
        "--config",
        metavar="FILE.toml",
        help="parameters from a TOML file (names as for --set); applied after --preset, before --set",
    )
    _complete(
        r.add_argument(
            "--set", action="append", type=name_value, metavar="NAME=VALUE", help="override a parameter (repeatable)"
        ),
        c.complete_sets,
    )
    r.add_argument(
        "--save-config",
        metavar="FILE.toml",
        help="write the resolved parameters to FILE as a config file and exit without running",
    )
    r.add_argument("--out", default=None, help=f"folder for the run file (default {default_run_dir()})")
    r.set_defaults(func=cmd_run)
    ls = sub.add_parser("list", help="experiments, their parameters and presets")
    _complete(ls.add_argument("experiment", nargs="?"), c.complete_experiments)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)
    i = sub.add_parser("info", help="status, provenance, parameters, datasets and summary of a run file")
    i.add_argument("file")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_info)
    rp = sub.add_parser("repair", help="clear the open-for-write mark HDF5 left in a file whose writer died")
    rp.add_argument("file")
    rp.set_defaults(func=cmd_repair)
    d = sub.add_parser("data", help="which data sets a folder holds (counts), or the layout expected")
    d.add_argument("folder")
    d.add_argument(
        "--download",
        choices=("fashion-mnist", "cifar10", "cifar100", "svhn"),
        help="first download this data set into the folder through torchvision (needs a network)",
    )
    d.set_defaults(func=cmd_data)
    sw = sub.add_parser(
        "sweep", help="run an experiment over a sweep space (grid or random); prints the sweep file last"
    )
    _complete(sw.add_argument("experiment"), c.complete_experiments)
    sw.add_argument(
        "--param",
        action="append",
        required=True,
        metavar="NAME=v1,v2,...",
        help="values of a numeric or choice parameter: v1,v2,v3 or lin:lo:hi:n or log:lo:hi:n "
        "(repeat for a grid over several)",
    )
    sw.add_argument(
        "--random",
        type=int,
        default=0,
        metavar="N",
        help="draw N random points from the ranges instead of a grid (log-uniform for log:)",
    )
    sw.add_argument("--sample-seed", type=int, default=0, help="seed of the random points (default 0)")
    sw.add_argument("--seeds", type=int, default=1, metavar="K", help="repeat every point with K run seeds")
    sw.add_argument("--preset", help="a named preset for the values not swept")
    sw.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    sw.add_argument("--backend", default="local", help="where runs execute: local (default) or ray")
    sw.add_argument("--jobs", type=int, default=1, help="local backend: parallel processes (default 1)")
    sw.add_argument(
        "--address",
        default="",
        help="ray backend: the cluster (host:port, auto or ray://host:10001); "
        "none: the one 'ray start' runs on this machine, else a new "
        "local instance",
    )
    sw.add_argument("--cpus-per-run", type=float, default=None, help="ray backend: CPUs per run (default 1)")
    sw.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        help="ray backend: GPUs per run, fractions pack runs on one GPU (default 0)",
    )
    sw.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out: keep finished runs, rerun failed, cancelled and interrupted ones",
    )
    sw.add_argument("--out", required=True, help="a folder for sweep.json and the runs (empty unless --resume)")
    sw.set_defaults(func=cmd_sweep)
    fg = sub.add_parser("figure", help="a run's panel (or one plot of it) as a PNG, SVG or PDF figure, drawn offscreen")
    fg.add_argument("file", help="a run file (.h5)")
    fg.add_argument("-o", "--output", required=True, help="the figure: .png, .svg or .pdf")
    fg.add_argument("--panel", help="one plot of the panel by name (default: the whole panel)")
    fg.add_argument("--width-mm", type=float, default=180.0, help="width in millimetres (default 180)")
    fg.add_argument("--height-mm", type=float, default=None, help="height in millimetres (default: the panel's shape)")
    fg.add_argument("--dpi", type=float, default=300.0, help="pixels per inch of a PNG (default 300)")
    e = sub.add_parser(
        "export",
        help="a folder of runs as one CSV table (one row per run: parameters, "
        "summary), or one dataset of a run file to CSV or NPY",
    )
    e.add_argument("target", metavar="FOLDER|RUN.h5", help="a folder of run files (searched recursively) or a run file")
    e.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write: .csv (a folder's table: default standard output) or .csv/.npy (a run's dataset)",
    )
    _complete(e.add_argument("--experiment", help="a folder: only runs of this experiment"), c.complete_experiments)
    e.add_argument(
        "--what", help="a run file: the dataset's path (e.g. phase_map/phase) or 'series'; omitted: list them"
    )
    e.set_defaults(func=cmd_export)
    o = sub.add_parser("open", help="open the window on a run file")
    o.add_argument("file", nargs="?")
    return p


def window_files(argv: list[str]) -> tuple[int | None, list[str]]:
    """For ``open [FILE]``: ``(None, files)`` to open the window on, or ``(2, [])`` after
    a message on stderr when FILE is not a readable run (checked before any window)."""
    args = build_parser().parse_args(argv)
    if not args.file:
        return None, []
    try:
        read_header(args.file)
    except RunFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT, []
    return None, [args.file]


def main(argv=None) -> int:
    """Headless commands; returns the exit code (:data:`EXIT_CODES`)."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):  # no command, or 'open' / 'figure' (main.py hands those to the window's code)
        parser.print_help(sys.stderr)
        return BAD_INPUT
    try:
        return args.func(args)
    except (ParamError, RunFileError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
