"""chainrule.datasets: registry, embedded digits, splits, CSV/npz readers, MNIST download."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.datasets import mnist


# -- registry and embedded data --------------------------------------------------------------
def test_digits_is_embedded_and_matches_the_shared_copy(shared_data: Path) -> None:
    ds = datasets.load("digits")
    assert ds.X.shape == (1797, 64) and ds.y.shape == (1797,)
    assert ds.task == "classification" and ds.classes == list(range(10))
    assert ds.X.min() == 0 and ds.X.max() == 16
    table = np.loadtxt(gzip.open(shared_data / "digits" / "digits.csv.gz", "rt"), delimiter=",")
    np.testing.assert_array_equal(ds.X, table[:, :64])
    np.testing.assert_array_equal(ds.y, table[:, 64])


@pytest.mark.parametrize("name", ["xor", "circles", "moons", "spirals", "gaussians"])
def test_synthetic_sets_through_the_registry(name: str) -> None:
    a = datasets.load(name, n_samples=120, noise=0.05, seed=3)
    b = datasets.load(name, n_samples=120, noise=0.05, seed=3)
    assert a.X.shape == (120, 2) and a.n_outputs == 2
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, datasets.load(name, n_samples=120, noise=0.05, seed=4).X)


def test_unknown_dataset_or_option_is_refused() -> None:
    with pytest.raises(ValueError, match="valid names are digits, mnist"):
        datasets.load("imagenet")
    with pytest.raises(ValueError, match="dataset 'digits': .*unexpected keyword .*'noise'"):
        datasets.load("digits", noise=0.1)
    with pytest.raises(ValueError, match="dataset 'csv': give path=FILE"):
        datasets.load("csv", target="y")


# -- splits ----------------------------------------------------------------------------------
def test_split_is_seeded_disjoint_and_stratified() -> None:
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    s = datasets.split_indices(y.size, val=0.1, test=0.2, labels=y, seed=7)
    every = np.concatenate([s.train, s.val, s.test])
    assert np.array_equal(np.sort(every), np.arange(y.size))
    for c, n in enumerate([100, 50, 30, 20]):
        assert np.sum(y[s.test] == c) == round(0.2 * n)
        assert np.sum(y[s.val] == c) == round(0.1 * n)
    again = datasets.split_indices(y.size, val=0.1, test=0.2, labels=y, seed=7)
    assert np.array_equal(again.test, s.test)
    other = datasets.split_indices(y.size, val=0.1, test=0.2, labels=y, seed=8)
    assert not np.array_equal(other.test, s.test)


def test_split_fractions_are_validated() -> None:
    with pytest.raises(ValueError, match="val_split \\+ test_split"):
        datasets.split_indices(10, val=0.5, test=0.5)
    with pytest.raises(ValueError, match="test_split: expected a number in \\[0, 1\\)"):
        datasets.split_indices(10, test=1.5)


# -- CSV ---------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_classification_with_text_labels(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,kind\n1,2,cat\n3,4.5,dog\n-1,0,cat\n")
    ds = datasets.load_csv(path, target="kind")
    assert ds.task == "classification" and ds.classes == ["cat", "dog"]
    assert ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4.5], [-1, 0]])
    np.testing.assert_array_equal(ds.y, [0, 1, 0])


def test_csv_task_inference_and_override(tmp_path: Path) -> None:
    ints = write(tmp_path, "x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(9)))
    floats = write(tmp_path, "x,y\n" + "".join(f"{i},{i * 0.37}\n" for i in range(9)), "f.csv")
    assert datasets.load_csv(ints, "y").task == "classification"
    assert datasets.load_csv(ints, "y").classes == [0, 1, 2]
    reg = datasets.load_csv(floats, "y")
    assert reg.task == "regression" and reg.classes is None
    np.testing.assert_allclose(reg.y, np.arange(9) * 0.37)
    assert datasets.load_csv(ints, "y", task="regression").task == "regression"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("a,b,t\n", "only a header row"),
        ("a,b,t\n1,2,0\n3,4\n", "row 3 has 2 cells but the header has 3 columns"),
        ("a,b,t\n1,2,0\n3,inf,1\n", "row 3, column 2 \\('b'\\): 'inf' is not a finite number"),
        ("a,b,t\n1,,0\n2,3,0\n", "target column 't' holds one class only \\(0\\)"),
        ("a,b,c\n1,2,0\n", "no column 't' \\(the target\\); the columns are a, b, c"),
    ],
)
def test_bad_csv_files_are_refused_with_row_and_column(tmp_path: Path, text: str,
                                                         message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        datasets.load_csv(path, target="t")
    assert str(path) in str(info.value)


def test_read_features_csv_selects_the_model_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "b,target,a\n1,9,2\n3,9,4\n")
    np.testing.assert_array_equal(datasets.read_features_csv(path, ["a", "b"]), [[2, 1], [4, 3]])
    with pytest.raises(ValueError, match="missing feature column\\(s\\) 'c'"):
        datasets.read_features_csv(path, ["a", "c"])


# -- npz / npy ------------------------------------------------------------------------------------
def test_npz_round_trip(tmp_path: Path) -> None:
    X = np.arange(12.0).reshape(6, 2)
    np.savez(tmp_path / "d.npz", X=X, y=np.array([0, 1, 2, 0, 1, 2]))
    ds = datasets.load("npz", path=tmp_path / "d.npz")
    assert ds.task == "classification" and ds.classes == [0, 1, 2]
    np.testing.assert_array_equal(ds.X, X)
    np.savez(tmp_path / "r.npz", X=X, y=np.linspace(0, 1, 6))
    assert datasets.load_npz(tmp_path / "r.npz").task == "regression"


def test_npz_and_npy_with_pickled_objects_are_refused(tmp_path: Path) -> None:
    objects = np.array([{"a": 1}, None], dtype=object)
    np.savez(tmp_path / "evil.npz", X=np.zeros((2, 2)), y=objects)
    with pytest.raises(ValueError, match="pickled Python objects"):
        datasets.load_npz(tmp_path / "evil.npz")
    np.save(tmp_path / "evil.npy", objects, allow_pickle=True)
    with pytest.raises(ValueError, match="refused, the file holds a pickled Python object"):
        datasets.read_features_numpy(tmp_path / "evil.npy")


def test_npz_missing_array_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no array 'y'; the file holds X"):
        datasets.load_npz(tmp_path / "d.npz")


# -- MNIST ---------------------------------------------------------------------------------
def test_mnist_from_a_directory(shared_data: Path) -> None:
    ds = datasets.load("mnist", data_dir=shared_data / "mnist")
    assert ds.X.shape == (60000, 784) and ds.X_test is not None and ds.X_test.shape == (10000, 784)
    assert ds.y_test is not None and np.bincount(ds.y_test).tolist()[:2] == [980, 1135]
    assert ds.scaling == "pooled"


def test_mnist_sha256_digests_match_the_shared_checksums(shared_data: Path) -> None:
    lines = (shared_data / "mnist" / "SHA256SUMS.uncompressed").read_text().split("\n")
    sums = {name: digest for digest, name in (ln.split() for ln in lines if ln.strip())}
    assert sums == mnist.SHA256


def corrupt_copy(src: Path, dst: Path) -> None:
    """Copy the four MNIST files into dst, with one label changed in the test labels."""
    for name in mnist.FILES:
        shutil.copy(src / f"{name}.gz", dst / f"{name}.gz")
    labels = bytearray(gzip.decompress((src / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[8] = (labels[8] + 1) % 10
    (dst / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))


def test_mnist_corrupt_file_in_data_dir_is_refused(shared_data: Path, tmp_path: Path) -> None:
    corrupt_copy(shared_data / "mnist", tmp_path)
    with pytest.raises(datasets.MNISTError, match="SHA-256 of the decompressed "
                       "t10k-labels-idx1-ubyte is [0-9a-f]{64}, expected ff7bcfd4"):
        datasets.load_mnist(tmp_path)


def test_mnist_absent_names_the_files_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(datasets.MNISTError) as info:
        datasets.load_mnist(tmp_path)
    msg = str(info.value)
    for name in mnist.FILES:
        assert f"{name}.gz" in msg
    assert "CHAINRULE_DATA_DIR" in msg


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving a temporary directory."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CHAINRULE_DATA_DIR", raising=False)
    monkeypatch.delenv("CHAINRULE_MNIST_MIRRORS", raising=False)
    return tmp_path / "cache" / "chainrule" / "mnist"


def test_mnist_downloads_into_the_cache_and_verifies(shared_data: Path, http_dir: tuple[str, Path],
                                                     empty_cache: Path) -> None:
    url, root = http_dir
    for name in mnist.FILES:
        shutil.copy(shared_data / "mnist" / f"{name}.gz", root / f"{name}.gz")
    ds = datasets.load_mnist(mirrors=["http://127.0.0.1:9/unreachable/", url])
    assert ds.X.shape == (60000, 784)
    cached = sorted(p.name for p in empty_cache.iterdir())
    assert cached == sorted(f"{n}.gz" for n in mnist.FILES)
    for name in mnist.FILES:
        data = gzip.decompress((empty_cache / f"{name}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == mnist.SHA256[name]
    # second time: read from the cache, no mirror needed
    assert datasets.load_mnist(mirrors=[]).X_test is not None


def test_mnist_corrupt_download_is_refused_and_not_cached(shared_data: Path,
                                                          http_dir: tuple[str, Path],
                                                          empty_cache: Path) -> None:
    url, root = http_dir
    corrupt_copy(shared_data / "mnist", root)
    with pytest.raises(datasets.MNISTError, match=f"{url}t10k-labels-idx1-ubyte.gz: SHA-256"):
        datasets.load_mnist(mirrors=[url])
    assert not (empty_cache / "t10k-labels-idx1-ubyte.gz").exists()
    assert not [p for p in empty_cache.iterdir() if p.name.endswith(".part")]


def test_mnist_offline_and_absent(empty_cache: Path) -> None:
    with pytest.raises(datasets.MNISTError) as info:
        datasets.load_mnist(mirrors=["http://127.0.0.1:9/"])
    msg = str(info.value)
    assert "download failed" in msg and "CHAINRULE_DATA_DIR" in msg
    assert all(f"{name}.gz" in msg for name in mnist.FILES)


# -- regressions found by fuzzing (issue 14): every bad file is a FileFormatError ---------------
def test_every_data_file_error_is_a_file_format_error() -> None:
    from chainrule.io.errors import FileFormatError

    for cls in (datasets.DataFileError, datasets.IDXError, datasets.MNISTError):
        assert issubclass(cls, FileFormatError) and issubclass(cls, ValueError)
    assert datasets.FileFormatError is FileFormatError


@pytest.mark.parametrize("task", [None, "classification"])
def test_csv_integer_target_with_inf_names_row_and_column(tmp_path: Path,
                                                          task: str | None) -> None:
    """Was an OverflowError (int(inf)) with no row or column."""
    path = write(tmp_path, "a,t\n1,0\n2,inf\n3,1\n")
    with pytest.raises(datasets.DataFileError, match="data.csv: row 3, column 2 \\('t'\\): "
                       "'inf' is not a finite number"):
        datasets.load_csv(path, "t", task=task)


def test_csv_text_labels_may_include_the_word_inf(tmp_path: Path) -> None:
    ds = datasets.load_csv(write(tmp_path, "a,t\n1,cat\n2,inf\n3,cat\n"), "t")
    assert ds.classes == ["cat", "inf"]


def test_npz_target_with_inf_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", X=np.zeros((3, 2)), y=np.array([0, np.inf, 1]))
    with pytest.raises(datasets.DataFileError, match="f.npz: y\\[1\\] is not finite"):
        datasets.load_npz(tmp_path / "f.npz")
    np.savez(tmp_path / "s.npz", X=np.zeros((3, 2)), y=np.array(["0", "inf", "1"]))
    with pytest.raises(datasets.DataFileError, match="s.npz: y\\[1\\] = 'inf' is not finite"):
        datasets.load_npz(tmp_path / "s.npz")


def test_idx_corrupt_gzip_body_is_an_idx_error(tmp_path: Path) -> None:
    """Was a raw zlib.error."""
    blob = bytes([0, 0, 8, 1]) + (1000).to_bytes(4, "big") + bytes(range(256)) * 3 + bytes(232)
    data = bytearray(gzip.compress(blob, mtime=0))
    data[10] ^= 0x55  # the first deflate byte: "invalid block type"
    (tmp_path / "l.gz").write_bytes(bytes(data))
    with pytest.raises(datasets.IDXError, match="l.gz: cannot read \\(error: Error -3"):
        datasets.read_idx(tmp_path / "l.gz")


def test_idx_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """A small gzip'd IDX file used to inflate completely (2.3 GiB) before the size check."""
    import tracemalloc
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big"))]
    zeros = bytes(2**20)
    parts += [z.compress(zeros) for _ in range(300)]  # 300 MiB inflated, 300 KB on disk
    parts.append(z.flush())
    (tmp_path / "bomb.gz").write_bytes(b"".join(parts))
    tracemalloc.start()
    try:
        with pytest.raises(datasets.IDXError, match="declares shape \\(10,\\) \\(10 bytes of "
                           "data\\) but the file holds more"):
            datasets.read_idx(tmp_path / "bomb.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20
    # a header declaring more than the cap is refused before reading the data
    huge = bytes([0, 0, 8, 3]) + b"".join((2**16).to_bytes(4, "big") for _ in range(3))
    (tmp_path / "huge.gz").write_bytes(gzip.compress(huge))
    with pytest.raises(datasets.IDXError, match="more than the 2,147,483,648 bytes read"):
        datasets.read_idx(tmp_path / "huge.gz")


def _npz_with_header(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X.npy", buf.getvalue() + bytes(48))
        zf.writestr("y.npy", buf.getvalue())


def test_npz_declaring_a_huge_shape_is_refused_before_allocating(tmp_path: Path) -> None:
    """A small npz declaring shape (1e9, 3) made NumPy try to allocate 22 GiB."""
    import tracemalloc

    _npz_with_header(tmp_path / "h.npz", (10**9, 3))
    tracemalloc.start()
    try:
        with pytest.raises(datasets.DataFileError, match="h.npz: array 'X': its header declares "
                           "24,000,000,000 bytes of data but the member holds 48"):
            datasets.load_npz(tmp_path / "h.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_npz_object_dtype_is_refused_from_the_header(tmp_path: Path) -> None:
    _npz_with_header(tmp_path / "o.npz", (2, 3), descr="|O")
    with pytest.raises(datasets.DataFileError, match="refused array 'X': it holds pickled "
                       "Python objects"):
        datasets.read_features_numpy(tmp_path / "o.npz")


def test_corrupt_npz_member_names_file_and_array(tmp_path: Path) -> None:
    """Was a zipfile.BadZipFile that named neither."""
    np.savez(tmp_path / "d.npz", X=np.arange(40.0).reshape(20, 2), y=np.arange(20) % 2)
    data = bytearray((tmp_path / "d.npz").read_bytes())
    data[data.find(b"\x93NUMPY") + 200] ^= 0xFF  # a data byte of X: a CRC mismatch
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with pytest.raises(datasets.DataFileError, match="d.npz: array 'X': cannot be read "
                       "\\(BadZipFile: Bad CRC-32"):
        datasets.load_npz(tmp_path / "d.npz")


def test_npz_flag_given_a_csv_says_it_is_not_an_archive(tmp_path: Path) -> None:
    """Used to say the file 'holds a pickled Python object'."""
    path = write(tmp_path, "a,b\n1,2\n")
    for read in (datasets.load_npz, datasets.read_features_numpy):
        with pytest.raises(datasets.DataFileError, match="data.csv: not an .npz \\(zip\\) "
                           "archive or .npy file"):
            read(path)


def test_directories_are_refused_by_every_reader(tmp_path: Path) -> None:
    for read in (lambda p: datasets.load_csv(p, "t"), datasets.read_features_csv,
                 datasets.load_npz, datasets.read_features_numpy, datasets.read_idx):
        with pytest.raises(datasets.FileFormatError, match=f"^{tmp_path}: is a directory"):
            read(tmp_path)


def test_unreadable_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PermissionError used to escape raw."""
    from chainrule.datasets import csvfile, idx, numpyfile

    def deny(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    csv_path = write(tmp_path, "a,t\n1,0\n")
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 2)), y=np.zeros(2))
    (tmp_path / "l.idx").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7]))
    monkeypatch.setattr(csvfile, "open", deny, raising=False)
    monkeypatch.setattr(numpyfile, "open", deny, raising=False)
    monkeypatch.setattr(idx, "open", deny, raising=False)
    for path, read in ((csv_path, lambda p: datasets.load_csv(p, "t")),
                       (tmp_path / "d.npz", datasets.load_npz),
                       (tmp_path / "l.idx", datasets.read_idx)):
        with pytest.raises(datasets.FileFormatError,
                           match=f"^{path}: cannot be read: permission denied"):
            read(path)


def test_npz_with_too_many_members_is_refused_before_its_directory_is_read(
        tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "many.npz", "w") as zf:
        for i in range(12_000):
            zf.writestr(f"m{i}", b"")
    with pytest.raises(datasets.DataFileError, match="many.npz: an archive of 12,000 members; "
                       "at most 10,000 are read"):
        datasets.load_npz(tmp_path / "many.npz")


def test_a_wide_csv_header_is_read_in_linear_time(tmp_path: Path) -> None:
    """The duplicate-name check and the column lookup were quadratic in the columns."""
    names = [f"c{i}" for i in range(100_000)]
    row = ",".join(["1"] * 100_000)
    path = write(tmp_path, ",".join([*names, "t"]) + f"\n{row},0\n{row},1\n")
    assert datasets.load_csv(path, "t").X.shape == (2, 100_000)
    assert datasets.read_features_csv(path, names[::-2]).shape == (2, 50_000)


def test_reading_a_large_gzip_idx_file_keeps_one_copy(tmp_path: Path) -> None:
    """Decompressing, joining and converting used to hold three copies of the data."""
    import tracemalloc

    n = 60 * 2**20
    blob = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n)
    (tmp_path / "z.gz").write_bytes(gzip.compress(blob, compresslevel=1))
    del blob
    size = (tmp_path / "z.gz").stat().st_size
    tracemalloc.start()
    try:
        arr = datasets.read_idx(tmp_path / "z.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert arr.shape == (n,) and arr.flags.writeable and not arr.any()
    assert peak < 2 * size + 100 * 2**20
