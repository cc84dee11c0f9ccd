"""Stage 1's helpers: the data set a run's configuration names, checked before it is read,
and the table encoder of a CSV run fitted on the training rows."""

from __future__ import annotations

from pathlib import Path

from .. import datasets
from ..datasets import Dataset
from ..table import Table, TableEncoder, TableError
from .config import RunConfig
from .errors import RunError

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (or an empty one)
#: How a file numpy.load reads without pickles starts: an .npy array or an .npz archive.
NUMPY_MAGIC = (b"\x93NUMPY", *_ZIP_MAGIC)


def check_input_file(path: str, what: str, *, magic: tuple[bytes, ...] = (),
                     expected: str = "") -> None:
    """Refuse, in one line, a data file that is a directory, cannot be read, or (with
    ``magic``) does not start like the format it should have. A missing file is left to
    the loader, which says so."""
    p = Path(path)
    if p.is_dir():
        raise RunError(f"{p}: is a directory; expected {what}")
    if not p.exists():
        return
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise RunError(f"{p}: cannot read the file ({exc.strerror or type(exc).__name__}); "
                       "check that it exists and that you may read it") from None
    if magic and not any(head.startswith(m) for m in magic):
        raise RunError(f"{p}: not {expected}; expected {what}")


def load_dataset(cfg: RunConfig) -> Dataset:
    """The data set a (validated) configuration names."""
    name = cfg.dataset
    try:
        if name == "csv":
            assert cfg.csv is not None
            check_input_file(cfg.csv, "a CSV file with a header row (or a Parquet or Excel file)")
            # encoded later, by an encoder fitted on the training rows (stages.split)
            return datasets.load("csv", path=cfg.csv, target=cfg.target, task=cfg.task,
                                 encode=False)
        if name == "npz":
            assert cfg.npz is not None
            check_input_file(cfg.npz, "an .npz file (numpy.savez) with arrays X and y",
                             magic=_ZIP_MAGIC, expected="an .npz (zip) archive")
            return datasets.load("npz", path=cfg.npz, task=cfg.task)
        if name == "mnist":
            return datasets.load("mnist", data_dir=cfg.data_dir)
        if name == "digits":
            return datasets.load("digits")
        return datasets.load(name, n_samples=cfg.n_samples, noise=cfg.noise, seed=cfg.seed)
    except (PermissionError, IsADirectoryError) as exc:
        where = exc.filename or cfg.csv or cfg.npz or cfg.data_dir or name
        raise RunError(f"{where}: cannot read the file ({exc.strerror or exc}); check that "
                       "you may read it") from None


#: Settings of a configuration passed to the table encoder as they are, where set.
ENCODER_KEYS = ("numeric_encoding", "ple_bins", "categorical_encoding")


def fit_encoder(cfg: RunConfig, train: Table) -> TableEncoder:
    """The table encoder of ``cfg``'s ``drop``/``categorical``/``numeric`` (and
    :data:`ENCODER_KEYS` where the configuration has them), fitted on the training rows
    ``train``; a table it cannot encode is a :class:`RunError` naming the file."""
    chosen = {key: value for key in ENCODER_KEYS
              if (value := getattr(cfg, key, None)) is not None}
    try:
        return TableEncoder(drop=cfg.drop, categorical=cfg.categorical,
                            numeric=cfg.numeric, **chosen).fit(train)
    except TableError as exc:
        raise RunError(f"{cfg.csv}: {exc}") from None

