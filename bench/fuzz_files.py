"""Fuzz campaign for chainrule's file readers: mutated model files, IDX (raw and gzip'd),
CSV, .npz and .npy files.

Every case must end in success or the documented error,
:class:`chainrule.errors.FileFormatError`; none may take over 5 s, and none may trace more
than twice the file's size plus 100 MB at its peak (tracemalloc, which NumPy reports its
buffers to). Any other outcome is a finding: it is counted, printed, and its file is kept
under ``--save`` so it can be replayed.

    python bench/fuzz_files.py                      # 2,000 cases per format
    python bench/fuzz_files.py --cases 20000 --seed 7 --formats model,csv --save findings/

The mutators are plain functions of a ``random.Random``; ``tests/test_fuzz_files.py`` drives
the same functions with Hypothesis (``st.randoms()``), so CI runs a short campaign and
shrinks what it finds.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import io
import json
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import chainrule
from chainrule import datasets
from chainrule.io import model as cio
from chainrule.io.errors import FileFormatError

FORMATS = ("model", "idx", "csv", "npz", "npy")
TIME_LIMIT_S = 5.0
MEMORY_SLACK = 100 * 2**20


# -- seed files ----------------------------------------------------------------------------------
def _model_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)) * 2 + 1
    y = (X[:, 0] > 1).astype(np.int64) + (X[:, 1] > 1)
    seeds = {}
    net = chainrule.MLP([4, 6, 5, 3], hidden="leaky_relu", output="softmax",
                        loss="cross_entropy", seed=0, dropout=0.1)
    net.scaler = chainrule.Standardizer.fit(X)
    net.classes = ["low", "mid", "high"]
    net.fit(X, y, epochs=1, batch_size=16, optimizer="adam")
    training = {"config": {"dataset": "csv", "csv": "d.csv", "target": "t", "seed": 0,
                           "val_split": 0.1, "test_split": 0.2, "hidden": [6, 5]},
                "task": "classification", "target_names": ["t"], "epochs_run": 1,
                "final": {"loss": 0.5}, "test": {"accuracy": 0.75}, "n_train": 40,
                "n_val": 6, "n_test": 14, "train_seconds": 0.01, "date": "2026-12-02"}
    seeds["classifier"] = cio.model_to_bytes(net, training, ["a", "b", "c", "d"])
    reg = chainrule.MLP([4, 3, 2], hidden="elu", dtype="float64", seed=1, l2=0.01)
    reg.fit(X, np.c_[X[:, 0], X[:, 1]], epochs=1, batch_size=30,
            optimizer=chainrule.SGD(lr=0.01, momentum=0.9))
    seeds["regressor"] = cio.model_to_bytes(reg)
    bare = chainrule.MLP([2, 1], output="sigmoid", loss="binary_cross_entropy", seed=2)
    bare.classes = [0, 1]
    seeds["bare"] = cio.model_to_bytes(bare)
    return seeds


def _idx_blob(arr: np.ndarray, code: int = 0x08) -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _idx_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    images = _idx_blob(rng.integers(0, 256, (6, 5, 4), dtype=np.uint8))
    labels = _idx_blob(rng.integers(0, 10, 20, dtype=np.uint8))
    floats = _idx_blob(rng.normal(size=(3, 4)), code=0x0E)
    return {"images": images, "images.gz": gzip.compress(images, mtime=0),
            "labels.gz": gzip.compress(labels, mtime=0), "floats": floats}


def _csv_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rows = ["a,b,t"] + [f"{rng.normal():.4f},{rng.integers(0, 9)},{rng.integers(0, 3)}"
                        for _ in range(12)]
    text = ["a,b,t"] + [f"{rng.normal():.3g},{i},{'cat' if i % 2 else 'dog'}" for i in range(8)]
    reg = ["a,b,t"] + [f"{i},{i * 0.5},{rng.normal():.6f}" for i in range(10)]
    return {name: ("\n".join(lines) + "\n").encode() for name, lines in
            (("classes", rows), ("text", text), ("regression", reg))}


def _npz_bytes(compressed: bool = False, **arrays: Any) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _npz_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3))
    return {"stored": _npz_bytes(X=X, y=np.arange(10) % 3),
            "deflated": _npz_bytes(True, X=X.astype(np.float32), y=rng.normal(size=10)),
            "labels": _npz_bytes(X=X, y=np.array(["a", "b"] * 5))}


def _npy_seeds() -> dict[str, bytes]:
    buf = io.BytesIO()
    np.save(buf, np.arange(12.0).reshape(4, 3))
    return {"matrix": buf.getvalue()}


def seeds() -> dict[str, dict[str, bytes]]:
    """Valid files of every format, by format and name."""
    return {"model": _model_seeds(), "idx": _idx_seeds(), "csv": _csv_seeds(),
            "npz": _npz_seeds(), "npy": _npy_seeds()}


# -- generic byte mutations ----------------------------------------------------------------
_INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff" * 8, b"\x00" * 8, b"{", b"[" * 70,
                b'"', b"\\", b"\n", b",", b"1e400", b"-", b"\x1f\x8b", b"PK\x03\x04"]


def _randbytes(rnd: random.Random, n: int) -> bytes:
    return bytes(rnd.getrandbits(8) for _ in range(n))


def mutate_bytes(data: bytes, rnd: random.Random) -> bytes:
    """1–4 random edits: bit flips, truncation, insertion, deletion, duplication,
    interesting bytes, a random 8-byte length prefix."""
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(8)
        pos = rnd.randrange(len(out) + 1)
        if op == 0 and out:  # flip bits
            i = rnd.randrange(len(out))
            out[i] ^= 1 << rnd.randrange(8) if rnd.random() < 0.7 else rnd.randint(1, 255)
        elif op == 1:  # truncate
            del out[pos:]
        elif op == 2:  # insert random bytes
            out[pos:pos] = _randbytes(rnd, rnd.randint(1, 32))
        elif op == 3:  # delete a range
            del out[pos:pos + rnd.randint(1, 64)]
        elif op == 4 and out:  # duplicate a range
            n = rnd.randint(1, 256)
            out[pos:pos] = out[max(0, pos - n):pos]
        elif op == 5:  # interesting bytes
            chunk = rnd.choice(_INTERESTING)
            out[pos:pos + len(chunk)] = chunk
        elif op == 6 and len(out) >= 8:  # a length prefix (safetensors) of any size
            value = rnd.choice([0, 1, 7, 8, len(out), len(out) - 8, 2**32, 2**63, 2**64 - 1,
                                rnd.randrange(2**64)])
            out[:8] = struct.pack("<Q", value)
        elif op == 7 and len(out) >= 4:  # overwrite a 4-byte word (IDX dims) with an extreme
            i = rnd.randrange(len(out) - 3)
            out[i:i + 4] = rnd.choice([0, 1, 2**31, 2**32 - 1, rnd.randrange(2**32)]).to_bytes(
                4, "big")
    return bytes(out)


# -- JSON-level mutations of a model header -----------------------------------------------------
_RAW = "\u0000RAW{}\u0000"
_RAW_TEXT = ["1e400", "-1e400", "1" * 5000, "NaN", "Infinity", "-Infinity", "1E-400",
             "123456789012345678901234567890123456789", "-0.0", "[" * 100 + "]" * 100,
             '{"a":1,"a":2}', "0.1e99999"]
_KEYS = ["name", "type", "n_in", "n_out", "activation", "bias", "init", "rate", "layers", "loss",
         "dtype", "l2", "config", "t", "lr", "state", "inc", "bit_generator", "has_uint32",
         "uinteger", "shape", "data_offsets", "x", "", "__metadata__"]
_STRINGS = ["", "float32", "float64", "(2,f4", "Dense", "Dropout", "relu", "softmax", "adam",
            "PCG64", "F32", "F64", "I64", "BF16", "x" * 300, "\u0000", "é", "constant",
            "cross_entropy", "chainrule.mlp", "1"]


def random_json(rnd: random.Random, depth: int = 0) -> Any:
    """A JSON value with a bias to the types and edge values a model header holds."""
    kind = rnd.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rnd.random() < 0.5
    if kind == 2:
        return rnd.choice([0, 1, -1, 2, 3, 16, 2**31, 2**32, 2**53 + 1, 2**63, 2**64, 2**128,
                           -(2**200), 10**18, rnd.randint(-1000, 1000)])
    if kind == 3:
        return rnd.choice([0.0, -0.0, 0.5, 1.0, -1.0, 1e-320, 1e308, -1e308, 3.5, 0.999999])
    if kind == 4:
        return rnd.choice(_STRINGS)
    if kind == 5:
        return _RAW.format(rnd.randrange(len(_RAW_TEXT)))
    if kind in (6, 7):
        return [random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    if kind == 8:
        return {rnd.choice(_KEYS): random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}
    nested: Any = rnd.choice([0, "x", None])
    for _ in range(rnd.randint(10, 120)):
        nested = [nested] if rnd.random() < 0.5 else {"a": nested}
    return nested


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


def _dumps(value: Any) -> str:
    text = json.dumps(value)
    for i, raw in enumerate(_RAW_TEXT):
        text = text.replace(json.dumps(_RAW.format(i)), raw)
    return text


def mutate_model_json(data: bytes, rnd: random.Random) -> bytes:
    """1–3 edits of the parsed header (tensor table and each JSON metadata value): type
    swaps, huge and non-finite numbers, deep nesting, missing and extra keys, shuffled
    list entries. The tensor bytes stay as they were."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    parsed = {}
    for k, v in meta.items():
        try:
            parsed[k] = (True, json.loads(v))
        except json.JSONDecodeError:
            parsed[k] = (False, v)
    doc: dict[str, Any] = {"tensors": header, "meta": {k: v for k, (_, v) in parsed.items()}}
    for _ in range(rnd.randint(1, 3)):
        paths = [p for p in _paths(doc) if len(p) >= 2]
        in_meta = [p for p in paths if p[0] == "meta"]
        # mostly the metadata: the tensor table is simpler, and byte edits reach it too
        path = rnd.choice(in_meta if in_meta and rnd.random() < 0.75 else paths)
        parent, key = _get(doc, path[:-1]), path[-1]
        op = rnd.randrange(6)
        if op <= 1:  # replace with any value (type swaps)
            parent[key] = random_json(rnd)
        elif op == 2 and isinstance(parent, dict):  # delete a key
            del parent[key]
        elif op == 2:  # drop a list entry
            parent.pop(key)
        elif op == 3 and isinstance(parent, dict):  # add a key
            parent[rnd.choice(_KEYS)] = random_json(rnd)
        elif op == 3:  # duplicate a list entry
            parent.insert(key, parent[key])
        elif op == 4:  # an edge number or raw JSON text
            parent[key] = _RAW.format(rnd.randrange(len(_RAW_TEXT)))
        else:  # swap with another value
            other = rnd.choice(paths)
            o_parent = _get(doc, other[:-1])
            try:
                parent[key], o_parent[other[-1]] = o_parent[other[-1]], parent[key]
            except (KeyError, IndexError, TypeError):
                pass
    tensors = doc.get("tensors")
    new_meta = doc.get("meta")
    if isinstance(new_meta, dict):
        new_meta = {k: (_dumps(v) if parsed.get(k, (True, None))[0] or not isinstance(v, str)
                        else v) for k, v in new_meta.items()}
    if isinstance(tensors, dict):
        head_obj: Any = {"__metadata__": new_meta, **tensors}
    else:
        head_obj = [new_meta, tensors]
    head = _dumps(head_obj).encode()
    return struct.pack("<Q", len(head)) + head + data[8 + n:]


