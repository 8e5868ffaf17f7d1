"""Datasets: the embedded UCI digits set and an MNIST IDX reader (numpy arrays)."""

from ._datasets import Dataset as Dataset
from ._datasets import find_mnist as find_mnist
from ._datasets import load_digits as load_digits
from ._datasets import load_mnist as load_mnist

__all__ = ["Dataset", "find_mnist", "load_digits", "load_mnist"]
