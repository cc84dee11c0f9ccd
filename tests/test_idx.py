import gzip
import hashlib

import numpy as np
import pytest

from chainrule.datasets import IDXError, read_idx, read_images, read_labels


def test_reads_the_real_mnist_files(mnist_dir):
    images = read_images(mnist_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_labels(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    sums = dict(line.split()[::-1] for line in
                (mnist_dir / "SHA256SUMS.uncompressed").read_text().splitlines() if line.strip())
    raw = gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz").read()
    assert hashlib.sha256(raw).hexdigest() == sums["t10k-labels-idx1-ubyte"]


def test_raw_and_gzip_give_the_same_array(tmp_path, rng):
    data = rng.integers(0, 256, (5, 3, 4), dtype=np.uint8)
    blob = bytes([0, 0, 8, 3]) + b"".join(int(s).to_bytes(4, "big") for s in data.shape) \
        + data.tobytes()
    (tmp_path / "raw").write_bytes(blob)
    (tmp_path / "z.gz").write_bytes(gzip.compress(blob))
    np.testing.assert_array_equal(read_images(tmp_path / "raw"), data)
    np.testing.assert_array_equal(read_images(tmp_path / "z.gz"), data)


def _labels_blob(n, payload):
    return (2049).to_bytes(4, "big") + n.to_bytes(4, "big") + payload


def test_refuses_wrong_magic_short_files_and_bad_lengths(tmp_path):
    cases = {
        "magic": ((2051).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\x01\x02",
                  "magic number 2051 found, expected 2049"),
        "short": (b"\x00\x00", "too short"),
        "length": (_labels_blob(5, b"\x01\x02"), r"declares shape \(5,\)"),
    }
    for name, (blob, match) in cases.items():
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(IDXError, match=match):
            read_labels(path)
    (tmp_path / "type").write_bytes(bytes([0, 0, 0x42, 1]) + (2).to_bytes(4, "big") + b"\0\0")
    with pytest.raises(IDXError, match="not an IDX"):
        read_idx(tmp_path / "type")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(IDXError, match="cannot read"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "missing")
