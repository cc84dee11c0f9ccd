"""chainrule.io: safetensors model files: round trip, interop, resume, refusals, atomic save."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.io import model as io
from chainrule.io.errors import FileFormatError
from chainrule.io.model import ModelFileError
from chainrule.io.schema import (
    AnyJSON,
    Int,
    Invalid,
    List,
    Null,
    Num,
    Obj,
    OneOf,
    Schema,
    Str,
    Tagged,
    where,
)


def trained_net(seed: int = 0, dropout: float = 0.0, epochs: int = 2) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 5)) * 3 + 1
    y = (X[:, 0] + X[:, 1] > 2).astype(np.int64) + (X[:, 2] > 1)
    net = chainrule.MLP([5, 16, 8, 3], hidden="tanh", output="softmax", loss="cross_entropy",
                        seed=seed, dropout=dropout)
    net.scaler = chainrule.Standardizer.fit(X)
    net.classes = ["low", "mid", "high"]
    net.fit(X, y, epochs=epochs, batch_size=16, optimizer="adam")
    return net, X, y


def test_round_trip_predicts_bit_identically(tmp_path: Path) -> None:
    net, X, _ = trained_net()
    path = chainrule.save(net, tmp_path / "m.safetensors")
    loaded = chainrule.load(path)
    assert np.array_equal(loaded.predict(X), net.predict(X))
    assert loaded.classes == ["low", "mid", "high"]
    assert loaded.get_config() == net.get_config()
    assert loaded.optimizer is not None and loaded.optimizer.t == net.optimizer.t
    for slot in ("m", "v"):
        assert np.array_equal(loaded.optimizer.state[slot], net.optimizer.state[slot])


def test_float64_network_without_scaler_or_optimizer(tmp_path: Path) -> None:
    net = chainrule.MLP([3, 4, 1], hidden="leaky_relu", dtype="float64", seed=1, l2=0.01)
    chainrule.save(net, tmp_path / "m.safetensors")
    loaded = chainrule.load(tmp_path / "m.safetensors")
    assert loaded.dtype == np.float64 and loaded.scaler is None and loaded.optimizer is None
    assert loaded.l2 == 0.01
    x = np.random.default_rng(0).normal(size=(7, 3))
    assert np.array_equal(loaded.predict(x), net.predict(x))


def test_resumed_training_equals_uninterrupted_training(tmp_path: Path) -> None:
    """Save after 2 epochs, load, train 2 more: identical to 4 epochs straight.

    This needs the optimizer's t and moments and the generator's state (shuffling and
    dropout masks) to come back exactly; a reset Adam would jump (fresh bias correction).
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)

    def fresh() -> chainrule.Network:
        return chainrule.MLP([5, 16, 2], output="softmax", loss="cross_entropy", seed=3,
                             dropout=0.2)

    straight = fresh()
    h_straight = straight.fit(X, y, epochs=4, batch_size=16, optimizer="adam")
    first = fresh()
    h1 = first.fit(X, y, epochs=2, batch_size=16, optimizer="adam")
    chainrule.save(first, tmp_path / "m.safetensors")
    resumed = chainrule.load(tmp_path / "m.safetensors")
    h2 = resumed.fit(X, y, epochs=2, batch_size=16)  # no optimizer given: the saved one
    assert resumed.optimizer is not None and resumed.optimizer.t == straight.optimizer.t
    assert h1["loss"] + h2["loss"] == h_straight["loss"]
    assert np.array_equal(resumed.params, straight.params)
    # and against a reset optimizer the curve would differ
    reset = chainrule.load(tmp_path / "m.safetensors")
    h_reset = reset.fit(X, y, epochs=2, batch_size=16, optimizer="adam")
    assert h_reset["loss"] != h2["loss"]


def test_files_interoperate_with_the_safetensors_package(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    net, X, _ = trained_net()
    path = chainrule.save(net, tmp_path / "m.safetensors")
    theirs = safetensors_numpy.load_file(str(path))
    assert set(theirs) == {"layers.1.w", "layers.1.b", "layers.2.w", "layers.2.b", "layers.3.w",
                           "layers.3.b", "scaler.mean", "scaler.scale", "optimizer.m",
                           "optimizer.v"}
    assert np.array_equal(theirs["layers.2.w"], net.dense_layers[1].w)
    # and the other way: a file written by safetensors, with our metadata, loads here
    arrays, metadata = io.loads_safetensors(path.read_bytes())
    safetensors_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata=metadata)
    again = chainrule.load(tmp_path / "theirs.safetensors")
    assert np.array_equal(again.predict(X), net.predict(X))


