"""The Data dialog: table of data sets and a download that fails clearly offline."""

import os

import pytest
from PySide6.QtCore import QSettings

from lab.data import DataError
from tests.test_data_formats import make_cifar, make_fashion


@pytest.fixture
def dialog(qtbot, tmp_path):
    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "settings"))
    from widgets.data_dialog import DataDialog

    d = DataDialog()
    qtbot.addWidget(d)
    return d


def rows(d):
    return {
        d.table.item(r, 0).text(): [d.table.item(r, c).text() for c in range(d.table.columnCount())]
        for r in range(d.table.rowCount())
    }


def test_table_shows_found_missing_and_malformed(dialog, tmp_path):
    root = tmp_path / "data"
    make_cifar(str(root))
    d, _ = make_fashion(str(root), gz=False)
    (root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(b"junk")
    dialog.set_folder(str(root))
    t = rows(dialog)
    assert t["cifar10"][1:5] == ["found", "20", "3", "10"]
    assert t["digits"][1] == "built in"
    assert t["svhn"][1] == "missing" and t["fashion-mnist"][1] == "malformed"
    dialog.table.selectRow(list(t).index("svhn"))
    assert "train_32x32.mat" in dialog.details.toPlainText()
    assert dialog.download_button.isEnabled()
    dialog.table.selectRow(list(t).index("cifar10"))
    assert not dialog.download_button.isEnabled()


def test_download_failure_is_shown(dialog, tmp_path, qtbot, monkeypatch):
    import widgets.data_dialog as mod

    def offline(name, root):
        raise DataError(f"downloading {name} failed (URLError: no network)")

    shown = []
    monkeypatch.setattr(mod, "download", offline)
    monkeypatch.setattr(mod.QMessageBox, "warning", lambda *a: shown.append(a[2]))
    dialog.set_folder(str(tmp_path))
    dialog.table.selectRow(list(rows(dialog)).index("cifar100"))
    dialog.download_selected()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert "downloading cifar100 failed" in shown[0]
    assert "no network" in dialog.details.toPlainText()


def test_download_into_a_folder_that_cannot_be_made_is_shown(dialog, tmp_path, qtbot, monkeypatch):
    import widgets.data_dialog as mod

    def make_folder_only(name, root):  # what download does before torchvision is asked
        os.makedirs(root, exist_ok=True)

    shown = []
    monkeypatch.setattr(mod, "download", make_folder_only)
    monkeypatch.setattr(mod.QMessageBox, "warning", lambda *a: shown.append(a[2]))
    (tmp_path / "a-file").write_text("")
    dialog.set_folder(str(tmp_path / "a-file" / "data"))  # below a file: no folder can be made there
    dialog.table.selectRow(list(rows(dialog)).index("cifar100"))
    dialog.download_selected()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert "Not a directory" in shown[0]
    assert dialog._thread is None and dialog.download_button.isEnabled()


def test_enter_in_the_folder_field_rescans_instead_of_browsing(dialog, tmp_path, qtbot, monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QFileDialog

    browsed = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: browsed.append(a) or "")
    make_cifar(str(tmp_path / "data"))
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.folder.setFocus()
    dialog.folder.setText(str(tmp_path / "data"))
    qtbot.keyClick(dialog.folder, Qt.Key_Return)
    assert not browsed and dialog.isVisible()
    assert rows(dialog)["cifar10"][1] == "found"
