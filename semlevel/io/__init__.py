"""Data files in and out: CSV, Parquet, Stata (with value labels), Excel.

``read_data(path)`` and ``write_data(frame, path)`` choose the format from the suffix;
value labels travel in ``frame.attrs["value_labels"]`` (see :mod:`.labels`).
"""
from .labels import fit_value_labels, set_value_labels, value_labels
from .readers import READABLE, DataFileError, MissingPackageError, read_data
from .writers import write_data

__all__ = ["read_data", "write_data", "value_labels", "set_value_labels", "fit_value_labels",
           "DataFileError", "MissingPackageError", "READABLE"]
