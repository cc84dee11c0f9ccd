"""The CSV reader's pandas fast path (chainrule.datasets.csvfast) reads every file exactly as
the streaming reader does — same columns, kinds, numbers, vocabularies in the same order,
line numbers and errors — or declines it (quotes, ragged or blank lines, bare CR, NUL)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule.datasets import csvfast, csvfile
from chainrule.datasets.csvfile import DataFileError, read_csv_table
from chainrule.table.columns import NumberColumn, Table

pytest.importorskip("pandas")

FILES = {
    "numbers and text": "a,b,c\n1,x,3\n4,y,5\n",
    "booleans keep their spelling": "a,b,c\n1,True,3\n4,false,5\n5,TRUE,\n",
    "spaces and missing tokens": "a,b,c\n 1,x ,3\nNA,NA ,<NA>\nnan, y,?\n",
    "numbers turned text late": "a,b,c\n1,x,3\n2,y,z\n",
    "integers past int64": "a,b,c\n12345678901234567890,x,3\n-99999999999999999999,y,5\n",
    "what only Python's float reads": "a,b,c\n1_000,١٢,3\n2,1,.5\n",
    "decimal comma": "a;b;c\n1,5;x;3\n2.5;y;4,25\n",
    "infinite": "a,b,c\n1,x,3\n1e400,y,5\n",
    "CRLF, BOM, no final line break": "\ufeffa,b,c\r\n1,x,3\r\n4,y,5",
    "every cell missing": "a,b,c\n,x,3\n,y,5\n",
    "tabs": "a\tb\tc\n1\tx\t3\n4\ty\t5\n",
}
DECLINED = {
    "quoted": 'a,b,c\n1,"x, y",3\n4,y,5\n',
    "blank line": "a,b,c\n1,x,3\n\n4,y,5\n",
    "short row": "a,b,c\n1,x,3\n4,y\n",
    "long and short rows": "a,b,c\n1,x,3,\n4,y\n5,z,6\n",
    "bare CR": "a,b,c\r1,x,3\r4,y,5\r",
    "NUL": "a,b,c\n1,x\0,3\n",
}


def _read(path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch,
          reverse: bool = False) -> object:
    with monkeypatch.context() as m:
        if fast:
            m.setattr(csvfile, "FAST_MIN_BYTES", 0)
        else:
            m.setattr(csvfast, "read_fast", lambda *args: None)
        try:
            return read_csv_table(path, lambda header: list(range(len(header)))[
                ::-1 if reverse else 1])
        except DataFileError as exc:
            return str(exc)


def _same(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    assert isinstance(a, tuple) and isinstance(b, tuple)
    (ha, ta), (hb, tb) = a, b
    assert isinstance(ta, Table) and isinstance(tb, Table)
    if ha != hb or ta.names != tb.names or not np.array_equal(ta.lines, tb.lines):
        return False
    for name in ta.names:
        x, y = ta[name], tb[name]
        if type(x) is not type(y):
            return False
        if isinstance(x, NumberColumn):
            if not np.array_equal(x.values, y.values, equal_nan=True):  # type: ignore[union-attr]
                return False
        elif x.vocab != y.vocab or not np.array_equal(x.codes, y.codes):  # type: ignore[union-attr]
            return False
    return True


def _uses_fast_path(path: Path) -> bool:
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    sep = "\t" if "\t" in header else ";" if ";" in header else ","
    names = header.split(sep)
    return csvfast.read_fast(path, sep, names, list(range(len(names)))) is not None


@pytest.mark.parametrize("name", FILES)
def test_fast_path_reads_as_the_streaming_reader(name: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.csv"
    path.write_text(FILES[name], encoding="utf-8")
    assert _uses_fast_path(path)
    assert _same(_read(path, True, monkeypatch), _read(path, False, monkeypatch))


@pytest.mark.parametrize("name", DECLINED)
def test_fast_path_declines_files_that_are_not_plain(name: str, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(DECLINED[name], encoding="utf-8", newline="")
    assert csvfast.plain_lines(path, ",", 3) is None


def test_columns_read_again_keep_the_chosen_order(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Boolean columns are read a second time; chosen in reverse (as load_csv puts the
    target first), each still gets its own cells."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d\nTrue,1,no,FALSE\nfalse,2,yes,TRUE\n", encoding="utf-8")
    fast = _read(path, True, monkeypatch, reverse=True)
    assert _same(fast, _read(path, False, monkeypatch, reverse=True))
    assert isinstance(fast, tuple) and fast[1]["a"].vocab == ("True", "false")  # type: ignore[union-attr]


def test_random_tables_and_block_boundaries(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Random plain tables read alike, with blocks of 7 bytes so lines straddle them."""
    monkeypatch.setattr(csvfast, "BLOCK", 7)
    rnd = random.Random(0)
    cells = ["1", "2.5", "-3", "", "NA", " 4", "x", "y ", "True", "false", "1e3", "nan",
             "007", "?", "9" * 20, "a b", "+7"]
    fast_reads = 0
    for t in range(60):
        sep = rnd.choice([",", "\t"])
        width, n = rnd.randint(2, 4), rnd.randint(1, 12)
        kinds = [rnd.sample(cells, rnd.randint(1, 4)) for _ in range(width)]
        body = "\n".join(sep.join(rnd.choice(k) for k in kinds) for _ in range(n))
        path = tmp_path / f"r{t}.csv"
        path.write_text(sep.join(f"h{i}" for i in range(width)) + "\n" + body
                        + rnd.choice(["\n", ""]), encoding="utf-8")
        lines = csvfast.plain_lines(path, sep, width)
        if lines is not None:
            assert lines == n + 1
            fast_reads += 1
        assert _same(_read(path, True, monkeypatch), _read(path, False, monkeypatch)), t
    assert fast_reads > 30


def test_small_files_are_read_without_pandas(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Below FAST_MIN_BYTES the loop reads the file (importing pandas costs more than it
    saves); from it on, pandas' parser does, with the same table."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n" + "".join(f"{i},x{i % 3},{i / 7:.4f}\n" for i in range(200)))
    calls: list[Path] = []
    real = csvfast.read_fast

    def counted(path: Path, *args: Any) -> Any:
        calls.append(path)
        return real(path, *args)

    monkeypatch.setattr(csvfast, "read_fast", counted)
    slow = read_csv_table(path, lambda header: list(range(len(header))))
    assert calls == []
    monkeypatch.setattr(csvfile, "FAST_MIN_BYTES", path.stat().st_size)
    fast = read_csv_table(path, lambda header: list(range(len(header))))
    assert calls == [path] and _same(slow, fast)
