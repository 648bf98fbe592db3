"""A progress bar with the run's rate and estimated time left."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from lab.progress import rate_eta_text


class ProgressWidget(QWidget):
    """``[======    ] 50%   1,234/s  ETA 00:12``; busy (no total) or idle."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.label = QLabel()
        self.label.setMinimumWidth(170)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.label)
        self.idle("")

    def set_progress(self, done: int, total: int, elapsed: float) -> None:
        if total <= 0:
            self.busy("starting…")
            return
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(1000 * min(done, total) / total))
        self.bar.setFormat(f"{100 * done / total:.1f}%")
        self.label.setText(rate_eta_text(done, total, elapsed))

    def busy(self, text: str) -> None:
        self.bar.setRange(0, 0)
        self.label.setText(text)

    def idle(self, text: str, fraction: float | None = None) -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(1000 * fraction) if fraction is not None else 0)
        self.bar.setFormat(f"{100 * fraction:.0f}%" if fraction is not None else "")
        self.label.setText(text)