def test_container_round_trip_of_every_dtype(tmp_path: Path) -> None:
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.5]),
              "c": np.arange(3, dtype=np.int64), "empty": np.zeros((0, 4))}
    data = io.dumps_safetensors(arrays, {"k": "v"})
    back, meta = io.loads_safetensors(data)
    assert meta == {"k": "v"}
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)
    assert (len(data) - 8 - struct.unpack("<Q", data[:8])[0]) == sum(v.nbytes for v in
                                                                     arrays.values())


# -- refusals ----------------------------------------------------------------------------
@pytest.fixture
def model_bytes() -> bytes:
    net, _, _ = trained_net()
    return io.model_to_bytes(net)


def rewrite(data: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    """Apply ``edit`` to the parsed header and re-serialize the same data bytes."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    edit(header)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + data[8 + n :]


def set_meta(key: str, value: str):  # type: ignore[no-untyped-def]
    def edit(h: dict) -> None:
        h["__metadata__"][key] = value
    return edit


def set_config_layer0(key: str, value: object):  # type: ignore[no-untyped-def]
    def edit(h: dict) -> None:
        cfg = json.loads(h["__metadata__"]["config"])
        cfg["layers"][0][key] = value
        h["__metadata__"]["config"] = json.dumps(cfg)
    return edit


def edit_tensor(name: str, key: str, value: object):  # type: ignore[no-untyped-def]
    def edit(h: dict) -> None:
        h[name][key] = value
    return edit


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: d[: len(d) // 2], "outside the .* data bytes \\(truncated file\\?\\)"),
        (lambda d: d[:5], "too short for a safetensors file"),
        (lambda d: d[:8] + b"{not json" + d[17:], "header is not valid JSON"),
        (lambda d: rewrite(d, set_meta("format_version", "99")),
         "format version '99' is not supported; this chainrule reads version 1"),
        (lambda d: rewrite(d, set_meta("format", "something-else")), "not a chainrule model"),
        (lambda d: rewrite(d, edit_tensor("layers.1.w", "shape", [8, 10])),
         "'layers.1.w' has shape \\(8, 10\\) .* expected \\(16, 5\\)"),
        (lambda d: rewrite(d, edit_tensor("layers.1.w", "shape", [8, 11])),
         "do not hold shape \\[8, 11\\]"),
        (lambda d: rewrite(d, set_config_layer0("n_out", 8)),
         "n_in=16 does not match|tensor 'layers.1.w' has shape"),
        (lambda d: rewrite(d, edit_tensor("layers.1.w", "dtype", "F64")),
         "bytes do not hold shape"),
        (lambda d: rewrite(d, edit_tensor("layers.1.b", "data_offsets", [0, 10**9])),
         "fall outside the"),
        (lambda d: rewrite(d, edit_tensor("layers.1.b", "dtype", "BF16")),
         "dtype 'BF16' is not one of F32, F64, I64"),
        (lambda d: rewrite(d, set_config_layer0("activation", {"name": "swish"})),
         "unknown activation 'swish'"),
        (lambda d: rewrite(d, lambda h: h.pop("optimizer.v")), "overlaps or leaves gaps"),
    ],
)
def test_invalid_files_are_refused(tmp_path: Path, model_bytes: bytes, mangle,  # type: ignore[no-untyped-def]
                                   message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(mangle(model_bytes))
    with pytest.raises(ModelFileError, match=message) as info:
        chainrule.load(path)
    assert str(path) in str(info.value)


def test_huge_declared_layer_is_refused_before_allocating(tmp_path: Path) -> None:
    net, _, _ = trained_net()
    arrays, meta = io.loads_safetensors(io.model_to_bytes(net))
    cfg = json.loads(meta["config"])
    cfg["layers"][0]["n_out"] = cfg["layers"][1]["n_in"] = 10**7  # 10^8 weights: 400 MB
    meta["config"] = json.dumps(cfg)
    (tmp_path / "m.safetensors").write_bytes(io.dumps_safetensors(arrays, meta))
    with pytest.raises(ModelFileError, match="'layers.1.w' has shape \\(16, 5\\) .*"
                       "expected \\(10000000, 5\\)"):
        chainrule.load(tmp_path / "m.safetensors")


def test_deeply_nested_header_is_refused(tmp_path: Path) -> None:
    head = b"[" * 100_000 + b"]" * 100_000
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(head)) + head)
    with pytest.raises(ModelFileError, match="header is not valid JSON"):
        chainrule.load(tmp_path / "m.safetensors")


def test_wrong_dtype_against_the_config_is_refused(tmp_path: Path) -> None:
    net, _, _ = trained_net()
    arrays, meta = io.loads_safetensors(io.model_to_bytes(net))
    arrays["layers.2.w"] = arrays["layers.2.w"].astype(np.float64)
    (tmp_path / "m.safetensors").write_bytes(io.dumps_safetensors(arrays, meta))
    with pytest.raises(ModelFileError, match="'layers.2.w' has shape \\(8, 16\\) and dtype "
                       "float64, expected \\(8, 16\\) and float32"):
        chainrule.load(tmp_path / "m.safetensors")


def test_extra_or_missing_tensor_is_refused(tmp_path: Path) -> None:
    net, _, _ = trained_net()
    arrays, meta = io.loads_safetensors(io.model_to_bytes(net))
    arrays["layers.9.w"] = np.zeros(3, np.float32)
    del arrays["optimizer.v"]
    (tmp_path / "m.safetensors").write_bytes(io.dumps_safetensors(arrays, meta))
    with pytest.raises(ModelFileError, match="unexpected: layers.9.w; missing: optimizer.v"):
        chainrule.load(tmp_path / "m.safetensors")


def test_paths_that_are_not_model_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model file"):
        chainrule.load(tmp_path / "missing" / "model.safetensors")
    with pytest.raises(ModelFileError, match="is a directory"):
        chainrule.load(tmp_path)
    net, _, _ = trained_net()
    with pytest.raises(FileNotFoundError, match="the directory .*missing does not exist"):
        chainrule.save(net, tmp_path / "missing" / "model.safetensors")
    with pytest.raises(ValueError, match="is a directory"):
        chainrule.save(net, tmp_path)


def test_interrupted_save_leaves_the_previous_file_intact(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    old, X, _ = trained_net(seed=0)
    path = chainrule.save(old, tmp_path / "model.safetensors")
    before = path.read_bytes()
    new, _, _ = trained_net(seed=1)

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        chainrule.save(new, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert np.array_equal(chainrule.load(path).predict(X), old.predict(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temp left


def test_saved_files_get_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = io.atomic_write_bytes(tmp_path / "f.bin", b"x")
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)
        io.atomic_write_bytes(path, b"y")  # an existing file keeps its mode
        assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == b"y"
    finally:
        os.umask(umask)


# -- regressions found by fuzzing (issue 14): each is the documented error, naming the place --
def edit_meta_json(key: str, path: list, value: object):  # type: ignore[no-untyped-def]
    """Set ``value`` at ``path`` inside the JSON metadata entry ``key`` (empty path: all)."""
    def edit(h: dict) -> None:
        doc = json.loads(h["__metadata__"][key])
        if not path:
            doc = value
        else:
            target = doc
            for p in path[:-1]:
                target = target[p]
            target[path[-1]] = value
        h["__metadata__"][key] = json.dumps(doc)
    return edit


def replace_meta_text(key: str, old: str, new: str):  # type: ignore[no-untyped-def]
    def edit(h: dict) -> None:
        assert old in h["__metadata__"][key]
        h["__metadata__"][key] = h["__metadata__"][key].replace(old, new)
    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # a layer entry that is not an object (was AttributeError)
        (edit_meta_json("config", ["layers", 1], 5),
         "config.layers\\[1\\]: expected an object, got integer"),
        # a tensor dtype that is a list (was TypeError: unhashable)
        (edit_tensor("layers.1.w", "dtype", ["F32"]),
         "tensor 'layers.1.w' dtype: expected a string, got list"),
        # a shape containing true (was TypeError)
        (edit_tensor("layers.1.w", "shape", [True, 5]),
         "tensor 'layers.1.w' shape\\[0\\]: expected an integer, got boolean"),
        # t = 1e400 (was OverflowError)
        (replace_meta_text("optimizer", '"t": 16', '"t": 1e400'),
         "optimizer.t: expected an integer, got number"),
        # an out-of-range generator state (was OverflowError)
        (edit_meta_json("rng", ["state", "state"], 2**200),
         "rng.state.state: expected an integer in \\[0, "),
        (edit_meta_json("rng", ["uinteger"], -1), "rng.uinteger: expected an integer in"),
        # config.dtype = "(2,f4" (was SyntaxError from np.dtype)
        (edit_meta_json("config", ["dtype"], "(2,f4"),
         "config: dtype '\\(2,f4' is not one of float32, float64"),
        # more dimensions than NumPy takes (was a NumPy ValueError)
        (edit_tensor("layers.1.w", "shape", [1] * 70),
         "tensor 'layers.1.w' shape: expected a list of 0 to 32 items, got 70"),
        (edit_meta_json("config", ["layers", 1, "activation"], ["tanh"]),
         "config.layers\\[1\\].activation: expected null, a string or an object, got list"),
        (edit_meta_json("config", ["layers", 0, "n_in"], 1.5),
         "config.layers\\[0\\].n_in: expected an integer, got number"),
        (edit_meta_json("config", ["l2"], -1), "config.l2: expected a number ≥ 0.0, got -1"),
        (edit_meta_json("config", ["loss"], None),
         "config.loss: expected a string or an object, got null"),
        (edit_meta_json("optimizer", ["config", "lr"], "fast"),
         "optimizer.config.lr: expected a number or an object, got string"),
        (edit_meta_json("optimizer", ["config", "bogus"], 1),
         "optimizer.config: invalid optimizer \\(.*bogus"),
        (edit_meta_json("classes", [], ["low", "low", "high"]),
         "classes\\[1\\]: 'low' repeats classes\\[0\\]"),
        (edit_meta_json("feature_names", [], ["a"]), "feature_names: 1 names for 5 inputs"),
        (edit_meta_json("scaler", [], "yes"), "scaler: expected true or false, got string"),
        # type-confused training metadata (crashed `chainrule info`)
        (edit_meta_json("training", ["config"], [1]),
         "training.config: expected an object, got list"),
        (edit_meta_json("training", ["test"], 3), "training.test: expected an object"),
        (edit_meta_json("config", ["layers", 0], {"type": "Conv"}),
         "config.layers\\[0\\]: type 'Conv' is not one of Dense, Dropout"),
        (lambda h: h["__metadata__"].pop("rng"), "metadata lacks 'rng'"),
        (lambda h: h["__metadata__"].__setitem__("config", "[" * 100 + "]" * 100),
         "metadata 'config' is not valid JSON \\(nested 100 levels deep; at most 64"),
        (lambda h: h["__metadata__"].__setitem__("classes", "1" * 5000),
         "metadata 'classes' is not valid JSON"),
        (lambda h: h["__metadata__"].__setitem__("classes", "[NaN, 1, 2]"),
         "metadata 'classes' is not valid JSON \\(NaN is not a JSON number\\)"),
        (lambda h: h["__metadata__"].__setitem__("scaler", 1),
         "__metadata__.scaler: expected a string, got integer"),
    ],
)
def test_fuzzed_headers_are_refused_naming_the_key(tmp_path: Path, model_bytes: bytes,  # type: ignore[no-untyped-def]
                                                   edit, message: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(rewrite(model_bytes, edit))
    with pytest.raises(ModelFileError, match=message) as info:
        chainrule.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert isinstance(info.value, FileFormatError)


def test_duplicate_keys_in_the_header_are_refused(tmp_path: Path, model_bytes: bytes) -> None:
    n = struct.unpack("<Q", model_bytes[:8])[0]
    head = model_bytes[8 : 8 + n].rstrip()
    assert head.endswith(b"}")
    head = head[:-1] + b',"__metadata__":{}}'
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(head)) + head
                                             + model_bytes[8 + n :])
    with pytest.raises(ModelFileError, match="header is not valid JSON \\(duplicate key "
                       "'__metadata__'\\)"):
        chainrule.load(tmp_path / "m.safetensors")


def test_oversized_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 99 MB header used to reach 1.17 GiB resident before it was refused."""
    import tracemalloc

    path = tmp_path / "big.safetensors"
    n = 99_000_000
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", n) + b"[")
        fh.truncate(8 + n)  # sparse: the size is real, nothing is written
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="header length 99,000,000 exceeds the "
                           "4,194,304 bytes a chainrule header may have"):
            chainrule.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    # declared longer than the file: refused from the size alone
    path.write_bytes(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(ModelFileError, match="exceeds the file size 10"):
        chainrule.load(path)


def test_too_many_json_objects_are_refused(tmp_path: Path, model_bytes: bytes) -> None:
    many = "[" + ",".join(["{}"] * 200_000) + "]"
    path = tmp_path / "m.safetensors"
    path.write_bytes(rewrite(model_bytes, set_meta("training", many)))
    with pytest.raises(ModelFileError, match="200,001 objects and arrays; at most 100,000"):
        chainrule.load(path)


def test_unreadable_model_file_is_named(tmp_path: Path, model_bytes: bytes,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(model_bytes)

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(io, "open", deny, raising=False)
    with pytest.raises(ModelFileError, match="model.safetensors: cannot be read: permission "
                       "denied"):
        chainrule.load(path)
    monkeypatch.undo()
    if os.geteuid() != 0:  # root reads anything
        path.chmod(0)
        with pytest.raises(ModelFileError, match="permission denied"):
            chainrule.load(path)


def test_loads_safetensors_names_its_source() -> None:
    with pytest.raises(ModelFileError, match="^upload.bin: 3 bytes is too short"):
        io.loads_safetensors(b"abc", "upload.bin")


# -- the schema library (io/schema.py) on its own ---------------------------------------------
def _reason(schema: Schema, value: object) -> tuple[str, str]:
    with pytest.raises(Invalid) as info:
        schema.check(value, ("cfg",))
    return where(info.value.path), info.value.reason


def test_schema_names_the_key_path_and_the_reason() -> None:
    layer = Obj(required={"n_out": Int(1)}, optional={"act": OneOf(Null(), Str())})
    config = Obj(required={"layers": List(layer, 1)})
    assert _reason(config, {"layers": [{"n_out": 3}, {"n_out": 0}]}) == (
        "cfg.layers[1].n_out", "expected an integer ≥ 1, got 0")
    assert _reason(config, {"layers": [{"n_out": 3, "act": 2}]}) == (
        "cfg.layers[0].act", "expected null or a string, got integer")
    assert _reason(config, {"layers": [{"n_out": 3, "bias": True}]}) == (
        "cfg.layers[0]", "unknown key 'bias' (expected n_out, act)")
    assert _reason(config, {"layers": []}) == ("cfg.layers",
                                                "expected a list of at least 1 items, got 0")
    assert where(("tensor 'layers.1.w'", "dtype")) == "tensor 'layers.1.w' dtype"


def test_schema_bounds_numbers_and_picks_tagged_variants() -> None:
    assert _reason(Num(0.0, 1.0, lo_open=True), 0.0) == ("cfg",
                                                         "expected a number in (0.0, 1.0], got 0.0")
    assert _reason(Num(), float("inf"))[1] == "expected a finite number, got inf"
    assert _reason(Int(0, 5), True)[1] == "expected an integer, got boolean"
    shapes = Tagged("kind", {"box": Obj(required={"kind": Str(), "side": Num(0.0)})})
    shapes.check({"kind": "box", "side": 2.0}, ())
    assert _reason(shapes, {"kind": "ball"}) == ("cfg", "kind 'ball' is not one of box")
    AnyJSON().check({"anything": [1, None]}, ())


def test_schema_wording_is_a_method_a_reader_overrides() -> None:
    class Percent(Int):
        def wrong_type(self, value: object) -> str:
            return f"expected a percentage, got {value!r}"

        def out_of_range(self, value: object) -> str:
            return f"expected {self.lo}..{self.hi} percent, got {value!r}"

    assert _reason(Percent(0, 100), "x")[1] == "expected a percentage, got 'x'"
    assert _reason(Percent(0, 100), 101)[1] == "expected 0..100 percent, got 101"