# -- format-aware mutations ---------------------------------------------------------------------
def mutate_idx(data: bytes, rnd: random.Random) -> bytes:
    """Header edits (type code, dimension count, sizes), body edits, re-gzipping, bombs."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    zipped = data[:2] == b"\x1f\x8b"
    op = rnd.randrange(6)
    if op == 0:  # type code / ndim / one size
        out = bytearray(raw)
        field = rnd.randrange(3)
        if field == 0:
            out[2] = rnd.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x42, 0xFF])
        elif field == 1:
            out[3] = rnd.choice([0, 1, 2, 3, 4, 33, 64, 65, 255])
        else:
            i = 4 + 4 * rnd.randrange(max(1, out[3]))
            out[i:i + 4] = rnd.choice([0, 1, 2**16, 2**31, 2**32 - 1]).to_bytes(4, "big")
        raw = bytes(out)
    elif op == 1:  # a bomb: a small header, then far more zeros than it declares
        raw = raw[:4 + 4 * raw[3]] + bytes(rnd.choice([10**6, 20 * 10**6]))
    elif op == 2:  # a header declaring a huge array, backed by little data
        raw = bytes([0, 0, 0x08, 3]) + b"".join(
            rnd.choice([60000, 2**16, 2**31]).to_bytes(4, "big") for _ in range(3)) + raw[16:]
    else:
        raw = mutate_bytes(raw, rnd)
    if zipped or rnd.random() < 0.3:
        blob = gzip.compress(raw, mtime=0)
        return mutate_bytes(blob, rnd) if rnd.random() < 0.4 else blob
    return raw


_CELLS = ["", "inf", "-inf", "nan", "NaN", "1e400", "1e309", "-1e309", "x", '"', '""', '"1,2"',
          "\x00", "9" * 400, " 1 ", "0x10", "1_000", "\u0661", "infinity", "+1", "-0", "1e-400",
          "2", "0", "3.5", "\ufeff1", "\r", "a\nb", "1" * 5000]


def mutate_csv(data: bytes, rnd: random.Random) -> bytes:
    """Cell, row and header edits (non-finite and odd numbers, quotes, NULs, ragged rows,
    duplicate or missing columns), or byte edits."""
    if rnd.random() < 0.25:
        return mutate_bytes(data, rnd)
    lines = data.decode("utf-8").split("\n")
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randrange(len(lines))
        cells = lines[i].split(",")
        op = rnd.randrange(6)
        if op <= 2:
            cells[rnd.randrange(len(cells))] = rnd.choice(_CELLS)
        elif op == 3:
            cells.insert(rnd.randrange(len(cells) + 1), rnd.choice(_CELLS))
        elif op == 4 and len(cells) > 1:
            cells.pop(rnd.randrange(len(cells)))
        elif len(lines) > 1:
            lines.pop(i) if rnd.random() < 0.5 else lines.insert(i, lines[i])
            continue
        lines[i] = ",".join(cells)
    if rnd.random() < 0.1:
        lines[0] = rnd.choice(["a,a,t", "a,b", "", "t", "a,b,t,t", "\ufeffa,b,t"])
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def _npy_member(header: dict[str, Any], body: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + body


def _odd_array(rnd: random.Random, rows: int) -> np.ndarray:
    choice = rnd.randrange(11)
    if choice == 0:
        return np.array([{"a": 1}, None] * max(1, rows // 2), dtype=object)
    if choice == 1:
        return np.full((rows, 2), rnd.choice([np.inf, -np.inf, np.nan]))
    if choice == 2:
        return np.array(["inf", "1", "x"] * rows)[:rows]
    if choice == 3:
        return np.ones((rows, 2), dtype=complex)
    if choice == 4:
        return np.zeros((rows, 2), dtype=bool)
    if choice == 5:
        return np.zeros((0, 3))
    if choice == 6:
        return np.zeros((rows, 2, 2))
    if choice == 7:
        return np.array(3.0)
    if choice == 8:
        return np.zeros(rows, dtype=[("a", "<f8"), ("b", "<i4")])
    if choice == 9:
        return np.array(["2020-01-01"] * rows, dtype="datetime64[D]")
    return np.arange(rows + rnd.choice([-1, 1])).astype(float)


def mutate_npz(data: bytes, rnd: random.Random) -> bytes:
    """Odd members (object, non-finite, complex, string, structured, mis-shaped arrays),
    forged .npy headers (shape and dtype) inside the archive, forged zip sizes, and byte
    edits of stored and deflated archives."""
    op = rnd.randrange(5)
    if op == 0:
        arrays = {"X": np.zeros((4, 2)), "y": np.arange(4) % 2}
        arrays[rnd.choice(["X", "y"])] = _odd_array(rnd, 4)
        if rnd.random() < 0.2:
            arrays.pop(rnd.choice(["X", "y"]))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", rnd.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
                             ) as zf:
            for k, v in arrays.items():
                member = io.BytesIO()
                np.save(member, v, allow_pickle=True)
                zf.writestr(k + rnd.choice([".npy", ".npy", ""]), member.getvalue())
        return buf.getvalue()
    if op == 1:  # a forged header: declared shape/dtype differ from the bytes
        header = {"descr": rnd.choice(["<f8", "<f4", "|O", "<c16", "|b1", "<U3", "<i8", ">f8"]),
                  "fortran_order": rnd.random() < 0.2,
                  "shape": rnd.choice([(10**9, 3), (4, 2), (2**62, 2), (0, 3), (4,), (),
                                       (-1, 2), (3, 0)])}
        body = np.zeros((4, 2)).tobytes()[: rnd.choice([64, 0, 8, 100])]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("X.npy", _npy_member(header, body))
            zf.writestr("y.npy", _npy_member({"descr": "<i8", "fortran_order": False,
                                              "shape": (4,)}, bytes(32)))
        return buf.getvalue()
    if op == 2:  # a forged uncompressed size in the central directory
        out = bytearray(data)
        at = out.rfind(b"PK\x01\x02")
        if at >= 0:
            out[at + 24:at + 28] = rnd.choice([0, 2**32 - 1, 10**9]).to_bytes(4, "little")
        return bytes(out)
    return mutate_bytes(data, rnd)


def mutate_npy(data: bytes, rnd: random.Random) -> bytes:
    if rnd.random() < 0.4:
        header = {"descr": rnd.choice(["<f8", "|O", "<c16", "<U3", "|V8"]),
                  "fortran_order": rnd.random() < 0.5,
                  "shape": rnd.choice([(10**9, 3), (4, 3), (2**62, 2), (12,), (2, 2, 3)])}
        return _npy_member(header, data[128:][: rnd.choice([96, 8, 0])])
    return mutate_bytes(data, rnd)


MUTATORS: dict[str, list[Callable[[bytes, random.Random], bytes]]] = {
    "model": [mutate_bytes, mutate_model_json, mutate_model_json],
    "idx": [mutate_idx, mutate_bytes],
    "csv": [mutate_csv],
    "npz": [mutate_npz],
    "npy": [mutate_npy],
}


def mutate(fmt: str, data: bytes, rnd: random.Random) -> bytes:
    return rnd.choice(MUTATORS[fmt])(data, rnd)


# -- running one case -----------------------------------------------------------------------
def _load_model(path: Path) -> None:
    cio.read_model(path)


def _load_idx(path: Path) -> None:
    datasets.read_idx(path)


def _load_csv(path: Path) -> None:
    try:
        datasets.load_csv(path, target="t")
    finally:
        datasets.read_features_csv(path, ["a", "b"])


def _load_npz(path: Path) -> None:
    try:
        datasets.load_npz(path)
    finally:
        datasets.read_features_numpy(path)


def _load_npy(path: Path) -> None:
    datasets.read_features_numpy(path)


LOADERS: dict[str, Callable[[Path], None]] = {
    "model": _load_model, "idx": _load_idx, "csv": _load_csv, "npz": _load_npz,
    "npy": _load_npy,
}
SUFFIX = {"model": ".safetensors", "idx": ".idx", "csv": ".csv", "npz": ".npz", "npy": ".npy"}


class _Timeout(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` swallows it."""


