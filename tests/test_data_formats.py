"""The folder readers on tiny files written in the real on-disk formats."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import scipy.io

from lab.cli import main as cli_main
from lab.data import DataError, read_folder, scan
from lab.data.folders import CACHE_NAME


def write_idx(path, array, gz):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    with gzip.open(path + ".gz", "wb") if gz else open(path, "wb") as f:
        f.write(raw)


def make_fashion(root, n_train=12, n_test=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    d = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(d, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte"), x, gz)
        write_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte"), y, gz)
        arrays[prefix] = (x, y)
    return d, arrays


def make_cifar(root, hundred=False, per_batch=4, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    c = 100 if hundred else 10
    d = os.path.join(root, "cifar-100-python" if hundred else "cifar-10-batches-py")
    os.makedirs(d, exist_ok=True)
    key = "fine_labels" if hundred else "labels"

    def dump(name, n):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = rng.integers(0, c, n).tolist()
        with open(os.path.join(d, name), "wb") as f:
            batch = {"data": x, key: y, "batch_label": name}
            if hundred:
                batch["coarse_labels"] = [0] * n
            pickle.dump(batch, f)
        return x, np.asarray(y)

    if hundred:
        train = [dump("train", 5 * per_batch)]
        with open(os.path.join(d, "meta"), "wb") as f:
            pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []}, f)
    else:
        train = [dump(f"data_batch_{i}", per_batch) for i in range(1, 6)]
        with open(os.path.join(d, "batches.meta"), "wb") as f:
            pickle.dump({"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": per_batch}, f)
    test = dump("test" if hundred else "test_batch", n_test)
    return d, train, test


def make_svhn(root, n_train=7, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    d = os.path.join(root, "svhn")
    os.makedirs(d, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # 1..10, 10 stands for the digit 0
        scipy.io.savemat(os.path.join(d, f"{split}_32x32.mat"), {"X": x, "y": y})
        out[split] = (x, y)
    return d, out


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_round_trip(tmp_path, gz):
    _, arrays = make_fashion(str(tmp_path), gz=gz)
    s = read_folder("fashion-mnist", str(tmp_path))
    assert s.x_train.shape == (12, 1, 28, 28) and s.x_test.shape == (5, 1, 28, 28)
    assert s.x_train.dtype == np.uint8
    np.testing.assert_array_equal(s.x_train[:, 0], arrays["train"][0])
    np.testing.assert_array_equal(s.y_test, arrays["t10k"][1])
    assert s.num_classes == 10


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickle_round_trip(tmp_path, hundred):
    _, train, test = make_cifar(str(tmp_path), hundred=hundred)
    s = read_folder("cifar100" if hundred else "cifar10", str(tmp_path))
    assert s.x_train.shape == (20, 3, 32, 32) and s.x_test.shape == (3, 3, 32, 32)
    x_all = np.concatenate([t[0] for t in train])
    np.testing.assert_array_equal(s.x_train.reshape(20, -1), x_all)
    # channel-major rows: the first 1024 bytes are the red plane of the first image
    np.testing.assert_array_equal(s.x_train[0, 0].ravel(), x_all[0, :1024])
    np.testing.assert_array_equal(s.y_train, np.concatenate([t[1] for t in train]))
    np.testing.assert_array_equal(s.y_test, test[1])
    assert s.num_classes == (100 if hundred else 10)


def test_svhn_mat_round_trip(tmp_path):
    _, arrays = make_svhn(str(tmp_path))
    s = read_folder("svhn", str(tmp_path))
    x, y = arrays["train"]
    assert s.x_train.shape == (7, 3, 32, 32) and s.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(s.x_train[2, 1], x[:, :, 1, 2])  # (H, W, C, N) -> (N, C, H, W)
    np.testing.assert_array_equal(s.y_train, y.ravel() % 10)
    assert s.y_train.min() >= 0 and s.y_train.max() <= 9


def test_cache_is_used_and_invalidated_when_a_source_changes(tmp_path):
    d, _ = make_fashion(str(tmp_path), gz=False)
    first = read_folder("fashion-mnist", str(tmp_path))
    assert os.path.exists(os.path.join(d, CACHE_NAME))
    again = read_folder("fashion-mnist", str(tmp_path))
    np.testing.assert_array_equal(again.x_train, first.x_train)
    # replace the training set by one of a different size: the cache must not be served
    rng = np.random.default_rng(5)
    write_idx(os.path.join(d, "train-images-idx3-ubyte"), rng.integers(0, 256, (9, 28, 28)), gz=False)
    write_idx(os.path.join(d, "train-labels-idx1-ubyte"), rng.integers(0, 10, 9), gz=False)
    assert read_folder("fashion-mnist", str(tmp_path)).x_train.shape[0] == 9


def test_malformed_files_are_named(tmp_path):
    d, _ = make_fashion(str(tmp_path), gz=False)
    bad = os.path.join(d, "t10k-labels-idx1-ubyte")
    with open(bad, "wb") as f:
        f.write(b"not an idx file")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*magic"):
        read_folder("fashion-mnist", str(tmp_path))
    write_idx(bad, np.array([1, 12, 3, 0, 9]), gz=False)  # a label no class has
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: labels outside \[0, 9\] \(found 12\)"):
        read_folder("fashion-mnist", str(tmp_path))
    d, _, _ = make_cifar(str(tmp_path))
    with open(os.path.join(d, "data_batch_3"), "wb") as f:
        f.write(b"\x00garbage")
    with pytest.raises(DataError, match="data_batch_3.*CIFAR"):
        read_folder("cifar10", str(tmp_path))
    d, _ = make_svhn(str(tmp_path))
    scipy.io.savemat(os.path.join(d, "test_32x32.mat"), {"X": np.zeros((4, 4), np.uint8)})
    with pytest.raises(DataError, match=r"test_32x32\.mat.*'X' uint8 \(32, 32, 3, N\)"):
        read_folder("svhn", str(tmp_path))


def test_missing_folder_and_file_give_the_expected_layout(tmp_path):
    with pytest.raises(DataError, match=r"cifar-10-batches-py/\n\s+data_batch_1"):
        read_folder("cifar10", str(tmp_path / "nowhere"))
    d, _, _ = make_cifar(str(tmp_path), hundred=True)
    os.remove(os.path.join(d, "meta"))
    with pytest.raises(DataError, match=r"lacks meta\. Expected layout"):
        read_folder("cifar100", str(tmp_path))


def test_scan_and_cli_report_counts_and_layouts(tmp_path, capsys):
    make_cifar(str(tmp_path))
    make_svhn(str(tmp_path))
    status = {s.name: s for s in scan(str(tmp_path))}
    assert status["cifar10"].found and (status["cifar10"].n_train, status["cifar10"].n_test) == (20, 3)
    assert status["svhn"].found and status["svhn"].n_train == 7
    assert not status["fashion-mnist"].found and "train-images-idx3-ubyte" in status["fashion-mnist"].problem
    assert cli_main(["data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cifar10        found    train      20  test       3  classes  10" in out
    assert "cifar100       missing" in out and "cifar-100-python/" in out


class _Payload:
    """Unpickling this calls ``exec`` (a ``__reduce__`` that would run as the user)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


@pytest.mark.parametrize("where", ["data_batch_1", "batches.meta"])
def test_a_cifar_batch_that_would_run_code_is_refused_and_runs_nothing(tmp_path, where):
    d, _, _ = make_cifar(str(tmp_path))
    marker = str(tmp_path / "pwned")
    with open(os.path.join(d, where), "wb") as f:
        pickle.dump({"data": _Payload(marker), "labels": [0], "label_names": _Payload(marker)}, f)
    with pytest.raises(DataError, match=rf"{where}: refused: refused to load builtins.exec"):
        read_folder("cifar10", str(tmp_path), use_cache=False)
    status = {s.name: s for s in scan(str(tmp_path))}
    assert status["cifar10"].state == "malformed" and "refused" in status["cifar10"].problem
    assert not os.path.exists(marker)  # the payload never ran


def test_cifar_arrays_of_objects_and_other_codecs_are_refused(tmp_path):
    d, _, _ = make_cifar(str(tmp_path))
    with open(os.path.join(d, "data_batch_2"), "wb") as f:
        pickle.dump({"data": np.array([{"a": 1}], dtype=object), "labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match="data_batch_2: refused: refused an array of object"):
        read_folder("cifar10", str(tmp_path), use_cache=False)
