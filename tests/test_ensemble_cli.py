"""``chainrule explain --member i`` on an ensemble model: the chain rule with numbers through
member i, equal to explaining that member's own network; the library's explain refuses an
ensemble by name, and ``--member`` on one network is refused."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.engine.ensemble import Ensemble
from chainrule.io.model import read_model
from chainrule.notes.explain import explain_layers


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def ensemble_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small run on xor, and the same model file with an ensemble of 3 members (the
    trained network and two perturbed copies) in place of its network."""
    out = tmp_path_factory.mktemp("run") / "xor"
    code, _ = _run(["train", "--dataset", "xor", "--n-samples", "64", "--hidden", "5",
                    "--epochs", "2", "--no-monitor", "--no-importance", "--quiet",
                    "--out", str(out)])
    assert code == 0
    loaded = read_model(out / "model.safetensors")
    rng = np.random.default_rng(0)
    members = [loaded.net]
    for _ in range(2):
        twin = loaded.net.copy()
        twin.params[...] += rng.normal(scale=0.2, size=twin.params.shape)
        members.append(twin)
    ens = Ensemble.from_members(members)
    path = cr.save(ens, out / "ensemble.safetensors", training=loaded.training)
    return out / "model.safetensors", path


def test_explain_member_shows_that_members_chain_rule(ensemble_model, tmp_path):
    """explain --member 2 prints, line for line, what explain prints for a model file that
    holds member 2 alone (the same data row, the same factors and finite differences)."""
    _, path = ensemble_model
    code, text = _run(["explain", str(path), "--member", "2", "--sample", "3"])
    assert code == 0
    first, rest = text.split("\n", 1)
    assert first.startswith("member 2 of an ensemble of 3")
    alone = cr.save(cr.load(path).member(2), tmp_path / "member2.safetensors",
                    training=read_model(path).training)
    code, own = _run(["explain", str(alone), "--sample", "3"])
    assert code == 0
    assert rest == own and "finite difference" in own


def test_explain_member_numbers_differ_between_members(ensemble_model):
    _, path = ensemble_model
    texts = [_run(["explain", str(path), "--member", str(m), "--sample", "1"])[1]
             for m in range(3)]
    assert texts[0] != texts[1] != texts[2]
    code, default = _run(["explain", str(path), "--sample", "1"])
    assert code == 0 and default == texts[0]  # member 0 unless told


def test_member_out_of_range_and_on_one_network_are_one_line_errors(ensemble_model, capsys):
    single, path = ensemble_model
    assert main(["explain", str(path), "--member", "3"]) != 0
    err = capsys.readouterr().err
    assert "--member: expected a member in 0..2 (the model is an ensemble of 3), got 3" in err
    assert main(["explain", str(single), "--member", "0"]) != 0
    assert "--member: the model is one network, not an ensemble" in capsys.readouterr().err


def test_library_explain_refuses_an_ensemble_by_name():
    ens = cr.MLP([2, 3, 1], loss="squared_error", ensemble=2, seed=0)
    with pytest.raises(ValueError, match=r"net: an ensemble of 2 members; explain one of "
                                         r"them, net.member\(i\)"):
        explain_layers(ens, np.zeros((1, 2)), np.zeros((1, 1)))
