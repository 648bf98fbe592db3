"""The run library as a Qt model: :class:`RunTableModel` (one row per run, and one per
sweep folder that expands to its runs) and :class:`RunFilterProxy` (filter box,
experiment, status, collapsed sweeps).

Sorting is done by the model itself (:meth:`RunTableModel.sort`: Python keys sorted
once, sweeps kept together), not by the proxy: QSortFilterProxyModel's C++ sort calls
the Python ``data()`` twice per comparison, seconds for 10,000 rows. The proxy filters
from a set of accepted keys computed in one pass, so a keystroke costs one pass over the
records and no per-row Python call beyond a set lookup.
"""

from __future__ import annotations

import math
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont

from lab.library.query import parse
from lab.library.records import UNREADABLE, Record, changed_params, fmt_value, parse_tags

FIXED = ("name", "experiment", "status", "date", "duration", "parameters", "tags", "note")
NAME, EXPERIMENT, STATUS, DATE, DURATION, PARAMS, TAGS, NOTE = range(len(FIXED))
#: item roles as plain ints: a comparison with a PySide enum costs microseconds, which
#: ``data()`` (called several times per cell at every paint) would pay thousands of times
DISPLAY, EDIT, TOOLTIP, FONT, ALIGNMENT, FOREGROUND = (
    int(r.value)
    for r in (Qt.DisplayRole, Qt.EditRole, Qt.ToolTipRole, Qt.FontRole, Qt.TextAlignmentRole, Qt.ForegroundRole)
)
#: the model's role for a row's key: a run's relative path, or a sweep folder + "/"
KeyRole = int(Qt.UserRole.value) + 1
_ROLES = frozenset((DISPLAY, EDIT, TOOLTIP, FONT, ALIGNMENT, FOREGROUND, KeyRole))
_RIGHT = int((Qt.AlignRight | Qt.AlignVCenter).value)
GROUP_SUFFIX = "/"
#: new rows landing in more places than this are shown by one layout change instead
INSERT_BLOCKS = 32
#: the invisible root of the table (Qt's default parent of every row)
ROOT = QModelIndex()
_RED, _ORANGE, _GREY = QColor(176, 0, 0), QColor(190, 100, 0), QColor(110, 110, 110)
_BOLD = QFont()
_BOLD.setBold(True)


