"""Dataset loaders: the embedded digits set, the IDX parser, and real MNIST when present."""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import pathlib
import re

import numpy as np
import pytest

from xbar.data import Dataset, _datasets, find_mnist, load_digits, load_mnist

DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
DIGITS_TEST_COUNTS = [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]  # test_fraction=0.2
DIGITS_GZ_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"

MNIST_IMAGES_MD5 = "2646ac647ad5339dbf082846283269ea"  # uncompressed t10k-images-idx3-ubyte
MNIST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"


# --------------------------------------------------------------------------- digits


def test_digits_file_contents():
    compressed, _ = _datasets._digits_bytes()
    assert hashlib.sha256(compressed).hexdigest() == DIGITS_GZ_SHA256
    pixels, labels = _datasets._read_digits()
    assert pixels.shape == (1797, 64)
    assert pixels.min() == 0 and pixels.max() == 16
    assert np.bincount(labels).tolist() == DIGITS_CLASS_COUNTS
    assert len(np.unique(pixels, axis=0)) == 1797  # no duplicate images


def test_digits_shapes_dtypes_range():
    d = load_digits()
    assert isinstance(d, Dataset)
    assert d.name == "digits" and d.image_shape == (8, 8)
    assert d.x_train.shape == (1438, 64) and d.y_train.shape == (1438,)
    assert d.x_test.shape == (359, 64) and d.y_test.shape == (359,)
    for x, y in ((d.x_train, d.y_train), (d.x_test, d.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_array_equal(x * 16, np.round(x * 16))  # block counts / 16


def test_digits_label_counts():
    d = load_digits()
    assert np.bincount(d.y_test, minlength=10).tolist() == DIGITS_TEST_COUNTS
    expected_train = [a - b for a, b in zip(DIGITS_CLASS_COUNTS, DIGITS_TEST_COUNTS, strict=True)]
    assert np.bincount(d.y_train, minlength=10).tolist() == expected_train


def test_digits_deterministic():
    a, b = load_digits(), load_digits()
    for u, v in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(u, v)


def test_digits_no_overlap_and_complete():
    d = load_digits()
    pixels, labels = _datasets._read_digits()
    all_rows = {
        r.tobytes() + bytes([c]) for r, c in zip(pixels.astype(np.uint8), labels, strict=True)
    }

    def rows(x, y):
        return [
            r.tobytes() + bytes([c])
            for r, c in zip(np.round(x * 16).astype(np.uint8), y, strict=True)
        ]

    train, test = rows(d.x_train, d.y_train), rows(d.x_test, d.y_test)
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    assert set(train) | set(test) == all_rows


def test_digits_split_rule_positions():
    pixels, labels = _datasets._read_digits()
    test = _datasets._stratified_index_split(labels, 0.2)
    for c in range(10):
        positions = np.flatnonzero(test[labels == c])
        assert positions[:5].tolist() == [2, 7, 12, 17, 22]
        assert np.all(np.diff(positions) >= 4) and np.all(np.diff(positions) <= 6)
    # both parts keep file order
    d = load_digits()
    np.testing.assert_array_equal(d.x_train, pixels[~test].astype(np.float32) / 16)
    np.testing.assert_array_equal(d.y_test, labels[test])


@pytest.mark.parametrize("fraction", [1e-3, 0.1, 0.25, 0.5, 0.9, 0.999])
def test_digits_other_fractions(fraction):
    d = load_digits(test_fraction=fraction)
    counts = np.array(DIGITS_CLASS_COUNTS)
    expected = np.clip(np.floor(counts * fraction + 0.5).astype(int), 1, counts - 1)
    assert np.bincount(d.y_test, minlength=10).tolist() == expected.tolist()
    assert np.bincount(d.y_train, minlength=10).tolist() == (counts - expected).tolist()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0.0, ValueError),
        (1.0, ValueError),
        (-0.1, ValueError),
        (1.5, ValueError),
        (float("nan"), ValueError),
        ("0.2", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_digits_bad_test_fraction(value, error):
    with pytest.raises(error, match=r"test_fraction: expected .*\(0, 1\).* got"):
        load_digits(test_fraction=value)


def test_digits_source_tree_fallback(monkeypatch):
    def no_package(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(importlib.resources, "files", no_package)
    if not _datasets._DIGITS_SOURCE_PATH.exists():
        # an installed package (CI): no source tree beside it, so a clear error
        with pytest.raises(FileNotFoundError, match="digits"):
            _datasets._digits_bytes()
        return
    _, where = _datasets._digits_bytes()
    assert pathlib.Path(where) == _datasets._DIGITS_SOURCE_PATH
    np.testing.assert_array_equal(load_digits().x_test, load_digits().x_test)


# --------------------------------------------------------------------------- IDX parser


def _idx_bytes(data: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in data.shape)
    return header + data.astype(np.uint8).tobytes()


def _write(directory: pathlib.Path, stem: str, payload: bytes, gz: bool) -> pathlib.Path:
    path = directory / (stem + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def _fake_set(n: int, seed: int, rows: int = 28, cols: int = 28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def _write_pair(directory, images, labels, *, train: bool, gz: bool):
    img_stem, lab_stem = (TRAIN_IMAGES, TRAIN_LABELS) if train else (TEST_IMAGES, TEST_LABELS)
    _write(directory, img_stem, _idx_bytes(images, 0x803), gz)
    _write(directory, lab_stem, _idx_bytes(labels, 0x801), gz)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_t10k_layout(tmp_path, gz):
    images, labels = _fake_set(10, seed=0)
    _write_pair(tmp_path, images, labels, train=False, gz=gz)
    d = load_mnist(tmp_path, n_train=7)
    assert d.name == "mnist" and d.image_shape == (28, 28)
    assert d.x_train.shape == (7, 784) and d.x_test.shape == (3, 784)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    flat = images.reshape(10, 784).astype(np.float32) / 255
    np.testing.assert_array_equal(d.x_train, flat[:7])
    np.testing.assert_array_equal(d.x_test, flat[7:])
    np.testing.assert_array_equal(d.y_train, labels[:7])
    np.testing.assert_array_equal(d.y_test, labels[7:])


@pytest.mark.parametrize("gz", [True, False])
def test_idx_full_layout(tmp_path, gz):
    train_images, train_labels = _fake_set(6, seed=1)
    test_images, test_labels = _fake_set(4, seed=2)
    _write_pair(tmp_path, train_images, train_labels, train=True, gz=gz)
    _write_pair(tmp_path, test_images, test_labels, train=False, gz=not gz)  # mixed is fine
    d = load_mnist(str(tmp_path), n_train=2)  # n_train is unused with train files
    np.testing.assert_array_equal(d.x_train, train_images.reshape(6, -1) / np.float32(255))
    np.testing.assert_array_equal(d.x_test, test_images.reshape(4, -1) / np.float32(255))
    np.testing.assert_array_equal(d.y_train, train_labels)
    np.testing.assert_array_equal(d.y_test, test_labels)


def test_idx_other_image_size(tmp_path):
    images, labels = _fake_set(5, seed=3, rows=4, cols=3)
    _write_pair(tmp_path, images, labels, train=False, gz=False)
    d = load_mnist(tmp_path, n_train=2)
    assert d.image_shape == (4, 3) and d.x_train.shape == (2, 12)


def test_idx_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"nowhere.*does not exist"):
        load_mnist(missing)
    (tmp_path / "a_file").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"a_file.*is not a directory"):
        load_mnist(tmp_path / "a_file")


def test_idx_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{TEST_IMAGES} or {TEST_IMAGES}.gz")):
        load_mnist(tmp_path)
    images, labels = _fake_set(4, seed=4)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803), gz=True)
    with pytest.raises(FileNotFoundError, match=re.escape(f"missing: {TEST_LABELS} or ")):
        load_mnist(tmp_path)


def test_idx_half_train_pair(tmp_path):
    images, labels = _fake_set(4, seed=5)
    _write_pair(tmp_path, images, labels, train=False, gz=True)
    _write(tmp_path, TRAIN_IMAGES, _idx_bytes(images, 0x803), gz=True)
    with pytest.raises(FileNotFoundError, match=re.escape(f"expected {TRAIN_LABELS} or")):
        load_mnist(tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_bad_magic(tmp_path, gz):
    images, labels = _fake_set(4, seed=6)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803), gz)
    _write(tmp_path, TEST_LABELS, _idx_bytes(labels, 0x803), gz)  # wrong: images magic
    name = re.escape(TEST_LABELS + (".gz" if gz else ""))
    with pytest.raises(ValueError, match=name + r".*expected 0x00000801.*got 0x00000803"):
        load_mnist(tmp_path, n_train=2)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_truncated_data(tmp_path, gz):
    images, labels = _fake_set(4, seed=7)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803)[:-5], gz)
    _write(tmp_path, TEST_LABELS, _idx_bytes(labels, 0x801), gz)
    name = re.escape(TEST_IMAGES + (".gz" if gz else ""))
    with pytest.raises(ValueError, match=name + r": truncated: expected 3152 bytes.*got 3147"):
        load_mnist(tmp_path, n_train=2)