@dataclass
class Outcome:
    kind: str  # "ok", "refused", "crash", "timeout", "memory"
    error: str  # the exception's type and message ("" on success)
    seconds: float
    peak_bytes: int

    @property
    def documented(self) -> bool:
        return self.kind in ("ok", "refused")


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def run_case(fmt: str, data: bytes, workdir: Path, *, trace_memory: bool = True,
             time_limit: float = TIME_LIMIT_S) -> Outcome:
    """Write ``data`` to a file and load it as ``fmt`` under a time limit and tracemalloc."""
    path = workdir / f"case{SUFFIX[fmt]}"
    path.write_bytes(data)
    budget = 2 * len(data) + MEMORY_SLACK
    previous = signal.signal(signal.SIGALRM, _alarm)
    started_here = trace_memory and not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    if trace_memory:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    kind, error = "ok", ""
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        LOADERS[fmt](path)
    except _Timeout:
        kind, error = "timeout", f"over {time_limit} s"
    except FileFormatError as exc:
        kind, error = "refused", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the finding this campaign looks for
        kind, error = "crash", f"{type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base if trace_memory else 0
        if started_here:
            tracemalloc.stop()
    if kind in ("ok", "refused") and seconds > time_limit:
        kind, error = "timeout", f"{seconds:.1f} s"
    if kind in ("ok", "refused") and peak > budget:
        kind, error = "memory", f"peak {peak:,} bytes > budget {budget:,} ({error})"
    return Outcome(kind, error[:300], seconds, peak)


