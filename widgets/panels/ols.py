"""Panel for SGD on label-noisy least squares (SCIENCE.md §1).

Left: the two trajectories in the (β1, β2) plane — the noisy cloud (a density image once
large, with the most recent iterates as dots), the noiseless path, β*, β_hat (the
least-squares solution) and the 2σ ellipses of the exact stationary covariance M and of
the paper's approximation, both centred at β_hat. Right: distances |β − β_hat| and
|β − β*| against iteration on log axes, and a table of the cloud's empirical covariance
± its batch-means standard error (as the experiment measured it; no error bar when the
fourth-moment rate is ≥ 1) against both predictions.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lab.runfile import RunData

from ..plots import (
    BLUE,
    GREEN,
    ORANGE,
    SKY,
    VERMILLION,
    DensityCloud,
    add_legend,
    ellipse_points,
    log_indices,
    long_curve,
    make_plot,
    span_x,
)
from . import View

NOISY, CLEAN = VERMILLION, BLUE
NOISY_STAR, CLEAN_STAR = ORANGE, SKY  # distances to β*: lighter shades, dashed
EXACT, PAPER = (0, 0, 0), GREEN
#: the theory's covariances, drawn as ellipses around β_hat
THEORY = ("theory/cov_exact", "theory/cov_paper")
#: the noisy path is drawn through this many log-spaced iterates: its transient, not
#: lines across the cloud (the cloud itself is the scatter or density image)
NOISY_PATH_POINTS = 300
#: iterates per distance curve (log-spaced) per pixel of the plot's width: on the log
#: axis they fall about evenly, so more points only cost stroking (dashed pens most)
DIST_POINTS_PER_PX = 1.0


def empirical_se(run: RunData) -> np.ndarray | None:
    """The standard error of :func:`empirical_cov`, from the same place (None if absent)."""
    s = run.header.summary
    if "cov_empirical" in s:
        se = s.get("cov_empirical_se")
        return None if se is None else np.asarray(se, dtype=float).reshape(2, 2)
    stats = run.get("stats/cov_noisy_se")
    return np.asarray(stats[-1], float) if stats is not None and len(stats) else None


def empirical_cov(run: RunData) -> tuple[np.ndarray | None, str]:
    """The noisy cloud's covariance after burn-in as the experiment measured it: the
    summary's ``cov_empirical`` once the run has ended, else the last row of the running
    ``stats/cov_noisy`` (live). Returns ``(cov or None, note)``."""
    s = run.header.summary
    burn = s.get("burn_in_steps", run.header.attrs.get("burn_in_steps"))
    after = f" after a burn-in of {int(burn):,} steps" if burn is not None else " after burn-in"
    if "cov_empirical" in s:
        cov = np.asarray(s["cov_empirical"], float).reshape(2, 2)
        n = s.get("n_cov_samples")
        return cov, (f"{n:,} kept iterates" if n is not None else "kept iterates") + f"{after} (run summary)"
    stats = run.get("stats/cov_noisy")
    if stats is not None and len(stats):
        return np.asarray(stats[-1], float), f"running estimate{after}, as of step {int(run['stats/step'][-1]):,}"
    return None, "not measured yet: the run is still in its burn-in"


def divergence_text(run: RunData) -> str:
    """Why a diverged run diverged: its step, and gradient descent's stability bound
    ``lr λ_max(H) / 2`` (H = XᵀX/N, stable below 1) beside the mean-square rate of the
    noisy iteration (it has a stationary covariance only below 1)."""
    h = run.header
    if h.status != "diverged":
        return ""
    text = f"Diverged at step {h.diverged_step:,}."
    x = run.get("data/x")
    if x is not None and np.ndim(x) == 2 and len(x):
        lam = float(np.linalg.eigvalsh(x.T @ x / len(x)).max())
        bound = float(h.params.get("lr", np.nan)) * lam / 2
        text += f" Stability bound lr·λ_max(H)/2 = {bound:.4g} ({'>' if bound >= 1 else '<'} 1: " + (
            "plain gradient descent is unstable at this lr)"
            if bound >= 1
            else "gradient descent is stable; the mini-batch noise made it diverge)"
        )
    rate = h.summary.get("ms_rate")
    if isinstance(rate, float):
        text += f" Mean-square rate {rate:.4g} ({'≥' if rate >= 1 else '<'} 1)."
    return text


def _point(run: RunData, path: str) -> np.ndarray:
    a = run.get(path)
    return np.asarray(a, float).reshape(-1)[:2] if a is not None and np.size(a) >= 2 else np.full(2, np.nan)


def _entry(cov: np.ndarray, i: int, j: int) -> str:
    """``cov[i, j]`` to 4 digits; rounding error far below the matrix's scale shows as 0."""
    v = cov[i, j]
    return "0" if abs(v) < 1e-12 * np.abs(cov).max() else f"{v:.4g}"