def test_idx_truncated_header(tmp_path):
    images, labels = _fake_set(4, seed=8)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803)[:10], gz=False)
    _write(tmp_path, TEST_LABELS, _idx_bytes(labels, 0x801), gz=False)
    with pytest.raises(ValueError, match=re.escape(TEST_IMAGES) + r": truncated.*16-byte header"):
        load_mnist(tmp_path, n_train=2)
    _write(tmp_path, TEST_IMAGES, b"\x00\x00", gz=False)
    with pytest.raises(ValueError, match=re.escape(TEST_IMAGES) + r": truncated.*at least 4"):
        load_mnist(tmp_path, n_train=2)


def test_idx_trailing_bytes(tmp_path):
    images, labels = _fake_set(4, seed=9)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803), gz=False)
    _write(tmp_path, TEST_LABELS, _idx_bytes(labels, 0x801) + b"\x00", gz=False)
    with pytest.raises(ValueError, match=re.escape(TEST_LABELS) + r": trailing bytes"):
        load_mnist(tmp_path, n_train=2)


def test_idx_corrupt_gzip(tmp_path):
    images, labels = _fake_set(4, seed=10)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803), gz=True)
    (tmp_path / (TEST_LABELS + ".gz")).write_bytes(gzip.compress(_idx_bytes(labels, 0x801))[:-9])
    with pytest.raises(ValueError, match=re.escape(TEST_LABELS + ".gz") + r": expected a gzip"):
        load_mnist(tmp_path, n_train=2)


