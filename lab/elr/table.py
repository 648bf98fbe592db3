"""The paper's Table 1 (test accuracy %, ResNet-34, mean +- sd over five noise
realisations) and the same layout filled from our runs' headers.

Rows: CE, ELR (multistep schedule), ELR* (ELR with cosine annealing, the paper's
starred row) and ELR+ (not in the paper's Table 1 for CIFAR: no paper number).
Columns: (noise type, rate) -- symmetric 20/40/60/80 %, asymmetric 10/20/30/40 %,
plus any other setting found among the runs. Ours is ``summary.test_acc_last`` of the
completed ``elr`` runs of that cell, mean and sample sd over runs (seeds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

ROWS = ("CE", "ELR", "ELR*", "ELR+")
SYM, ASYM = "symmetric", "asymmetric"
PAPER_COLUMNS = tuple((SYM, r) for r in (0.2, 0.4, 0.6, 0.8)) + tuple((ASYM, r) for r in (0.1, 0.2, 0.3, 0.4))

#: Table 1 of the paper: dataset -> row -> eight (mean, sd) in PAPER_COLUMNS order
PAPER_TABLE1 = {
    "cifar10": {
        "CE": (
            (86.98, 0.12),
            (81.88, 0.29),
            (74.14, 0.56),
            (53.82, 1.04),
            (90.69, 0.17),
            (88.59, 0.34),
            (86.14, 0.40),
            (80.11, 1.44),
        ),
        "ELR": (
            (91.16, 0.08),
            (89.15, 0.17),
            (86.12, 0.49),
            (73.86, 0.61),
            (93.27, 0.11),
            (93.52, 0.23),
            (91.89, 0.22),
            (90.12, 0.47),
        ),
        "ELR*": (
            (92.12, 0.35),
            (91.43, 0.21),
            (88.87, 0.24),
            (80.69, 0.57),
            (94.57, 0.23),
            (93.28, 0.19),
            (92.70, 0.41),
            (90.35, 0.38),
        ),
    },
    "cifar100": {
        "CE": (
            (58.72, 0.26),
            (48.20, 0.65),
            (37.41, 0.94),
            (18.10, 0.82),
            (66.54, 0.42),
            (59.20, 0.18),
            (51.40, 0.16),
            (42.74, 0.61),
        ),
        "ELR": (
            (74.21, 0.22),
            (68.28, 0.31),
            (59.28, 0.67),
            (29.78, 0.56),
            (74.20, 0.31),
            (74.03, 0.31),
            (73.71, 0.22),
            (73.26, 0.64),
        ),
        "ELR*": (
            (74.68, 0.31),
            (68.43, 0.42),
            (60.05, 0.78),
            (30.27, 0.86),
            (74.52, 0.32),
            (74.20, 0.25),
            (74.02, 0.33),
            (73.73, 0.34),
        ),
    },
}


def row_of(params: dict) -> str | None:
    """The Table 1 row a run belongs to, from its parameters."""
    method = params.get("method")
    if method == "ce":
        return "CE"
    if method == "elr":
        return "ELR*" if params.get("schedule") == "cosine" else "ELR"
    if method == "elr+":
        return "ELR+"
    return None


def column_of(params: dict) -> tuple[str, float] | None:
    kind = params.get("noise_type")
    if kind not in (SYM, ASYM):
        return None
    return kind, round(float(params.get("noise_rate", 0.0)), 4)


@dataclass
class Cell:
    paper: tuple[float, float] | None = None
    ours: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.ours)) if self.ours else float("nan")

    @property
    def sd(self) -> float:
        return float(np.std(self.ours, ddof=1)) if len(self.ours) > 1 else float("nan")

    def text(self) -> str:
        """``"89.15 +- 0.17 | ours 88.90 +- 0.30 (n=3)"``."""
        paper = f"{self.paper[0]:.2f} \u00b1 {self.paper[1]:.2f}" if self.paper else "\u2014"
        if not self.ours:
            return f"{paper} | ours \u2014"
        sd = f" \u00b1 {self.sd:.2f}" if len(self.ours) > 1 else ""
        return f"{paper} | ours {self.mean:.2f}{sd} (n={len(self.ours)})"


@dataclass
class Table:
    dataset: str
    rows: tuple[str, ...]
    columns: list[tuple[str, float]]
    cells: dict[tuple[str, tuple[str, float]], Cell]

    def column_label(self, col: tuple[str, float]) -> str:
        return f"{'sym' if col[0] == SYM else 'asym'} {100 * col[1]:g}%"


def table1(headers: Iterable[Any], dataset: str = "cifar10") -> Table:
    """Table 1's layout for ``dataset`` filled from the completed ``elr`` runs among
    ``headers`` (:class:`RunHeader`s); other runs are ignored."""
    paper = PAPER_TABLE1.get(dataset, {})
    cells: dict = {}
    for row in ROWS:
        for col, value in zip(PAPER_COLUMNS, paper.get(row, (None,) * len(PAPER_COLUMNS))):
            cells[(row, col)] = Cell(paper=value)
    columns = list(PAPER_COLUMNS)
    for h in headers:
        if h.experiment != "elr" or h.status != "completed" or h.params.get("dataset") != dataset:
            continue
        run_row, run_col = row_of(h.params), column_of(h.params)
        acc = h.summary.get("test_acc_last")
        if run_row is None or run_col is None or not isinstance(acc, (int, float)):
            continue
        if run_col not in columns:
            columns.append(run_col)
        cells.setdefault((run_row, run_col), Cell()).ours.append(100.0 * float(acc))
    columns.sort(key=lambda c: (c[0] != SYM, c[1]))
    for row in ROWS:
        for col in columns:
            cells.setdefault((row, col), Cell())
    return Table(dataset, ROWS, columns, cells)
