"""Dataset loaders: the embedded UCI digits set and MNIST from IDX files.

numpy only (no jax): loaders return host arrays; callers move them to devices.

- `load_digits()` reads the 1,797 8×8 images shipped inside the package (the test
  partition of the UCI "Optical Recognition of Handwritten Digits" set; see
  `data/digits/ATTRIBUTION.md`) and splits them deterministically by index.
- `load_mnist(path)` parses MNIST IDX files (gzipped or not) from a directory the user
  supplies; MNIST is never shipped with xbar. `find_mnist()` locates a shared copy.
"""

from __future__ import annotations

import gzip
import importlib.resources
import numbers
import os
import pathlib
import zlib
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "load_digits", "load_mnist", "find_mnist"]

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
_DIGITS_SOURCE_PATH = _REPO_ROOT / "data" / "digits" / "digits.csv.gz"

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (n, rows, cols)
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (n,)

_MNIST_TRAIN_IMAGES = "train-images-idx3-ubyte"
_MNIST_TRAIN_LABELS = "train-labels-idx1-ubyte"
_MNIST_TEST_IMAGES = "t10k-images-idx3-ubyte"
_MNIST_TEST_LABELS = "t10k-labels-idx1-ubyte"
_MNIST_FILES = (_MNIST_TRAIN_IMAGES, _MNIST_TRAIN_LABELS, _MNIST_TEST_IMAGES, _MNIST_TEST_LABELS)

_MNIST_ENV_VAR = "XBAR_MNIST_DIR"


class Dataset(NamedTuple):
    """A train/test split of flattened images.

    `x_*` are float32 `(n, n_features)` pixel intensities in [0, 1], rows flattened in
    C order from `image_shape`; `y_*` are int32 class labels `(n,)`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    image_shape: tuple[int, int]


# --------------------------------------------------------------------------- digits


def _digits_bytes() -> tuple[bytes, str]:
    """The gzipped digits CSV and where it came from (installed package or source tree)."""
    try:
        resource = importlib.resources.files("xbar._datasets") / "digits" / "digits.csv.gz"
        if resource.is_file():
            return resource.read_bytes(), str(resource)
    except ModuleNotFoundError:  # running from a source tree: no xbar._datasets package
        pass
    if _DIGITS_SOURCE_PATH.is_file():
        return _DIGITS_SOURCE_PATH.read_bytes(), str(_DIGITS_SOURCE_PATH)
    raise FileNotFoundError(
        "load_digits: the embedded digits file is missing: expected package resource "
        f"xbar._datasets/digits/digits.csv.gz or {_DIGITS_SOURCE_PATH}, found neither "
        "(a broken install?)"
    )


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 rows in file order: integer pixels (n, 64) in 0..16 and labels (n,)."""
    compressed, where = _digits_bytes()
    try:
        text = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"load_digits: {where}: not a readable gzip file ({e})") from None
    # 65 comma-separated integers per line, no header: parse all fields at once.
    fields = text.replace(b"\n", b",").rstrip(b",").split(b",")
    try:
        values = np.array(fields, dtype=np.int64)
    except ValueError:
        raise ValueError(
            f"load_digits: {where}: expected comma-separated integers, found other text"
        ) from None
    n_lines = text.rstrip(b"\n").count(b"\n") + 1
    if values.size != 65 * n_lines:
        raise ValueError(
            f"load_digits: {where}: expected 65 values per line (64 pixels, then the "
            f"label) on {n_lines} lines, got {values.size} values"
        )
    table = values.reshape(n_lines, 65)
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"load_digits: {where}: expected pixels in 0..16 and labels in 0..9, got "
            f"pixels in {pixels.min()}..{pixels.max()}, labels in "
            f"{labels.min()}..{labels.max()}"
        )
    return pixels, labels


def _stratified_index_split(labels: np.ndarray, test_fraction: float) -> np.ndarray:
    """Boolean test mask: per class, evenly spaced positions in file order (see load_digits)."""
    test = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_c = members.size
        if n_c < 2:
            raise ValueError(
                f"load_digits: class {c} has {n_c} sample(s); expected at least 2 so that "
                "both train and test hold one"
            )
        n_test = min(max(int(np.floor(n_c * test_fraction + 0.5)), 1), n_c - 1)
        positions = ((2 * np.arange(n_test) + 1) * n_c) // (2 * n_test)
        test[members[positions]] = True
    return test


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"load_digits: {name}: expected a real number in the open interval (0, 1), "
            f"got {value!r} of type {type(value).__name__}"
        )
    value = float(value)
    if not 0.0 < value < 1.0:  # also rejects nan
        raise ValueError(
            f"load_digits: {name}: expected a number in the open interval (0, 1), got {value!r}"
        )
    return value


