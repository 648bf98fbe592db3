"""Panels that draw their science right, and figures and data that leave the window:
filled bands, log ticks, portable SVG/PDF (checked against librsvg and poppler), figure
metadata, dataset export, compare over seeds, settings, drops, divergence."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from lab.compare import debiased_ema
from lab.experiments import elr
from lab.params import resolve_preset
from lab.runfile import read_run
from lab.runner import run_experiment
from widgets.compare_view import CompareView
from widgets.figure import run_metadata, write_figure
from widgets.panels import panel_class
from widgets.plots import Axis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = shutil.which("rsvg-convert") and shutil.which("pdftoppm")
MAP = dict(
    steps=300,
    n_samples=200,
    sigma_eps_min=1e-2,
    sigma_eps_max=1e3,
    n_sigma=8,
    y_param="lr",
    y_min=0.001,
    y_max=0.1,
    n_y=3,
    y_log=True,
)


@pytest.fixture(scope="module")
def elr_run(tmp_path_factory):
    v = resolve_preset(elr.SPEC, elr.PRESETS, "digits-elr-sym40", {"epochs": 3, "device": "cpu"})
    r = run_experiment("elr", v, out_dir=str(tmp_path_factory.mktemp("fig_elr")))
    assert r.status == "completed", r.error
    return r.path


def shown(qtbot, path, size=(900, 700)):
    run = read_run(path)
    panel = panel_class(run.header.experiment)()
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    panel.show_run(run)
    qtbot.waitExposed(panel)
    return panel, run


def test_every_elr_band_is_filled(qtbot, elr_run):
    """The stacked areas and the ±1 sd bands have non-empty fill paths, and each stacked
    band's top edge is the running sum of the stored fractions."""
    panel, run = shown(qtbot, elr_run)
    for name, stack in panel.stacks.items():
        assert len(stack.fills) == len(stack.keys)
        for fill in stack.fills:
            assert not fill.path().isEmpty() and fill.path().boundingRect().height() > 0, name
        total = sum(np.nan_to_num(run[f"series/{k}"]) for k in stack.keys)
        np.testing.assert_allclose(stack.tops[-1].getData()[1], total)
    for s, band in panel.band_fills.items():
        assert not band.path().isEmpty(), s
        lo, hi = (c.getData()[1] for c in panel.bands[s])
        key = "clean" if s == "clean" else "noisy"
        np.testing.assert_allclose(hi - lo, 2 * np.nan_to_num(run[f"series/{key}_coef_std"]), atol=1e-12)


def test_a_narrow_log_axis_gets_several_labelled_ticks():
    """A log axis over 3.1 .. 4.05 (under a decade) labels values inside it, not only "4"."""
    axis = Axis("left")
    axis.setLogMode(True)
    levels = axis.tickValues(np.log10(3.1), np.log10(4.05), 300)
    values = [v for _, vs in levels for v in vs]
    labels = [t for t in axis.tickStrings(values, 1.0, 0.1) if t]
    assert len(labels) >= 3
    assert all(3.1 <= float(t) <= 4.05 for t in labels)
    wide = axis.tickValues(-14, 1, 300)  # 15 decades: labels thinned, never a pile
    shown_labels = [t for t in axis.tickStrings([v for _, vs in wide for v in vs], 1.0, 1.0) if t]
    assert 3 <= len(shown_labels) <= 300 // 22 + 1


def _gray(path):
    img = QImage(str(path)).convertToFormat(QImage.Format_Grayscale8)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, : img.width()].astype(float)


