"""Make Qt's SVG portable: strokes in device units without ``vector-effect``.

Qt's SVG generator writes each item under its data-to-device ``transform`` and marks
cosmetic pens with ``vector-effect="non-scaling-stroke"``. librsvg ignores that
attribute, so a 2-pixel line under a transform that scales y by 10^4 becomes a filled
blob. :func:`bake_strokes` applies such a group's affine matrix ``(a b c d e f)`` to the
coordinates themselves, ``(x, y) -> (a x + c y + e, b x + d y + f)``, for paths,
polylines, polygons, lines, rectangles and axis-aligned circles and ellipses, and drops
the transform and the attribute: every renderer then strokes the same device-unit
width. Elements it cannot rewrite (images, text) keep the matrix on themselves.
Qt's clip paths (``<clipPath>``, written in device coordinates) are left as they are.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")

_MATRIX = re.compile(r"matrix\(([^)]*)\)")
_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: path commands whose arguments are all absolute (x, y) pairs
_PAIRS = set("MLCQST")
_NONSCALING = "non-scaling-stroke"


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _matrix(text: str) -> tuple[float, ...] | None:
    m = _MATRIX.fullmatch(text.strip())
    if not m:
        return None
    values = tuple(float(v) for v in re.split(r"[\s,]+", m.group(1).strip()))
    return values if len(values) == 6 else None


def _num(v: float) -> str:
    return f"{v:.6g}"


class _Unbakeable(Exception):
    """A coordinate form this module does not rewrite (relative path commands, say)."""


def _map(m, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _bake_path(d: str, m) -> str:
    out, tokens, i, cmd = [], _TOKEN.findall(d), 0, ""
    while i < len(tokens):
        t = tokens[i]
        if t.isalpha():
            cmd = t
            if cmd not in _PAIRS and cmd not in "Zz":
                raise _Unbakeable(cmd)
            out.append(cmd)
            i += 1
            continue
        if cmd not in _PAIRS:
            raise _Unbakeable(cmd or "number before any command")
        x, y = _map(m, float(tokens[i]), float(tokens[i + 1]))
        out.append(f"{_num(x)},{_num(y)}")
        i += 2
    return " ".join(out)


def _bake_points(points: str, m) -> str:
    v = [float(t) for t in _TOKEN.findall(points)]
    return " ".join("{},{}".format(*map(_num, _map(m, x, y))) for x, y in zip(v[0::2], v[1::2]))


def _bake(el: ET.Element, m) -> bool:
    """Rewrite ``el``'s coordinates through ``m`` in place; False if it cannot be."""
    tag, g = _tag(el), el.get
    try:
        if el.get("transform"):
            return False
        if tag == "path":
            el.set("d", _bake_path(g("d", ""), m))
        elif tag in ("polyline", "polygon"):
            el.set("points", _bake_points(g("points", ""), m))
        elif tag == "line":
            x1, y1 = _map(m, float(g("x1", 0)), float(g("y1", 0)))
            x2, y2 = _map(m, float(g("x2", 0)), float(g("y2", 0)))
            for k, v in zip(("x1", "y1", "x2", "y2"), (x1, y1, x2, y2)):
                el.set(k, _num(v))
        elif tag == "rect":
            x, y, w, h = (float(g(k, 0)) for k in ("x", "y", "width", "height"))
            corners = [_map(m, *p) for p in ((x, y), (x + w, y), (x + w, y + h), (x, y + h))]
            for k in ("x", "y", "width", "height", "rx", "ry"):
                el.attrib.pop(k, None)
            el.tag = f"{{{SVG_NS}}}path"
            el.set("d", "M" + " L".join(f"{_num(px)},{_num(py)}" for px, py in corners) + " Z")
        elif tag in ("circle", "ellipse") and m[1] == 0 and m[2] == 0:
            cx, cy = _map(m, float(g("cx", 0)), float(g("cy", 0)))
            rx, ry = (float(g("r", 0)),) * 2 if tag == "circle" else (float(g("rx", 0)), float(g("ry", 0)))
            for k in ("r", "rx", "ry"):
                el.attrib.pop(k, None)
            el.tag = f"{{{SVG_NS}}}ellipse"
            for k, v in (("cx", cx), ("cy", cy), ("rx", abs(m[0]) * rx), ("ry", abs(m[3]) * ry)):
                el.set(k, _num(v))
        else:
            return False
    except (_Unbakeable, ValueError, IndexError):
        return False
    if el.get("vector-effect") == _NONSCALING:
        del el.attrib["vector-effect"]
    return True


def bake_strokes(svg: bytes) -> bytes:
    """Qt's SVG ``svg`` with every scaled group's transform applied to its elements'
    coordinates (see the module docstring); the rest is unchanged."""
    root = ET.fromstring(svg)
    for group in root.iter(f"{{{SVG_NS}}}g"):
        m = _matrix(group.get("transform", ""))
        if m is None:
            continue
        del group.attrib["transform"]
        for el in list(group):
            if _tag(el) == "path" and not el.get("d", "").strip():
                group.remove(el)  # an empty curve: nothing to draw, and QtSvg warns about it
                continue
            if not _bake(el, m):
                own = el.get("transform", "")
                el.set("transform", f"matrix({','.join(_num(v) for v in m)}) {own}".strip())
    for el in root.iter():
        if el.get("vector-effect") == _NONSCALING and el.get("transform") is None:
            del el.attrib["vector-effect"]  # device units already: the attribute changes nothing
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