def local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def duration_text(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class RunTableModel(QAbstractTableModel):
    """Rows: runs (key: relative path) and sweep folders (key: folder + ``/``). Columns:
    :data:`FIXED`, then one numeric column per scalar summary value of the runs of
    ``experiment`` (every experiment's when it is ``""``).

    ``live``: relative path -> (experiment, status) of runs that a worker of this window
    writes; they are shown from that, and listed before their file exists.
    Signal ``annotated(rel, tags, note)`` when a tags or note cell is edited."""

    annotated = Signal(str, list, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: dict[str, Record] = {}
        self.live: dict[str, tuple[str, str]] = {}
        self.experiment = ""
        self.metrics: list[str] = []
        self.keys: list[str] = []  # row order
        self._row: dict[str, int] = {}  # key -> row
        self._groups: dict[str, list[str]] = {}
        self._placeholders: set[str] = set()  # live runs listed before their file is indexed
        self._text: dict[str, list] = {}  # key -> display texts of its row, made when first shown
        self.expanded: set[str] = set()  # sweep rows whose runs are shown
        #: called with the new contents in place, before views hear of them (the proxy
        #: computes its rows there, so that it filters once, not twice)
        self.before_publish = lambda: None
        self._sort = (DATE, Qt.DescendingOrder)
        self._sort_keys: dict[str, tuple] = {}  # rel -> its key for the sort column

    # -- contents ---------------------------------------------------------------------------
    def reset(self, records: list[Record]) -> None:
        """Show exactly ``records`` (a folder just opened)."""
        self.beginResetModel()
        self.records = {r.rel: r for r in records}
        self._placeholders.clear()
        self._rebuild()
        self.before_publish()
        self.endResetModel()

    def update(self, records: list[Record]) -> None:
        """New or changed runs: a changed run's row is updated in place; new runs re-sort
        the table (one layout change), new summary columns reset it."""
        new = [r for r in records if r.rel not in self._row]
        if not new:
            for r in records:
                self.records[r.rel] = r
                self._forget(r)
            if self._metric_keys() == self.metrics:
                self.before_publish()
                last = self.columnCount() - 1
                for r in records:
                    for key in (r.rel, r.group + GROUP_SUFFIX) if r.group else (r.rel,):
                        row = self._row[key]
                        self.dataChanged.emit(self.index(row, 0), self.index(row, last))
                return

        def add():
            for r in records:
                self.records[r.rel] = r
                self._placeholders.discard(r.rel)
                self._forget(r)

        known = set(self.metrics)
        if any(k not in known for r in records if self._counts(r) for k in r.scalars):
            self.beginResetModel()  # columns come
            add()
            self._rebuild()
            self.before_publish()
            self.endResetModel()
        else:
            self._insert(records, add)

    def _insert(self, records: list[Record], add) -> None:
        """Apply ``add()`` (records added or replaced, as for ``_relayout(full=False)``)
        as row insertions when the rows shown keep their order, as they do while a first
        scan, read newest first, puts each batch below the others: views and the proxy
        then take only the new rows (a layout change makes the proxy test every row).
        Otherwise, or when the new rows fall in more than :data:`INSERT_BLOCKS` places,
        one layout change."""
        old = self.keys
        add()
        keys = self._rebuild(full=False, assign=False)
        shown = set(old)
        blocks, start = [], None
        for i, k in enumerate(keys):
            if k not in shown and start is None:
                start = i
            elif k in shown and start is not None:
                blocks.append((start, i))
                start = None
        if start is not None:
            blocks.append((start, len(keys)))
        if len(blocks) > INSERT_BLOCKS or [k for k in keys if k in shown] != old:
            self._relayout(lambda: None, full=False, keys=keys)
            return
        self.before_publish()
        self.keys = list(old)
        for a, b in blocks:  # in order: each lands where the final order puts it
            self.beginInsertRows(ROOT, a, b - 1)
            self.keys[a:a] = keys[a:b]
            self.endInsertRows()
        self._set_keys(keys)
        last = self.columnCount() - 1
        for g in {r.group for r in records if r.group} & {k[:-1] for k in shown if self.is_group(k)}:
            row = self._row[g + GROUP_SUFFIX]  # a sweep's counts changed
            self.dataChanged.emit(self.index(row, 0), self.index(row, last))

    def _counts(self, r: Record) -> bool:
        """Whether ``r``'s summary values make columns (it is of the shown experiment)."""
        return not self.experiment or r.experiment == self.experiment

    def _forget(self, r: Record) -> None:
        """Drop what was computed from ``r``'s old record (texts, sort key)."""
        self._text.pop(r.rel, None)
        self._text.pop(r.group + GROUP_SUFFIX, None)
        self._sort_keys.pop(r.rel, None)

    def remove(self, rels: list[str]) -> None:
        gone = [rel for rel in rels if rel in self.records]
        if gone:
            self._relayout(lambda: [self.records.pop(rel) for rel in gone])

    def set_live(self, live: dict[str, tuple[str, str]]) -> None:
        if live == self.live:
            return

        def change():
            for rel in self._placeholders - set(live):
                self.records.pop(rel, None)
                self._placeholders.discard(rel)
            self.live = dict(live)

        self._relayout(change)

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        self._relayout(lambda: setattr(self, "_sort", (column, order)))

    def _relayout(self, change, full: bool = True, keys: list[str] | None = None) -> None:
        """Apply ``change()`` and re-sort as one layout change; selections and other
        persistent indexes follow their rows (or vanish with them). ``full=False``:
        ``change`` only added or replaced records (and forgot what it replaced), so the
        texts and sort keys of the others still hold. ``keys``: the new order, already
        computed for the records as they are."""
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_keys = [self.keys[i.row()] for i in old]
        change()
        if keys is None:
            self._rebuild(full)
        else:
            self._set_keys(keys)
        self.changePersistentIndexList(
            old,
            [self.index(self._row[k], i.column()) if k in self._row else QModelIndex() for i, k in zip(old, old_keys)],
        )
        self.before_publish()
        self.layoutChanged.emit()

    def set_experiment(self, experiment: str) -> None:
        """Summary columns for ``experiment``'s runs (``""``: every experiment's)."""
        self.beginResetModel()
        self.experiment = experiment
        self._rebuild()
        self.before_publish()
        self.endResetModel()

    def _metric_keys(self) -> list[str]:
        """The summary columns: scalar summary keys of the shown experiment's runs, in
        order of first appearance."""
        keys: dict[str, None] = {}
        runs = self.records.values()
        if self.experiment:  # a test per run only where there is something to test
            runs = [r for r in runs if self._counts(r)]
        for names in dict.fromkeys(tuple(r.scalars) for r in runs):
            keys.update(dict.fromkeys(names))
        return list(keys)

    def toggle(self, key: str) -> None:
        """Expand or collapse the sweep row ``key``."""
        self.expanded ^= {key}
        row = self._row.get(key, -1)
        if row >= 0:
            self._text.pop(key, None)
            self.dataChanged.emit(self.index(row, NAME), self.index(row, NAME))

    def _rebuild(self, full: bool = True, assign: bool = True) -> list[str]:
        """Groups, columns and the sorted row order (callers announce the change);
        see :meth:`_relayout` for ``full``. Returns the order; ``assign=False`` leaves
        the rows as they are (the caller inserts the new ones)."""
        if full:
            self._text.clear()
            self._sort_keys.clear()
            self.metrics = self._metric_keys()
        for rel, (experiment, _status) in self.live.items():
            if rel not in self.records:
                self.records[rel] = Record(rel, 0, 0, experiment, "running")
                self._placeholders.add(rel)
        groups: dict[str, list[str]] = {}
        for rel, r in self.records.items():
            if r.group:
                groups.setdefault(r.group, []).append(rel)
        self._groups = groups
        keys = self._order()
        if assign:
            self._set_keys(keys)
        return keys

    def _set_keys(self, keys: list[str]) -> None:
        self.keys = keys
        self._row = {k: i for i, k in enumerate(keys)}

    def _order(self) -> list[str]:
        """The keys of every row in display order (sweeps followed by their runs)."""
        column, order = self._sort
        rev = order == Qt.DescendingOrder
        cache = self._sort_keys
        key = self._key_function(column)
        for rel, r in self.records.items():
            if rel not in cache:
                cache[rel] = key(r)
        own = dict(cache)
        for g, rels in self._groups.items():
            ks = [own[rel] for rel in rels]
            own[g + GROUP_SUFFIX] = max(ks) if rev else min(ks)  # a sweep sorts by its first run
        tops = sorted(
            [rel for rel, r in self.records.items() if not r.group] + [g + GROUP_SUFFIX for g in self._groups],
            key=own.__getitem__,
            reverse=rev,
        )
        keys = []
        for k in tops:
            keys.append(k)
            if k.endswith(GROUP_SUFFIX):
                keys += sorted(self._groups[k[:-1]], key=own.__getitem__, reverse=rev)
        return keys

    def _key_function(self, column: int):
        """A run's sort key for ``column``: (missing-last flag, value), numbers as numbers,
        text as lower-case text. The name and date columns, the usual sorts, skip the
        general cell lookup (10,000 rows are sorted at every change)."""
        if column in (NAME, DATE):
            attr = "name" if column == NAME else "created"

            def text(r: Record) -> tuple:
                v = getattr(r, attr)
                return (v == "", 0.0, v.lower())

            return text

        def key(r: Record) -> tuple:
            v = self._value(r, column)
            if isinstance(v, float):
                return (math.isnan(v), 0.0 if math.isnan(v) else v, "")
            return (v == "", 0.0, str(v).lower())

        return key

    # -- cells ------------------------------------------------------------------------------
    def record(self, key: str) -> Record | None:
        return self.records.get(key)

    def is_group(self, key: str) -> bool:
        return key.endswith(GROUP_SUFFIX)

    def group_runs(self, key: str) -> list[str]:
        return list(self._groups.get(key[:-1], ())) if self.is_group(key) else [key]

    def status(self, r: Record) -> str:
        if r.rel in self.live:
            return f"{self.live[r.rel][1]} (this window)"
        return r.display_status

    def _value(self, r: Record, column: int):
        """A run's cell: float for numeric columns, else text."""
        if column == NAME:
            return r.name
        if column == EXPERIMENT:
            return r.experiment
        if column == STATUS:
            return self.status(r)
        if column == DATE:
            return r.created
        if column == DURATION:
            return r.duration_s()
        if column == PARAMS:
            return ", ".join(f"{k}={fmt_value(v)}" for k, v in changed_params(r).items())
        if column == TAGS:
            return ", ".join(r.tags)
        if column == NOTE:
            return r.note
        return r.scalars.get(self.metrics[column - len(FIXED)], math.nan)

    def _group_text(self, key: str, column: int) -> str:
        runs = [self.records[rel] for rel in self._groups.get(key[:-1], ())]
        if column == NAME:
            return ("\u25be " if key in self.expanded else "\u25b8 ") + f"{key} ({len(runs)} runs)"
        if column == EXPERIMENT:
            return ", ".join(sorted({r.experiment for r in runs if r.experiment}))
        if column == STATUS:
            counts: dict[str, int] = {}
            for r in runs:
                s = UNREADABLE if r.status == UNREADABLE else self.status(r)
                counts[s] = counts.get(s, 0) + 1
            return ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        if column == DATE:  # its start; sorted newest first, its newest run (where it sorts)
            newest_first = self._sort == (DATE, Qt.DescendingOrder)
            return local_time((max if newest_first else min)((r.created for r in runs if r.created), default=""))
        return ""

    def cells(self, key: str) -> list[str]:
        """Every cell of a row as shown."""
        return [self.data(self.index(self._row[key], c)) for c in range(self.columnCount())]

    def row_of(self, key: str) -> int:
        return self._row.get(key, -1)

    # -- QAbstractTableModel ----------------------------------------------------------------
    def rowCount(self, parent=ROOT) -> int:
        return 0 if parent.isValid() else len(self.keys)

    def columnCount(self, parent=ROOT) -> int:
        return 0 if parent.isValid() else len(FIXED) + len(self.metrics)

    def headerData(self, section, orientation, role=DISPLAY):
        if (role != DISPLAY and role != TOOLTIP) or orientation != Qt.Horizontal:
            return None
        if section < len(FIXED):
            return FIXED[section].capitalize()
        name = self.metrics[section - len(FIXED)]
        return name if role == DISPLAY else f"summary value {name} (numeric)"

    def flags(self, index):
        f = super().flags(index)
        key = self.keys[index.row()]
        if index.column() in (TAGS, NOTE) and not self.is_group(key) and self.records[key].status != UNREADABLE:
            f |= Qt.ItemIsEditable
        return f

    def data(self, index, role=DISPLAY):
        if role not in _ROLES or not index.isValid():
            return None
        key, column = self.keys[index.row()], index.column()
        if role == DISPLAY:
            texts = self._text.get(key)
            if texts is None:
                texts = self._text[key] = [self._display(key, c) for c in range(self.columnCount())]
            return texts[column]
        if role == KeyRole:
            return key
        group = self.is_group(key)
        if role == EDIT or role == TOOLTIP:
            if group:
                return self._group_text(key, column) if role != EDIT else None
            r = self.records[key]
            v = self._value(r, column)
            if role == TOOLTIP:
                return (
                    r.rel
                    if column == NAME
                    else (r.error or self.status(r))
                    if column == STATUS
                    else (str(v) if v not in ("", None) and not isinstance(v, float) else None)
                )
            return v if column in (TAGS, NOTE) else None
        if role == ALIGNMENT:
            return _RIGHT if column >= len(FIXED) or column == DURATION else None
        if role == FOREGROUND and column == STATUS and not group:
            s = self.records[key].display_status
            return (
                _RED
                if s.startswith(UNREADABLE) or s == "failed"
                else _ORANGE
                if s in ("interrupted", "diverged")
                else _GREY
                if s == "cancelled"
                else None
            )
        if role == FONT and group:
            return _BOLD
        return None

    def _display(self, key: str, column: int) -> str:
        if self.is_group(key):
            return self._group_text(key, column)
        v = self._value(self.records[key], column)
        if column == DATE:
            return local_time(v)
        if column == DURATION:
            return duration_text(v)
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}"
        return v

    def setData(self, index, value, role=EDIT):
        if role != EDIT or not (self.flags(index) & Qt.ItemIsEditable):
            return False
        r = self.records[self.keys[index.row()]]
        if index.column() == TAGS:
            self.annotated.emit(r.rel, parse_tags(value), r.note)
        else:
            self.annotated.emit(r.rel, list(r.tags), str(value))
        return True


class RunFilterProxy(QSortFilterProxyModel):
    """Rows whose run passes the filter expression, experiment and status; a sweep's
    runs only while it is expanded (or while a filter expression or status is set: then
    every match)."""

    def __init__(self, model: RunTableModel, parent=None):
        super().__init__(parent)
        self.setSourceModel(model)
        self.model_ = model
        self.expression = ""
        self.experiment = ""
        self.status = ""
        self._test = parse("")
        self._accepted: set[str] = set()
        self._match: dict[str, tuple] = {}  # rel -> (record, live?, passes): tested once per record
        model.before_publish = self._update_accepted

    def set_filter(self, expression: str) -> None:
        """Raises :class:`lab.library.query.FilterError` for a bad expression (the
        filter in force stays)."""
        self._test = parse(expression)
        self.expression = expression.strip()
        self._match.clear()
        self.recompute()

    def set_experiment(self, experiment: str) -> None:
        self.experiment = experiment
        self._match.clear()
        self.recompute()

    def set_status(self, status: str) -> None:
        self.status = status
        self._match.clear()
        self.recompute()

    def toggle(self, group_key: str) -> None:
        self.model_.toggle(group_key)
        self.recompute()

    def _passes(self, r: Record) -> bool:
        return (
            (not self.experiment or r.experiment == self.experiment)
            and (not self.status or self.model_.status(r).startswith(self.status))
            and self._test(r)
        )

    def _cached_test(self, r: Record, live: bool) -> bool:
        hit = self._match.get(r.rel)
        if hit is None or hit[0] is not r or hit[1] != live:
            hit = self._match[r.rel] = (r, live, self._passes(r))
        return hit[2]

    def recompute(self) -> None:
        """Filter again (the filter changed)."""
        self.beginFilterChange()
        self._update_accepted()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _update_accepted(self) -> None:
        """The keys shown; only records new since the last call are tested."""
        m = self.model_
        if self.expression or self.experiment or self.status:
            matched = [r for rel, r in m.records.items() if self._cached_test(r, rel in m.live)]
        else:  # nothing to test: every run
            self._match.clear()
            matched = list(m.records.values())
        filtering = bool(self.expression or self.status)
        shown = {r.rel for r in matched if not r.group or filtering or r.group + GROUP_SUFFIX in m.expanded}
        shown |= {r.group + GROUP_SUFFIX for r in matched if r.group}
        self._accepted = shown

    def filterAcceptsRow(self, source_row, source_parent) -> bool:
        keys = self.model_.keys
        return source_row < len(keys) and keys[source_row] in self._accepted

    def sort(self, column, order=Qt.AscendingOrder) -> None:
        """Sorted by the model (see the module docstring); the proxy keeps its order."""
        self.model_.sort(column, order)

    def key(self, proxy_row: int) -> str:
        return self.data(self.index(proxy_row, 0), KeyRole)

    def runs(self) -> int:
        return sum(1 for k in self._accepted if not k.endswith(GROUP_SUFFIX))
