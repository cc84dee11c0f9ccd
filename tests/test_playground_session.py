"""chainrule.playground, issue 13: step mode, the shareable link and rewind, CSV uploads and model
downloads — on the session (in process) and over the socket."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_playground_server import XOR_241, rebuild, receive_until, start_server, ws_url
from websockets.asyncio.client import connect

import chainrule.io
from chainrule.datasets import DataFileError
from chainrule.notes.explain import chain_factors
from chainrule.playground import LIMITS, Session, session
from chainrule.playground.link import make_link, parse_link
from chainrule.playground.upload import parse_points


def run_plan(s: Session, link: str) -> None:
    """What the server does with a link, without its rate limit."""
    for n_steps, fields in s.begin_replay(link):
        s.train(n_steps)
        if fields is not None:
            s.apply(fields)


# -- step mode ----------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [{}, {"optimizer": "sgd", "l2": 0.01},
                                   {"loss": "cross_entropy", "hidden": [3, 3]},
                                   {"loss": "binary_cross_entropy", "activation": "relu"}])
def test_walkthrough_is_the_engine_and_its_update_is_the_next_step(extra: dict) -> None:
    s = Session({**XOR_241, **extra})
    s.train(23)
    m = s.walkthrough(4)
    state = m["state"]
    net = rebuild(state)
    X, T = np.array(state["X"]), np.array(state["T"])
    f = chain_factors(net, X, T)
    trace = net.forward(net.inputs(X[4:5]))
    assert m["C_0"] == pytest.approx(float(net.loss_fn.value(trace.a_L, T[4:5])[0]), rel=1e-12)
    assert m["cost"] == pytest.approx(net.loss(X, T), rel=1e-12)
    plain = rebuild({**state, "l2": 0.0})
    per_sample, average = plain.gradient(X[4:5], T[4:5]).copy(), plain.gradient(X, T).copy()
    for layer, d in enumerate(m["layers"], start=1):
        i = layer - 1
        np.testing.assert_allclose(d["z"], f["z"][i][4], rtol=1e-12)
        np.testing.assert_allclose(d["a"], f["a"][i][4], rtol=1e-12)
        np.testing.assert_allclose(d["dC_da"], f["dC_da"][i][4], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(d["delta"], f["delta"][i][4], rtol=1e-12, atol=1e-15)
        # δ = ∂C_0/∂a · g′(z) wherever g is elementwise (softmax: the Jacobian–vector product).
        if d["g_prime"] is not None:
            np.testing.assert_allclose(np.multiply(d["dC_da"], d["g_prime"]), d["delta"],
                                       rtol=1e-12, atol=1e-15)
        else:
            assert d["activation"] == "softmax"
        where = net.param_slices(layer)
        np.testing.assert_allclose(np.ravel(d["grad_w"]), per_sample[where["w"]], rtol=1e-12,
                                   atol=1e-15)  # = δ_j a_k, the public backward on one sample
        np.testing.assert_allclose(np.outer(d["delta"], f["a_prev"][i][4]), d["grad_w"],
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(np.ravel(d["average_w"]), average[where["w"]], rtol=1e-12,
                                   atol=1e-15)
    before = s.net.params.copy()
    s.train(1)
    moved = s.net.params - before
    for layer, d in enumerate(m["layers"], start=1):
        where = s.net.param_slices(layer)
        np.testing.assert_allclose(np.ravel(d["update_w"]), moved[where["w"]], rtol=1e-9,
                                   atol=1e-15)
        np.testing.assert_allclose(d["update_b"], moved[where["b"]], rtol=1e-9, atol=1e-15)
        if s.config["optimizer"] == "sgd":  # the notes' step is the step taken
            np.testing.assert_allclose(d["sgd_w"], d["update_w"], rtol=1e-12, atol=1e-15)
    L = len(m["layers"])
    assert [st["caption"] for st in m["stages"]][: L + 2] == [
        *(f"forward: layer {n}" + (" = L" if n == L else "") for n in range(1, L + 1)),
        "cost C_0", f"backward: layer {L} = L"]
    assert [st["kind"] for st in m["stages"]][-2:] == ["average", "update"]
    json.dumps(m, allow_nan=False)


def test_walkthrough_refuses_a_sample_outside_the_batch() -> None:
    s = Session({"batch_size": 5})
    with pytest.raises(ValueError, match=r"sample: expected an integer in 0\.\.4, got 5"):
        s.walkthrough(5)
    with pytest.raises(ValueError, match="sample"):
        s.walkthrough(True)


# -- the link, replay, rewind and reset ------------------------------------------------------------
def test_a_link_rebuilds_the_same_run_with_its_mid_run_changes() -> None:
    a = Session(XOR_241)
    a.train(37)
    a.apply({"lr": 0.1, "optimizer": "momentum"})
    a.train(20)
    a.apply({"batch_size": 7})
    for n in (3, 1, 9):  # grouped like play's adaptive updates
        a.train(n)
    link = a.link()
    assert link is not None and "step=70" in link and "changes=" in link
    b = Session({"dataset": "moons", "seed": 5})
    b.train(4)
    run_plan(b, link)
    assert b.step == 70 and b.link() == link
    np.testing.assert_array_equal(b.net.params, a.net.params)
    assert b.history == a.history and b.history["step"] == list(range(71))
    assert b.config == a.config


def test_the_loss_curve_depends_on_the_step_count_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "HISTORY_POINTS", 50)
    a, b = Session(XOR_241), Session(XOR_241)
    a.train(230)
    for _ in range(23):
        b.train(10)
    assert a.history == b.history and a.stride == b.stride == 8
    assert a.history["step"] == list(range(0, 231, 8))
    assert len(a.history["step"]) <= 50


def test_rewind_gives_the_seeds_weights_and_reset_the_next_draw() -> None:
    s = Session(XOR_241)
    w0 = s.net.params.copy()
    s.train(15)
    s.rewind()
    np.testing.assert_array_equal(s.net.params, w0)
    assert s.step == 0 and s.history["step"] == [0]
    s.reset()
    assert s.config["draw"] == 1 and not np.array_equal(s.net.params, w0)
    np.testing.assert_array_equal(s.net.params, Session({**XOR_241, "draw": 1}).net.params)


@pytest.mark.parametrize(("link", "words"), [
    ("dataset=xor&path=%2Fetc%2Fpasswd", ["unknown field 'path'"]),
    ("seed=abc", ["seed: expected int, got 'abc'"]),
    ("hidden=4,x", ["hidden: expected a list of integers"]),
    (f"step={LIMITS['max_replay_steps'] + 1}", ["step: expected an integer in 0..20000"]),
    ("step=5&changes=[[3,{\"hidden\":[2]}]]", ["'hidden' can't change mid-run"]),
    ("step=5&changes=[[9,{\"lr\":0.1}]]", ["changes: step: expected an integer in 1..5, got 9"]),
    ("step=5&changes=nope", ["changes: not valid JSON"]),
])
def test_a_bad_link_is_refused_naming_the_field(link: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        Session().begin_replay(link)
    for word in words:
        assert word in str(info.value)


def test_a_link_of_settings_out_of_range_is_refused_by_the_config_caps() -> None:
    with pytest.raises(ValueError, match=r"hidden\[0\]: expected an integer in 1\.\.8, got 9"):
        Session().begin_replay("hidden=9")
    config, step, changes = parse_link(make_link({**Session().config, "lr": 0.5}, 12,
                                                 [(3, {"lr": 0.25})]))
    assert config["lr"] == 0.5 and step == 12 and changes == [(3, {"lr": 0.25})]


# -- uploads and downloads ----------------------------------------------------------------
def quadrants(n: int, header: bool = True) -> str:
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(n, 2))
    rows = "".join(f"{float(a)!r},{float(b)!r},{int(a * b > 0)}\n" for a, b in X)
    return ("x1,x2,label\n" if header else "") + rows


def test_upload_trains_on_the_csv_and_is_not_linkable() -> None:
    s = Session({"batch_size": 10})
    s.upload(quadrants(200, header=False), "q.csv")
    X, labels = parse_points(quadrants(200))
    assert s.config["dataset"] == "uploaded" and s.config["n_samples"] == 200
    np.testing.assert_array_equal(np.sort(np.concatenate([s.X_train, s.X_test]), axis=0),
                                  np.sort(X, axis=0))
    first = s.losses[0]
    s.apply({"optimizer": "adam"})
    s.train(300)
    assert s.losses[0] < 0.6 * first and s.accuracy[0] > 0.8
    assert s.link() is None and s.update_message()["link"] is None
    s.apply({"hidden": [3]})  # the upload stays the data set
    assert s.config["dataset"] == "uploaded" and len(s.X_train) + len(s.X_test) == 200
    s.apply({"dataset": "moons"})
    assert s.config["n_samples"] == 200 and s.config["dataset"] == "moons"


@pytest.mark.parametrize(("text", "words"), [
    ("x1,x2,label\n0.1,0.2,1\n0.3,oops,0\n" + "0.5,0.5,1\n" * 30,
     ["row 3, column 2 ('x2'): 'oops' is not a finite number"]),
    ("a,b,c\n" + "0.1,0.2,1\n" * 10 + "0.1,inf,0\n" + "0.5,0.5,0\n" * 20,
     ["row 12, column 2 ('b')", "not a finite number"]),
    ("x1,x2,label\n" + "0.1,0.2,1\n" * 20 + "0.1,0.2,2\n",
     ["row 22, column 3 ('label'): label '2': expected 0 or 1"]),
    ("0.1,0.2,1\n" * 10 + "0.1,0.2\n" + "0.1,0.2,0\n" * 10, ["row 11: 2 cells; expected 3"]),
    ("x1,x2\n" + "0.1,0.2\n" * 30, ["row 1: the header has 2 columns"]),
    ("0.1,0.2,1\n" * 30, ["no row has label 0"]),
    ("0.1,0.2,1\n" * 5, ["5 data rows; expected 20 … 1000"]),
    ("0.1,0.2,1\n0.2,0.1,0\n" * 501, ["1002 data rows"]),
    ("", ["the file is empty"]),
    ("0.123456789,0.2,1\n" * 4000, ["bytes is over the limit of 65536 bytes"]),
])
def test_a_bad_csv_is_refused_naming_row_and_column(text: str, words: list[str]) -> None:
    s = Session()
    with pytest.raises(DataFileError) as info:
        s.upload(text, "points.csv")
    assert str(info.value).startswith("points.csv: ")
    for word in words:
        assert word in str(info.value)
    assert s.config["dataset"] == "circles" and s.uploaded is None


def test_the_model_file_is_chainrules_format_and_predicts_the_same(tmp_path: Path) -> None:
    s = Session(XOR_241)
    s.train(40)
    m = s.model_file()
    path = tmp_path / m["filename"]
    path.write_bytes(base64.b64decode(m["data"]))
    net = chainrule.io.load(path)
    np.testing.assert_array_equal(net.predict(s.X_test), s.net.predict(s.X_test))
    info = chainrule.io.read_model(path)
    assert info.training["step"] == 40 and info.training["link"] == s.link()


# -- over the socket ----------------------------------------------------------------------
def test_the_new_messages_over_the_socket() -> None:
    big = quadrants(700)
    assert LIMITS["max_message_bytes"] < len(big) < LIMITS["max_upload_bytes"]

    async def go(url: str) -> dict[str, Any]:
        async with connect(ws_url(url)) as ws:
            await receive_until(ws, "update")
            await ws.send(json.dumps({"type": "walk", "sample": 99}))
            err = await receive_until(ws, "error")
            assert err["request"] == "walk" and "sample: expected an integer in 0..9" in err[
                "message"]
            await ws.send(json.dumps({"type": "walk", "sample": 2}))
            assert len((await receive_until(ws, "walk"))["stages"]) == 3 + 1 + 3 + 2
            # Over 16 KiB: refused for any message but an upload.
            await ws.send(json.dumps({"type": "config", "pad": "x" * len(big)}))
            assert "over the limit of 16384" in (await receive_until(ws, "error"))["message"]
            await ws.send(json.dumps({"type": "upload", "name": "big.csv", "text": big}))
            data = await receive_until(ws, "data")
            assert data["config"]["dataset"] == "uploaded" and data["config"]["n_samples"] == 700
            await ws.send(json.dumps({"type": "upload", "text": "1,2,3\n"}))
            assert "upload.csv: 1 data rows" in (await receive_until(ws, "error"))["message"]
            await ws.send(json.dumps({"type": "replay", "link": "dataset=xor&seed=4&step=250"}))
            update = await receive_until(ws, "update")
            assert update["step"] == 250
            assert (await receive_until(ws, "replayed"))["step"] == 250
            await ws.send(json.dumps({"type": "replay", "link": "step=-1"}))
            err = await receive_until(ws, "error")
            assert err["request"] == "replay" and "step: expected an integer" in err["message"]
            await ws.send(json.dumps({"type": "download"}))
            model = await receive_until(ws, "model")
            await ws.send(json.dumps({"type": "state"}))
            return {"model": model, "state": await receive_until(ws, "state")}

    with start_server() as (_, url):
        got = asyncio.run(go(url))
    state = got["state"]
    reference = Session({"dataset": "xor", "seed": 4})
    reference.train(250)
    assert state["params"] == reference.net.params.tolist()
    assert state["history"] == reference.history
    assert got["model"]["filename"] == "playground-xor-step250.safetensors"