def load_digits(*, test_fraction: float = 0.2) -> Dataset:
    """The embedded UCI handwritten-digits set (1,797 8×8 images), split by index.

    Pixels are block counts 0..16 divided by 16 (float32 in [0, 1]); labels are int32.

    The split is a stratified split by index, independent of any random generator.
    For each class `c`, take its `n_c` samples in file order (positions `j = 0..n_c-1`):

    - `n_test_c = clip(floor(n_c * test_fraction + 1/2), 1, n_c - 1)`
      (rounding half up, and at least one sample of every class on each side);
    - sample `j` goes to test iff `j = floor((2i + 1) * n_c / (2 * n_test_c))` for some
      `i = 0..n_test_c-1`, i.e. every `n_c / n_test_c`-th sample, centred (integer
      arithmetic); the rest go to train.

    Both parts keep file order. With the default `test_fraction=0.2` this is about
    every 5th sample of each class starting at its third (positions 2, 7, 12, ...):
    1,438 train and 359 test images, test counts 36, 36, 35, 37, 36, 36, 36, 36, 35, 36
    for digits 0..9.
    """
    test_fraction = _check_fraction("test_fraction", test_fraction)
    pixels, labels = _read_digits()
    test = _stratified_index_split(labels, test_fraction)
    x = pixels.astype(np.float32) / np.float32(16.0)
    y = labels.astype(np.int32)
    return Dataset(
        x_train=x[~test],
        y_train=y[~test],
        x_test=x[test],
        y_test=y[test],
        name="digits",
        image_shape=(8, 8),
    )


# --------------------------------------------------------------------------- MNIST