def _fixed_arrays(run: RunData) -> tuple:
    """What identifies the arrays a run saves once (β*, β_hat, the theory): a new run or
    a new array is a new object."""
    return (id(run), *(id(run.get(k)) for k in ("data/beta_star", "data/beta_hat", *THEORY)))


def _set_marker(item: pg.ScatterPlotItem, p: np.ndarray) -> None:
    if np.isfinite(p).all():
        item.setData([p[0]], [p[1]])
    else:
        item.clear()


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        # -- trajectory plane
        self.traj = make_plot(
            "β<sub>1</sub>", "β<sub>2</sub>", title="Iterates in the (β<sub>1</sub>, β<sub>2</sub>) plane"
        )
        tp = self.traj.getPlotItem()
        tp.setAspectLocked(True)
        add_legend(tp, "top left")
        self.cloud = DensityCloud(tp, "noisy SGD", NOISY + (160,))
        self.noisy_path = tp.plot([], [], pen=pg.mkPen(NOISY + (90,), width=1))
        self.clean_path = tp.plot([], [], pen=pg.mkPen(CLEAN, width=2), name="noiseless SGD")
        self.ell_exact = tp.plot([], [], pen=pg.mkPen(EXACT, width=2.5), name="2σ exact M")
        self.ell_paper = tp.plot([], [], pen=pg.mkPen(PAPER, width=2, style=Qt.DashLine), name="2σ paper (lr σ²/2B)·I")
        self.star = pg.ScatterPlotItem(symbol="star", size=18, pen=pg.mkPen("k"), brush=pg.mkBrush("y"), name="β*")
        self.hat = pg.ScatterPlotItem(
            symbol="x", size=14, pen=pg.mkPen("k"), brush=pg.mkBrush("k"), name="β_hat (least squares)"
        )
        for item in (self.star, self.hat):
            item.setZValue(10)
            tp.addItem(item)
        fit_cloud, fit_all = QPushButton("Zoom to cloud"), QPushButton("Show all")
        fit_cloud.clicked.connect(self.zoom_to_cloud)
        fit_all.clicked.connect(lambda: tp.enableAutoRange())
        # -- distances against iteration
        self.dist = make_plot("iteration", "distance", log_x=True, log_y=True, title="Distance to β_hat and β*")
        dp = self.dist.getPlotItem()
        add_legend(dp, "bottom right")
        self.d_curves = {
            ("series/beta_noisy", "data/beta_hat"): long_curve(dp, "noisy, |β − β_hat|", NOISY),
            ("series/beta_noisy", "data/beta_star"): long_curve(dp, "noisy, |β − β*|", NOISY_STAR, style=Qt.DashLine),
            ("series/beta_clean", "data/beta_hat"): long_curve(dp, "noiseless, |β − β_hat|", CLEAN),
            ("series/beta_clean", "data/beta_star"): long_curve(
                dp, "noiseless, |β − β*|", CLEAN_STAR, style=Qt.DashLine
            ),
        }
        # -- covariance table
        self.table = QTableWidget(3, 3)
        self.table.setHorizontalHeaderLabels(["empirical", "exact M", "paper"])
        self.table.setVerticalHeaderLabels(["Cov₁₁", "Cov₁₂", "Cov₂₂"])
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setFixedHeight(self.table.verticalHeader().length() + self.table.horizontalHeader().height() + 6)
        self.cov_note = QLabel()
        self.cov_note.setWordWrap(True)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.traj, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(fit_cloud)
        buttons.addWidget(fit_all)
        ll.addLayout(buttons)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.dist, 1)
        rl.addWidget(QLabel("<b>Stationary covariance of the noisy iterates</b>"))
        rl.addWidget(self.table)
        rl.addWidget(self.cov_note)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self._run: RunData | None = None
        self._drawn_fixed: tuple = ()
        self._drawn_table: tuple = ()

    def plots(self) -> dict[str, pg.PlotItem]:
        return {"trajectory": self.traj.getPlotItem(), "distances": self.dist.getPlotItem()}

    # -- protocol ---------------------------------------------------------------------------
    def show_run(self, run: RunData) -> None:
        self._drawn_fixed = self._drawn_table = ()
        self.cloud.reset()
        self.traj.getPlotItem().enableAutoRange()
        span_x(self.dist.getPlotItem(), 1, float(run.header.params.get("steps", np.nan)))
        self.refresh(run)

    def refresh(self, run: RunData) -> None:
        for part in self.refresh_parts(run):
            part()

    def refresh_parts(self, run: RunData) -> list:
        """:meth:`refresh` as the parts a live window draws one event-loop turn each:
        the plane, then the distances and the table. Each draws what changed: the
        growing series always; the markers, ellipses and the table only when what they
        show changed (a live run redraws several times a second, and each setData costs
        its plot a new layout and paint)."""
        self._run = run
        steps, noisy, clean = run.series("series/step", "series/beta_noisy", "series/beta_clean")
        trajs = {"series/beta_noisy": noisy, "series/beta_clean": clean}
        return [lambda: self._refresh_plane(run, noisy, clean), lambda: self._refresh_rest(run, steps, trajs)]

    def _refresh_plane(self, run: RunData, noisy: np.ndarray, clean: np.ndarray) -> None:
        if noisy.ndim == 2:
            self.cloud.update(noisy)
            idx = log_indices(len(noisy), NOISY_PATH_POINTS)
            self.noisy_path.setData(noisy[idx, 0], noisy[idx, 1], connect="finite")
        if clean.ndim == 2:
            idx = log_indices(len(clean))
            self.clean_path.setData(clean[idx, 0], clean[idx, 1], connect="finite")
        fixed = _fixed_arrays(run)
        if fixed != self._drawn_fixed:
            self._drawn_fixed = fixed
            b_star, b_hat = _point(run, "data/beta_star"), _point(run, "data/beta_hat")
            _set_marker(self.star, b_star)
            _set_marker(self.hat, b_hat)
            for item, key in zip((self.ell_exact, self.ell_paper), THEORY):
                e = ellipse_points(b_hat, run.get(key, np.nan))
                item.setData(e[:, 0], e[:, 1])

    def _refresh_rest(self, run: RunData, steps: np.ndarray, trajs: dict) -> None:
        self._refresh_distances(run, steps, trajs)
        table = (_fixed_arrays(run), run.header.status, id(run.header.summary), len(run.get("stats/cov_noisy", ())))
        if table != self._drawn_table:
            self._drawn_table = table
            self._refresh_table(run)

    # -- parts ------------------------------------------------------------------------------
    def _refresh_distances(self, run: RunData, steps: np.ndarray, trajs: dict) -> None:
        """Distances at log-spaced iterates, :data:`DIST_POINTS_PER_PX` per pixel: even
        in iteration on the log axis, and O(width) per redraw however long the run."""
        first = int(np.searchsorted(steps, 0, side="right"))  # iteration 0 has no place on a log axis
        points = max(256, int(DIST_POINTS_PER_PX * self.dist.width()))
        idx = first + log_indices(len(steps) - first, points)
        x = steps[idx].astype(float)
        for (traj_path, ref_path), curve in self.d_curves.items():
            traj = trajs[traj_path]
            if traj.ndim != 2 or not len(idx):
                curve.clear()
                continue
            d = np.linalg.norm(traj[idx] - _point(run, ref_path), axis=1)
            curve.setData(x, np.where(d > 0, d, np.nan), connect="finite")  # an exact 0 has no logarithm

    def _refresh_table(self, run: RunData) -> None:
        emp, note = empirical_cov(run)
        se = empirical_se(run)
        cols = [emp, run.get("theory/cov_exact"), run.get("theory/cov_paper")]
        for c, cov in enumerate(cols):
            for r, (i, j) in enumerate(((0, 0), (0, 1), (1, 1))):
                ok = cov is not None and np.shape(cov) == (2, 2) and np.isfinite(cov[i][j])
                text = _entry(np.asarray(cov, float), i, j) if ok else "–"
                if ok and c == 0 and se is not None and np.isfinite(se[i, j]):
                    text += f" ± {se[i, j]:.2g}"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        heavy = run.header.attrs.get("note_heavy_tail")
        has_se = se is not None and np.isfinite(se).any()
        bar = f" No error bar: {heavy}." if heavy else (" ± one batch-means standard error." if has_se else "")
        why = divergence_text(run)
        self.cov_note.setText(f"Empirical: {note}.{bar}" + (f"<br><font color='#b00'>{why}</font>" if why else ""))
        for c, key in ((1, "note_cov_exact"), (2, "note_cov_paper")):
            self.table.horizontalHeaderItem(c).setToolTip(str(run.header.attrs.get(key, "")))

    def table_values(self) -> np.ndarray:
        """The covariance table as numbers (NaN where empty), rows Cov11, Cov12, Cov22."""
        out = np.full((3, 3), np.nan)
        for r in range(3):
            for c in range(3):
                item = self.table.item(r, c)
                if item is not None and item.text() != "–":
                    out[r, c] = float(item.text().split(" ± ")[0])
        return out

    def zoom_to_cloud(self) -> None:
        """Show β_hat ± 4 standard deviations of the exact M (or of the empirical cloud),
        widened to include β*."""
        if self._run is None:
            return
        b_hat = _point(self._run, "data/beta_hat")
        cov = self._run.get("theory/cov_exact")
        if cov is None or not np.isfinite(cov).all():
            cov, _ = empirical_cov(self._run)
        if cov is None or not np.isfinite(b_hat).all():
            return
        r = 4.0 * np.sqrt(np.max(np.linalg.eigvalsh(np.asarray(cov, float))))
        b_star = _point(self._run, "data/beta_star")
        if np.isfinite(b_star).all():
            r = max(r, 1.3 * float(np.abs(b_star - b_hat).max()))
        self.traj.getPlotItem().setRange(xRange=(b_hat[0] - r, b_hat[0] + r), yRange=(b_hat[1] - r, b_hat[1] + r))


VIEW = View(("ols",), Panel)
