"""The Data dialog: table of data sets and a download that fails clearly offline."""
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
    return {d.table.item(r, 0).text(): [d.table.item(r, c).text() for c in range(d.table.columnCount())]
            for r in range(d.table.rowCount())}


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
