"""Panel for ``nin-phase-map``: the phase of the linear NIN model over (sigma_eps, y),
filled in block by block while the run goes on, with the paper's boundaries (and the
two-layer catapult limit) drawn on it. Clicking a cell opens that point's trajectory:
in the main window the ``nin-toy`` tab is filled with the cell's parameters and run.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab.nin.phase_map import toy_values
from lab.runfile import RunData
from lab.theory.nin import PHASES

from ..phase_map_view import PhaseMapView
from . import View

BOUNDARIES = (
    ("sigma_eps2_dec", "σ_dec (paper)"),
    ("sigma_eps2_cat", "σ_cat = min(2/B0, 2/B~0)"),
    ("sigma_eps2_div", "σ_div = max(2/B0, 2/B~0)"),
    ("sigma_eps2_div_uv", "4/(lr (w1² + w_NI²))"),
)
HOVER = ("loss_final", "loss_max", "wni_max", "decay_step", "blowup_step")
TRAJECTORY_EXPERIMENT = "nin-toy"


class Panel(QWidget):
    """Signal ``run_requested(experiment, values)``: run ``nin-toy`` with the parameters of
    a clicked cell (the window runs it in that experiment's tab)."""

    run_requested = Signal(str, dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = PhaseMapView()
        self.note = QLabel()
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.note)
        self.run: RunData | None = None
        self._axes_set = False
        self.view.cell_clicked.connect(self._on_cell)

    def plots(self) -> dict:
        return {"phase_map": self.view.item}

    def show_run(self, run: RunData) -> None:
        self._axes_set = False
        self.refresh(run)

    def _set_axes(self, run: RunData) -> bool:
        """Axes from the run; False while a live run has not stored them yet."""
        x, y = run["phase_map/sigma_eps"], run["phase_map/y"]
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return False
        p = run.header.params
        self.view.set_axes(
            x, y, "σ_ε (noise scale)", p.get("y_param", "y"), x_log=True, y_log=bool(p.get("y_log", False))
        )
        self.view.fit_view()
        return True

    def refresh(self, run: RunData) -> None:
        self.run = run
        if not self._axes_set:
            self._axes_set = self._set_axes(run)
            if not self._axes_set:
                return
        self.view.set_codes(
            run["phase_map/phase"], PHASES, {k: run[f"phase_map/{k}"] for k in HOVER if f"phase_map/{k}" in run}
        )
        y = run["phase_map/y"]
        for i, (key, label) in enumerate(BOUNDARIES):
            b = run.get(f"theory/{key}")
            if b is not None and np.isfinite(b).any():
                self.view.set_curve(label, np.sqrt(b), y, color=(0, 0, 0), style_index=i)
        rows = run.get("series/rows_done")
        done = int(rows[-1]) if rows is not None and len(rows) else 0
        self.note.setText(
            f"{done} of {len(y)} rows computed{self._block_text(run)} · boundaries are thresholds on σ_ε², "
            "drawn as σ_ε · phase rules: lab/nin/toy.py · click a cell to run its trajectory (nin-toy)"
        )

    @staticmethod
    def _block_text(run: RunData) -> str:
        """`` (4 more at step 3,000 of 200,000)`` while a block is trained (its partial results)."""
        steps, total = run.get("phase_map/steps_done"), run.header.params.get("steps", 0)
        partial = steps[(steps > 0) & (steps < total)] if steps is not None else ()
        return f" ({len(partial)} more at step {int(partial[0]):,} of {int(total):,})" if len(partial) else ""

    def cell_values(self, row: int, col: int) -> dict:
        """``nin-toy`` parameters of a cell of the shown run."""
        run = self.run
        return toy_values(run.header.params, float(run["phase_map/y"][row]), float(run["phase_map/sigma_eps"][col]))

    def _on_cell(self, row: int, col: int) -> None:
        if self.run is not None:
            self.run_requested.emit(TRAJECTORY_EXPERIMENT, self.cell_values(row, col))


VIEW = View(("nin-phase-map",), Panel)