def _mismatch(a, b):
    """Share of pixels of ``a`` that differ by more than a quarter of the grey range
    from every pixel of ``b`` within one pixel (a 1-px slack for glyph hinting)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    a, bp = a[:h, :w], np.pad(b[:h, :w], 1, mode="edge")
    best = np.min(
        [np.abs(a - bp[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0
    )
    return float((best > 64).mean())


@pytest.mark.skipif(
    not TOOLS, reason="needs rsvg-convert and pdftoppm (librsvg2-bin, poppler-utils; .ci/run installs them)"
)
def test_svg_and_pdf_render_like_the_png_in_other_renderers(qtbot, elr_run, tmp_path):
    """librsvg's rendering of the SVG and poppler's of the PDF match the PNG of the same
    figure: under 1% of pixels off by more than 64 grey levels with a 1-px slack. Text
    is hinted differently by each rasteriser (glyph edges, within the slack); a
    missing curve, a filled stroke blob, an unclipped curve or a lost legend sample
    moves whole lines of pixels. Unbaked non-scaling strokes gave 8% here, a lost clip 1.5%."""
    panel, run = shown(qtbot, elr_run, (680, 544))
    meta = run_metadata(run.header)
    for ext in ("png", "svg", "pdf"):
        write_figure(panel, str(tmp_path / f"f.{ext}"), width_mm=180, dpi=96, metadata=meta)
    svg = (tmp_path / "f.svg").read_text()
    assert "non-scaling-stroke" not in svg and "<clipPath" in svg
    subprocess.run(
        [
            "rsvg-convert",
            "-d",
            "96",
            "-p",
            "96",
            "-b",
            "white",
            str(tmp_path / "f.svg"),
            "-o",
            str(tmp_path / "rsvg.png"),
        ],
        check=True,
    )
    subprocess.run(
        ["pdftoppm", "-r", "96", "-png", "-singlefile", str(tmp_path / "f.pdf"), str(tmp_path / "pdf")], check=True
    )
    png = _gray(tmp_path / "f.png")
    assert png.shape == (544, 680)
    for other in ("rsvg.png", "pdf.png"):
        img = _gray(tmp_path / other)
        assert abs(img.shape[0] - png.shape[0]) <= 1 and abs(img.shape[1] - png.shape[1]) <= 1
        assert _mismatch(png, img) < 0.01, other
        assert _mismatch(img, png) < 0.01, other
    ink = (png < 128).mean()
    assert ink > 0.02  # the figure has content: the comparison is not of two blank pages


def test_figure_command_writes_a_pdf_with_the_run_in_its_metadata(elr_run, tmp_path):
    out = tmp_path / "elr.pdf"
    env = dict(os.environ, PYTHONPATH=ROOT, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "main.py"), "figure", elr_run, "-o", str(out), "--width-mm", "120"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and os.path.basename(elr_run).encode() in data  # title and XMP
    assert b"elr_lambda" in data  # the parameters, in the XMP description
    png = tmp_path / "coef.png"
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "main.py"),
            "figure",
            elr_run,
            "--panel",
            "coefficient",
            "-o",
            str(png),
            "--width-mm",
            "90",
            "--dpi",
            "200",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    img = QImage(str(png))
    assert img.width() == round(90 / 25.4 * 200)
    desc = json.loads(img.text("Description"))
    assert desc["run_file"] == os.path.basename(elr_run) and desc["params"]["method"] == "elr"
    r = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "main.py"),
            "figure",
            elr_run,
            "--panel",
            "nope",
            "-o",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 2 and "coefficient" in r.stderr and not (tmp_path / "x.png").exists()


def test_phase_map_csv_export_equals_the_dataset(tmp_path):
    from lab.cli import main

    res = run_experiment("nin-phase-map", MAP, out_dir=str(tmp_path))
    assert res.status == "completed"
    run = read_run(res.path)
    assert main(["export", res.path, "--what", "phase_map/phase", "-o", str(tmp_path / "pm.csv")]) == 0
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "pm.csv", delimiter=",", ndmin=2), run["phase_map/phase"])
    assert main(["export", res.path, "--what", "theory/sigma_eps2_cat", "-o", str(tmp_path / "t.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), run["theory/sigma_eps2_cat"])
    assert main(["export", res.path, "--what", "no/such", "-o", str(tmp_path / "n.csv")]) == 2
    assert main(["export", res.path, "--what", "phase_map/phase", "-o", str(tmp_path / "n.txt")]) == 2
    assert not (tmp_path / "n.csv").exists() and not (tmp_path / "n.txt").exists()
    assert main(["export", str(tmp_path), "--what", "series", "-o", str(tmp_path / "f.csv")]) == 2


def test_compare_of_three_seeds_draws_one_band_around_the_mean(qtbot, tmp_path):
    paths = [
        run_experiment("nin-toy", {"steps": 200, "seed": s, "sigma_eps": 0.3}, out_dir=str(tmp_path)).path
        for s in (1, 2, 3)
    ]
    view = CompareView(paths)
    qtbot.addWidget(view)
    view.series_box.setCurrentText("loss")
    assert len(view.bands) == 1 and len(view.curves) == 1
    ys = np.vstack([read_run(p)["series/loss"] for p in paths])
    np.testing.assert_allclose(view.curves[0].getData()[1], ys.mean(axis=0))
    assert view.legend_texts() == ["mean (mean ± sd, n = 3)"]
    assert not view.bands[0].path().isEmpty()
    view.group_box.setChecked(False)
    assert len(view.bands) == 0 and view.legend_texts() == ["seed=1", "seed=2", "seed=3"]
    view.smooth_box.setCurrentText("EMA 0.9")
    np.testing.assert_allclose(view.curves[0].getData()[1], debiased_ema(ys[0], 0.9))


def test_debiased_ema_starts_at_the_first_value_and_follows_a_constant():
    y = np.array([4.0, np.nan, 4.0, 4.0])
    np.testing.assert_allclose(debiased_ema(y, 0.9), [4.0, 4.0, 4.0, 4.0])
    m = debiased_ema(np.array([0.0, 1.0]), 0.5)  # m1 = 0, m2 = 0.5 / (1 - 0.25)
    np.testing.assert_allclose(m, [0.0, 0.5 / 0.75])


@pytest.fixture
def settings_path(tmp_path):
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    old = app.organizationName()
    app.setOrganizationName("noiselab-test")
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    yield tmp_path
    app.setOrganizationName(old)
    QSettings.setDefaultFormat(QSettings.NativeFormat)


def test_settings_survive_a_restart_of_the_window(qtbot, settings_path, boxes):
    from widgets.main_window import MainWindow

    folder = str(settings_path / "my-runs")
    os.makedirs(folder)
    w = MainWindow(run_dir=folder)
    qtbot.addWidget(w)
    w.show()
    w.resize(w.width(), w.height() - 37)  # the offscreen screen is 800 px wide: the window is at its least width
    size = (w.width(), w.height())
    tab = w.tab_of["nin-toy"]
    w.tabs.setCurrentWidget(tab)
    tab.apply_preset("catapult")
    tab.splitter.setSizes([350, 650])
    sizes = tab.splitter.sizes()
    w.close()
    w2 = MainWindow()
    qtbot.addWidget(w2)
    w2.show()
    assert w2.browser.folder == folder
    assert w2.current_tab() is w2.tab_of["nin-toy"]
    assert w2.tab_of["nin-toy"].preset_box.currentText() == "catapult"
    assert w2.tab_of["nin-toy"].form.values()["sigma_eps"] == tab.form.values()["sigma_eps"]
    assert w2.tab_of["nin-toy"].splitter.sizes()[0] == sizes[0]  # the controls' width as left
    assert (w2.width(), w2.height()) == size
    w2.close()


def test_a_dropped_run_file_opens_and_joins_the_recent_files(qtbot, settings_path, boxes, tmp_path):
    from widgets.main_window import MainWindow

    res = run_experiment("nin-toy", {"steps": 100}, out_dir=str(tmp_path))
    w = MainWindow(run_dir=str(tmp_path))
    qtbot.addWidget(w)
    w.show()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(res.path)])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    w.dropEvent(event)
    tab = w.tab_of["nin-toy"]
    assert w.current_tab() is tab and tab.current.path == res.path and tab.current.status == "completed"
    assert w.recent_files()[0] == res.path
    assert [a.text() for a in w.recent_menu.actions()] == [os.path.basename(res.path)]
    assert tab.progress.bar.value() == 1000  # a reopened completed run reads 100%
    w.close()


def test_an_empty_tab_shows_a_hint_instead_of_an_empty_panel(qtbot, boxes, tmp_path):
    from widgets.main_window import MainWindow

    w = MainWindow(run_dir=str(tmp_path))
    qtbot.addWidget(w)
    w.show()
    tab = w.current_tab()
    assert tab.hint.isVisible() and not tab.panel.isVisible()
    w.close()


def test_a_diverged_ols_run_says_where_and_why(qtbot, tmp_path):
    from widgets.panels.ols import divergence_text

    res = run_experiment("ols", {"steps": 5000, "stride": 1, "lr": 0.5}, out_dir=str(tmp_path))
    assert res.status == "diverged"
    run = read_run(res.path)
    x = run["data/x"]
    bound = 0.5 * np.linalg.eigvalsh(x.T @ x / len(x)).max() / 2
    text = divergence_text(run)
    assert f"step {run.header.diverged_step:,}" in text and f"{bound:.4g} (> 1" in text
    panel, _ = shown(qtbot, res.path)
    assert "Stability bound" in panel.cov_note.text()
