"""Fuzzing every file reader: mutated model files, IDX (raw and gzip'd), CSV, .npz, .npy.

Each mutated file must load or raise the documented :class:`chainrule.errors.FileFormatError`
(nothing else), within 5 s, tracing at most twice its size plus 100 MB. The mutators live in
``bench/fuzz_files.py`` (the longer campaign); here Hypothesis drives them through
``st.randoms()``, so a failure shrinks to a small reproducer. Bounded for CI: about
``CHAINRULE_FUZZ_EXAMPLES`` (default 250) cases per test, derandomized unless
``CHAINRULE_FUZZ_RANDOM=1``.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import bench_script
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "250"))


fuzz = bench_script.load("fuzz_files")
SEEDS = fuzz.seeds()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=os.environ.get("CHAINRULE_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def check(fmt: str, data: bytes, workdir: Path) -> None:
    out = fuzz.run_case(fmt, data, workdir)
    assert out.documented, f"{fmt} ({len(data)} bytes): {out.kind}: {out.error}"


def test_every_seed_file_loads(workdir: Path) -> None:
    for fmt, files in SEEDS.items():
        for name, data in files.items():
            out = fuzz.run_case(fmt, data, workdir)
            assert out.kind == "ok", f"{fmt} seed {name}: {out.error}"


def seeded(fmt: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(SEEDS[fmt])).map(lambda name: SEEDS[fmt][name])


@FUZZ
@given(seed=seeded("model"), rnd=st.randoms(use_true_random=False))
def test_model_files_with_byte_mutations(workdir: Path, seed: bytes, rnd: random.Random) -> None:
    check("model", fuzz.mutate_bytes(seed, rnd), workdir)


@FUZZ
@given(seed=seeded("model"), rnd=st.randoms(use_true_random=False))
def test_model_files_with_header_mutations(workdir: Path, seed: bytes,
                                           rnd: random.Random) -> None:
    check("model", fuzz.mutate_model_json(seed, rnd), workdir)


@FUZZ
@given(seed=seeded("idx"), rnd=st.randoms(use_true_random=False))
def test_idx_files(workdir: Path, seed: bytes, rnd: random.Random) -> None:
    check("idx", fuzz.mutate("idx", seed, rnd), workdir)


@FUZZ
@given(seed=seeded("csv"), rnd=st.randoms(use_true_random=False))
def test_csv_files(workdir: Path, seed: bytes, rnd: random.Random) -> None:
    check("csv", fuzz.mutate_csv(seed, rnd), workdir)


@FUZZ
@given(seed=seeded("npz"), rnd=st.randoms(use_true_random=False))
def test_npz_files(workdir: Path, seed: bytes, rnd: random.Random) -> None:
    check("npz", fuzz.mutate_npz(seed, rnd), workdir)


@FUZZ
@given(seed=seeded("npy"), rnd=st.randoms(use_true_random=False))
def test_npy_files(workdir: Path, seed: bytes, rnd: random.Random) -> None:
    check("npy", fuzz.mutate_npy(seed, rnd), workdir)


@FUZZ
@given(data=st.binary(max_size=2048), fmt=st.sampled_from(fuzz.FORMATS))
def test_arbitrary_bytes_in_every_format(workdir: Path, data: bytes, fmt: str) -> None:
    check(fmt, data, workdir)