def _read_idx(path: pathlib.Path, *, magic: int, what: str) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (gzipped if the name ends in .gz)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise FileNotFoundError(f"load_mnist: {path}: cannot read ({e})") from None
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(
                f"load_mnist: {path}: expected a gzip-compressed IDX file, got bytes that "
                f"do not decompress ({type(e).__name__}: {e})"
            ) from None
    if len(raw) < 4:
        raise ValueError(
            f"load_mnist: {path}: truncated: expected at least 4 header bytes, got {len(raw)}"
        )
    got_magic = int.from_bytes(raw[:4], "big")
    if got_magic != magic:
        raise ValueError(
            f"load_mnist: {path}: bad magic number: expected 0x{magic:08X} ({what}), "
            f"got 0x{got_magic:08X}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"load_mnist: {path}: truncated: expected a {header}-byte header "
            f"({ndim} dimension sizes), got {len(raw)} bytes"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "trailing bytes"
        shape = "×".join(str(d) for d in dims)
        raise ValueError(
            f"load_mnist: {path}: {problem}: expected {expected} bytes (header {header} + "
            f"data {shape}), got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(directory: pathlib.Path, stem: str) -> pathlib.Path | None:
    for name in (stem, stem + ".gz"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _read_pair(
    images_path: pathlib.Path, labels_path: pathlib.Path
) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx(images_path, magic=_IDX_IMAGES_MAGIC, what="unsigned-byte images, 3-D")
    labels = _read_idx(labels_path, magic=_IDX_LABELS_MAGIC, what="unsigned-byte labels, 1-D")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"load_mnist: {images_path} holds {images.shape[0]} images but {labels_path} "
            f"holds {labels.shape[0]} labels; expected equal counts"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"load_mnist: {labels_path}: expected labels in 0..9, got a maximum of {labels.max()}"
        )
    return images, labels


def _to_float(images: np.ndarray) -> np.ndarray:
    return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)


def load_mnist(path: str | os.PathLike, *, n_train: int = 8000) -> Dataset:
    """MNIST from a directory of IDX files, gzipped (`.gz`) or not.

    Two layouts are recognised (an uncompressed file wins over its `.gz` twin):

    - all four standard files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
      `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`): the standard split, every
      train-file image for training and every t10k image for testing; `n_train` is not
      used.
    - only the t10k pair: split by index, images `[0, n_train)` for training and
      `[n_train, N)` for testing, where `N` is the t10k count (10,000 for MNIST).

    Pixels are bytes divided by 255 (float32 in [0, 1]), flattened row-major to
    `rows * cols` (784); labels are int32.

    Raises FileNotFoundError for a missing directory or files (listing the names looked
    for), ValueError for malformed IDX files (bad magic, truncated or oversized data,
    image/label count mismatch, labels above 9) and for `n_train` outside `[1, N - 1]`.
    """
    if isinstance(n_train, bool) or not isinstance(n_train, numbers.Integral):
        raise TypeError(
            f"load_mnist: n_train: expected an integer, got {n_train!r} of type "
            f"{type(n_train).__name__}"
        )
    n_train = int(n_train)
    directory = pathlib.Path(os.fspath(path))
    if not directory.is_dir():
        state = "is not a directory" if directory.exists() else "does not exist"
        raise FileNotFoundError(
            f"load_mnist: path: expected a directory holding MNIST IDX files, got "
            f"{str(directory)!r}, which {state}"
        )

    found = {stem: _find_idx(directory, stem) for stem in _MNIST_FILES}
    missing_test = [s for s in (_MNIST_TEST_IMAGES, _MNIST_TEST_LABELS) if found[s] is None]
    if missing_test:
        looked_for = ", ".join(f"{s} or {s}.gz" for s in missing_test)
        raise FileNotFoundError(
            f"load_mnist: {directory}: expected the MNIST test files (optionally also the "
            f"train files), missing: {looked_for}"
        )
    has_train = [found[s] is not None for s in (_MNIST_TRAIN_IMAGES, _MNIST_TRAIN_LABELS)]
    if any(has_train) and not all(has_train):
        present, absent = (
            (_MNIST_TRAIN_IMAGES, _MNIST_TRAIN_LABELS)
            if has_train[0]
            else (_MNIST_TRAIN_LABELS, _MNIST_TRAIN_IMAGES)
        )
        raise FileNotFoundError(
            f"load_mnist: {directory}: found {found[present].name} but not its pair; "
            f"expected {absent} or {absent}.gz beside it (or neither train file)"
        )

    test_images_path = found[_MNIST_TEST_IMAGES]
    test_images, test_labels = _read_pair(test_images_path, found[_MNIST_TEST_LABELS])
    image_shape = (int(test_images.shape[1]), int(test_images.shape[2]))

    if all(has_train):
        train_images_path = found[_MNIST_TRAIN_IMAGES]
        train_images, train_labels = _read_pair(train_images_path, found[_MNIST_TRAIN_LABELS])
        if train_images.shape[1:] != test_images.shape[1:]:
            raise ValueError(
                f"load_mnist: {train_images_path} holds images of "
                f"{train_images.shape[1]}×{train_images.shape[2]} but {test_images_path} "
                f"holds {test_images.shape[1]}×{test_images.shape[2]}; expected the same size"
            )
    else:
        n_total = test_images.shape[0]
        if not 1 <= n_train <= n_total - 1:
            raise ValueError(
                f"load_mnist: n_train: expected an integer in [1, {n_total - 1}] "
                f"({test_images_path} holds {n_total} images and the test part needs at "
                f"least one), got {n_train}"
            )
        train_images, train_labels = test_images[:n_train], test_labels[:n_train]
        test_images, test_labels = test_images[n_train:], test_labels[n_train:]

    return Dataset(
        x_train=_to_float(train_images),
        y_train=train_labels.astype(np.int32),
        x_test=_to_float(test_images),
        y_test=test_labels.astype(np.int32),
        name="mnist",
        image_shape=image_shape,
    )


def _mnist_candidates() -> list[pathlib.Path]:
    """Where find_mnist looks, in order."""
    candidates = []
    env = os.environ.get(_MNIST_ENV_VAR, "")
    if env:
        candidates.append(pathlib.Path(env).expanduser())
    candidates.append(_REPO_ROOT.parent / "shared" / "data" / "mnist")
    candidates.append(pathlib.Path.cwd().parent / "shared" / "data" / "mnist")
    unique: list[pathlib.Path] = []
    for c in candidates:
        if c not in unique:
            unique.append(c)
    return unique


def find_mnist() -> pathlib.Path | None:
    """The first directory holding the MNIST t10k image and label files, or None.

    Looks, in order, at `$XBAR_MNIST_DIR` (if set), `../shared/data/mnist` beside the
    source tree that holds this package, and `../shared/data/mnist` relative to the
    current working directory. A directory counts when it holds
    `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each plain or `.gz`.
    The files are not parsed; `load_mnist` validates them.
    """
    for candidate in _mnist_candidates():
        if (
            candidate.is_dir()
            and _find_idx(candidate, _MNIST_TEST_IMAGES) is not None
            and _find_idx(candidate, _MNIST_TEST_LABELS) is not None
        ):
            return candidate.resolve()
    return None
