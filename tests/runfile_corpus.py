"""A corpus of crafted run files: truncated, bit-flipped, mistyped, incomplete, linked
to other files, virtual, external, FIFOs, bombs and huge JSON.

``python -m tests.runfile_corpus DIR`` writes it; :func:`make_corpus` returns
``{name: path}``. Every reader must answer each file within a bound with a message
(``tests/test_runfile_hostile.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np

from lab.runfile import HEADER, Dataset, RunWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _finished(path: str) -> str:
    w = RunWriter(
        path,
        experiment="ols",
        params={"seed": 1, "lr": 0.1},
        seed=1,
        device="cpu",
        layout=[
            Dataset("series/step", (), "i8"),
            Dataset("series/beta", (2,)),
            Dataset("theory/m", (2, 2), growable=False),
        ],
    )
    for k in range(300):
        w.append("series/step", np.array([k]))
        w.append("series/beta", np.array([[k, -k]], float))
    w.save("theory/m", np.eye(2))
    w.save("data/late", np.arange(50.0))
    w.attr("note", "a note")
    w.finish("completed", summary={"ms_rate": 0.5})
    return path


def _killed(path: str) -> str:
    """A run whose writer was killed after flushing (SWMR flags left set)."""
    code = (
        f"import os, numpy as np\nfrom tests.runfile_corpus import RunWriter, Dataset\n"
        f"w = RunWriter({path!r}, experiment='ols', params={{}}, seed=0, device='cpu', "
        "layout=[Dataset('series/step', (), 'i8')])\n"
        "w.append('series/step', np.arange(500).reshape(500)); w.flush(); os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False, env=dict(os.environ, PYTHONPATH=ROOT))
    return path


def _left_open(path: str) -> str:
    """A file whose writer died while not in SWMR mode (an older lifecycle, or h5py)."""
    code = (
        f"import h5py, os, numpy as np\nf = h5py.File({path!r}, 'w', libver='latest')\n"
        "f.attrs.update(format='noiselab-run', format_version=1, experiment='ols', status='running')\n"
        "f['x'] = np.arange(9); f.flush(); os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    return path


def _copy(src: str, dst: str, data: bytes | None = None) -> str:
    with open(src, "rb") as f:
        raw = f.read()
    with open(dst, "wb") as f:
        f.write(raw if data is None else data)
    return dst


def _edit(src: str, dst: str, fn) -> str:
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        fn(f)
    return dst


def _set_attrs(**values):
    """Root attributes set as given (None: deleted), and the header copy of the finished
    file removed, so readers meet them (a ``header`` in ``values`` is set after)."""

    def fn(f):
        f.attrs.pop(HEADER, None)
        for k, v in values.items():
            if v is None:
                del f.attrs[k]
            else:
                f.attrs[k] = v

    return fn


def make_corpus(folder: str) -> dict[str, str]:
    os.makedirs(folder, exist_ok=True)
    p = lambda name: os.path.join(folder, name)
    out: dict[str, str] = {}
    good, killed = _finished(p("good.h5")), _killed(p("killed.h5"))
    out["good"], out["killed"] = good, killed
    out["left-open"] = _left_open(p("left-open.h5"))
    with open(good, "rb") as f, open(killed, "rb") as g:
        raw, raw_k = f.read(), g.read()
    for frac in (0.02, 0.2, 0.5, 0.8, 0.97):
        out[f"truncated-{frac}"] = _copy(good, p(f"trunc-{frac}.h5"), raw[: int(len(raw) * frac)])
        out[f"truncated-killed-{frac}"] = _copy(killed, p(f"trunck-{frac}.h5"), raw_k[: int(len(raw_k) * frac)])
    rng = np.random.default_rng(0)
    for i, off in enumerate([9, 11, 20, 44] + sorted(rng.integers(48, len(raw), 10).tolist())):
        b = bytearray(raw)
        b[off] ^= 0xFF
        out[f"flip-{off}"] = _copy(good, p(f"flip-{i}.h5"), bytes(b))
    for i, off in enumerate(sorted(rng.integers(48, len(raw_k), 8).tolist())):
        b = bytearray(raw_k)
        b[off] ^= 0x5A
        out[f"flip-killed-{off}"] = _copy(killed, p(f"flipk-{i}.h5"), bytes(b))
    for name, attrs in {
        "format-int": {"format": 7},
        "version-text": {"format_version": "one"},
        "version-future": {"format_version": 99},
        "no-format": {"format": None},
        "seed-array": {"seed": np.arange(3)},
        "params-list": {"params": "[1, 2]"},
        "params-bad-json": {"params": "{'a': 1"},
        "summary-number": {"summary": "3"},
        "status-array": {"status": np.zeros(2)},
        "created-int": {"created": 5},
        "writer-odd": {"writer": ":::"},
        "summary-deep": {"summary": "[" * 100000 + "]" * 100000},
        "huge-json": {"params": json.dumps({"x": "a" * (20 * 2**20)})},
        "header-bad-json": {"header": "{not json"},
        "header-list": {"header": "[1, 2]"},
        "header-wrong-types": {"header": json.dumps({"format": "noiselab-run", "format_version": 1, "params": 3})},
        "header-int": {"header": 5},
        "header-huge": {"header": json.dumps({"x": "a" * (20 * 2**20)})},
    }.items():
        out[f"attr-{name}"] = _edit(good, p(f"attr-{name}.h5"), _set_attrs(**attrs))
    out["no-heartbeat"] = _edit(good, p("nohb.h5"), lambda f: f.__delitem__("heartbeat"))
    out["heartbeat-text"] = _edit(
        good, p("hbtext.h5"), lambda f: (f.__delitem__("heartbeat"), f.create_dataset("heartbeat", data=np.bytes_("x")))
    )
    out["no-series"] = _edit(good, p("noseries.h5"), lambda f: f.__delitem__("series"))
    # a finished file has no journal (it was replayed into attributes): these add a hostile one
    out["journal-garbage"] = _edit(
        good, p("jgarbage.h5"), lambda f: f.create_dataset("journal", data=np.frombuffer(os.urandom(200), np.uint8) | 1)
    )
    out["journal-bad-array"] = _edit(
        good,
        p("jbad.h5"),
        lambda f: f.create_dataset(
            "journal",
            data=np.frombuffer(
                b'{"k":"array","path":"x","dtype":"<f8","shape":[1000000000],"offset":0,"nbytes":8000000000}\n'.ljust(
                    120, b" "
                ),
                np.uint8,
            ),
        ),
    )
    out["journal-wrong-type"] = _edit(good, p("jtype.h5"), lambda f: f.create_dataset("journal", data=np.zeros(3)))
    out["journal-bomb"] = _edit(
        good,
        p("jbomb.h5"),
        lambda f: f.create_dataset("journal", shape=(2**32,), dtype="u1", chunks=(2**20,), compression="gzip"),
    )
    out["external-link"] = _edit(
        good, p("elink.h5"), lambda f: f.__setitem__("data/passwd", h5py.ExternalLink(good, "/"))
    )
    out["soft-cycle"] = _edit(good, p("soft.h5"), lambda f: f.__setitem__("series/loop", h5py.SoftLink("/series")))
    out["hard-cycle"] = _edit(good, p("hard.h5"), lambda f: f["series"].__setitem__("up", f["/"]))

    def virtual(f):
        lay = h5py.VirtualLayout(shape=(4,), dtype="u1")
        lay[:] = h5py.VirtualSource(good, "series/step", shape=(300,))[:4]
        f.create_virtual_dataset("data/virtual", lay)

    out["virtual"] = _edit(good, p("virtual.h5"), virtual)
    out["external-passwd"] = _edit(
        good,
        p("extpw.h5"),
        lambda f: f.create_dataset("data/passwd", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)]),
    )
    out["external-zero"] = _edit(
        good,
        p("extzero.h5"),
        lambda f: f.create_dataset("data/zero", shape=(2**33,), dtype="u1", external=[("/dev/zero", 0, 2**33)]),
    )
    fifo = p("fifo-target")
    os.mkfifo(fifo)
    out["external-fifo"] = _edit(
        good,
        p("extfifo.h5"),
        lambda f: f.create_dataset("data/fifo", shape=(16,), dtype="u1", external=[(fifo, 0, 16)]),
    )
    out["bomb"] = _edit(
        good,
        p("bomb.h5"),
        lambda f: f.create_dataset(
            "data/bomb", shape=(2**34,), dtype="u1", chunks=(2**22,), compression="gzip", fillvalue=1
        ),
    )
    out["vlen"] = _edit(
        good, p("vlen.h5"), lambda f: f.create_dataset("data/text", data=["a", "b"], dtype=h5py.string_dtype())
    )
    os.mkfifo(p("fifo.h5"))
    out["fifo"] = p("fifo.h5")
    os.symlink("self.h5", p("self.h5"))
    out["self-link"] = p("self.h5")
    os.symlink("nowhere.h5", p("dangling.h5"))
    out["dangling-link"] = p("dangling.h5")
    os.mkdir(p("folder.h5"))
    out["folder"] = p("folder.h5")
    out["empty"] = _copy(good, p("empty.h5"), b"")
    out["text"] = _copy(good, p("text.h5"), b"just some text, not HDF5\n" * 10)
    out["signature-only"] = _copy(good, p("sig.h5"), b"\x89HDF\r\n\x1a\n" + os.urandom(3000))
    with h5py.File(p("foreign.h5"), "w") as f:
        f["x"] = np.arange(3)
    out["foreign"] = p("foreign.h5")
    return out


if __name__ == "__main__":
    for name, path in make_corpus(sys.argv[1]).items():
        print(f"{name:<24} {path}")