def test_idx_count_mismatch(tmp_path):
    images, labels = _fake_set(4, seed=11)
    _write(tmp_path, TEST_IMAGES, _idx_bytes(images, 0x803), gz=True)
    _write(tmp_path, TEST_LABELS, _idx_bytes(labels[:3], 0x801), gz=True)
    pattern = re.escape(TEST_IMAGES) + r".*holds 4 images but .*" + re.escape(TEST_LABELS)
    with pytest.raises(ValueError, match=pattern + r".*holds 3 labels"):
        load_mnist(tmp_path, n_train=2)


def test_idx_label_out_of_range(tmp_path):
    images, labels = _fake_set(4, seed=12)
    labels[2] = 12
    _write_pair(tmp_path, images, labels, train=False, gz=False)
    with pytest.raises(ValueError, match=re.escape(TEST_LABELS) + r".*0\.\.9, got .*12"):
        load_mnist(tmp_path, n_train=2)


def test_idx_image_size_mismatch(tmp_path):
    train_images, train_labels = _fake_set(3, seed=13, rows=27)
    test_images, test_labels = _fake_set(3, seed=14)
    _write_pair(tmp_path, train_images, train_labels, train=True, gz=True)
    _write_pair(tmp_path, test_images, test_labels, train=False, gz=True)
    pattern = re.escape(TRAIN_IMAGES) + r".*27×28 but .*" + re.escape(TEST_IMAGES) + r".*28×28"
    with pytest.raises(ValueError, match=pattern):
        load_mnist(tmp_path)


@pytest.mark.parametrize("n_train", [0, -1, 10, 8000])
def test_idx_n_train_out_of_range(tmp_path, n_train):
    images, labels = _fake_set(10, seed=15)
    _write_pair(tmp_path, images, labels, train=False, gz=True)
    pattern = r"n_train: expected an integer in \[1, 9\] \(.*" + re.escape(TEST_IMAGES)
    with pytest.raises(ValueError, match=pattern + rf".*holds 10 images.*got {n_train}$"):
        load_mnist(tmp_path, n_train=n_train)


@pytest.mark.parametrize("n_train", [2.0, True, "5"])
def test_idx_n_train_type(tmp_path, n_train):
    with pytest.raises(TypeError, match=r"n_train: expected an integer, got"):
        load_mnist(tmp_path, n_train=n_train)


def test_find_mnist_env_var_and_absent(tmp_path, monkeypatch):
    images, labels = _fake_set(3, seed=16)
    _write_pair(tmp_path, images, labels, train=False, gz=True)
    monkeypatch.setenv("XBAR_MNIST_DIR", str(tmp_path))
    assert find_mnist() == tmp_path.resolve()

    empty = tmp_path / "x" / "y"
    empty.mkdir(parents=True)
    monkeypatch.setenv("XBAR_MNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(_datasets, "_REPO_ROOT", empty)
    monkeypatch.chdir(empty)
    assert find_mnist() is None


# --------------------------------------------------------------------------- real MNIST


def _real_mnist_dir() -> pathlib.Path:
    found = find_mnist()
    if found is None:
        looked = ", ".join(str(p) for p in _datasets._mnist_candidates())
        pytest.skip(f"MNIST not found at {looked} (set XBAR_MNIST_DIR to its folder)")
    return found


def test_real_mnist():
    directory = _real_mnist_dir()
    images_path = _datasets._find_idx(directory, TEST_IMAGES)
    raw = images_path.read_bytes()
    if images_path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    assert hashlib.md5(raw).hexdigest() == MNIST_IMAGES_MD5

    d = load_mnist(directory)
    if d.x_train.shape[0] == 60000:  # the full standard set is present as well
        assert d.x_test.shape == (10000, 784)
        assert np.bincount(d.y_test, minlength=10).tolist() == MNIST_LABEL_COUNTS
        return
    assert d.x_train.shape == (8000, 784) and d.y_train.shape == (8000,)
    assert d.x_test.shape == (2000, 784) and d.y_test.shape == (2000,)
    assert d.image_shape == (28, 28) and d.name == "mnist"
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    all_labels = np.concatenate([d.y_train, d.y_test])
    assert np.bincount(all_labels, minlength=10).tolist() == MNIST_LABEL_COUNTS
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 784)
    np.testing.assert_array_equal(d.x_test[-1], pixels[-1] / np.float32(255))
    np.testing.assert_array_equal(d.x_train[0], pixels[0] / np.float32(255))