# -- the campaign ---------------------------------------------------------------------------
def campaign(formats: list[str], cases: int, seed: int, save: Path | None,
             trace_memory: bool = True, verbose: bool = True) -> dict[str, Any]:
    all_seeds = seeds()
    rnd = random.Random(seed)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tracemalloc.start()
        for fmt in formats:
            counts: collections.Counter[str] = collections.Counter()
            errors: collections.Counter[str] = collections.Counter()
            findings = []
            times, peaks, ratio = [], [], 0.0
            names = sorted(all_seeds[fmt])
            t0 = time.perf_counter()
            for i in range(cases):
                data = mutate(fmt, all_seeds[fmt][rnd.choice(names)], rnd)
                out = run_case(fmt, data, work, trace_memory=trace_memory)
                counts[out.kind] += 1
                if out.kind == "refused":
                    errors[out.error.split(":")[0]] += 1
                times.append(out.seconds)
                peaks.append(out.peak_bytes)
                ratio = max(ratio, out.peak_bytes / (2 * len(data) + MEMORY_SLACK))
                if not out.documented:
                    findings.append((i, out))
                    if save is not None:
                        save.mkdir(parents=True, exist_ok=True)
                        (save / f"{fmt}-{seed}-{i}{SUFFIX[fmt]}").write_bytes(data)
            wall = time.perf_counter() - t0
            results[fmt] = {
                "cases": cases, "outcomes": dict(counts), "refusals_by_type": dict(errors),
                "max_seconds": max(times), "median_ms": 1000 * float(np.median(times)),
                "max_peak_bytes": max(peaks), "max_peak_over_budget": ratio,
                "wall_seconds": wall,
                "findings": [f"case {i}: {o.kind}: {o.error}" for i, o in findings[:20]],
            }
            if verbose:
                r = results[fmt]
                print(f"{fmt:>6}: {cases} cases in {wall:.1f} s — " + ", ".join(
                    f"{k} {v}" for k, v in sorted(counts.items())) +
                    f"; slowest {r['max_seconds'] * 1000:.0f} ms, median {r['median_ms']:.2f} ms; "
                    f"peak {r['max_peak_bytes'] / 2**20:.1f} MiB "
                    f"({100 * ratio:.1f} % of the budget)", flush=True)
                for line in r["findings"]:
                    print("        " + line)
        tracemalloc.stop()
    results["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=2000, help="cases per format")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--save", type=Path, default=None, help="keep the files of findings here")
    p.add_argument("--no-memory", action="store_true", help="skip tracemalloc (faster)")
    p.add_argument("--json", type=Path, default=None, help="write the counts here")
    args = p.parse_args(argv)
    formats = [f for f in args.formats.split(",") if f]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        p.error(f"unknown format(s) {', '.join(unknown)}; valid: {', '.join(FORMATS)}")
    print(f"chainrule {chainrule.__version__}, numpy {np.__version__}, python "
          f"{sys.version.split()[0]}; {args.cases} cases per format, seed {args.seed}")
    results = campaign(formats, args.cases, args.seed, args.save, not args.no_memory)
    print(f"max RSS of the whole campaign: {results['max_rss_mib']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    bad = sum(sum(v for k, v in r["outcomes"].items() if k not in ("ok", "refused"))
              for f, r in results.items() if f in FORMATS)
    print("findings:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
