"""chainrule.playground: config caps, the session on the real engine, and the server over HTTP and
WebSocket — Host/Origin refusal, error messages, 20 concurrent tabs, Ctrl-C.

The server tests run ``python -m chainrule.playground`` in a subprocess on 127.0.0.1 and talk to
it with httpx and the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chainrule import MLP, explain
from chainrule.cli import playground as cli
from chainrule.playground import LIMITS, Session, validate_config
from chainrule.playground.session import class_score, encode_targets

XOR_241 = {"dataset": "xor", "noise": 0.0, "hidden": [4], "activation": "tanh", "output": "tanh",
           "loss": "squared_error", "optimizer": "adam", "lr": 0.03, "n_samples": 400}


# -- helpers shared with test_playground_browser ----------------------------------------------
@contextmanager
def start_server(*extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run the playground on a free port; yields (process, base URL); Ctrl-C at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule.playground", "--port", "0", "--no-browser", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if match is None:
            proc.kill()
            raise AssertionError(f"no URL in the first line {line!r}; stderr: {proc.stderr.read()}")
        yield proc, match.group(0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rebuild(state: dict[str, Any]) -> MLP:
    """The session's network, rebuilt in the test from its exported state."""
    net = MLP(state["sizes"], hidden=state["activation"], output=state["output"],
              loss=state["loss"], dtype="float64", l2=state["l2"])
    net.params[...] = state["params"]
    return net


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "ws"


async def receive_until(ws: Any, kind: str, timeout: float = 30.0) -> dict[str, Any]:
    """Next message of type ``kind`` (skipping live updates), within a guard timeout."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


# -- config: caps and clear messages -----------------------------------------------------------
@pytest.mark.parametrize(("update", "words"), [
    ({"hidden": [2] * 9}, ["hidden", "at most 8 hidden layers", "9"]),
    ({"hidden": [4, 9]}, ["hidden[1]", "1..8", "9"]),
    ({"hidden": [0]}, ["hidden[0]", "1..8", "0"]),
    ({"n_samples": 5000}, ["n_samples", "20..1000", "5000"]),
    ({"steps_per_update": 1000}, ["steps_per_update", "1..100"]),
    ({"lr": 0}, ["lr", "(0, 10]"]),
    ({"dataset": "mnist"}, ["dataset", "'mnist'", "xor, circles"]),
    ({"path": "/etc/passwd"}, ["unknown field", "'path'"]),
    ({"batch_size": 500, "n_samples": 100}, ["batch_size", "1..50", "500"]),
])
def test_validate_config_names_field_value_and_accepted(update: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        validate_config(update)
    for word in words:
        assert word in str(info.value)


def test_validate_config_accepts_the_caps() -> None:
    cfg = validate_config({"hidden": [8] * 8, "n_samples": 1000})
    assert cfg["hidden"] == [8] * 8 and cfg["n_samples"] == 1000


# -- the session on the real engine --------------------------------------------------------------
def test_targets_and_scores_follow_the_output_layer() -> None:
    labels = np.array([0, 1, 1])
    assert encode_targets(labels, "tanh")[:, 0].tolist() == [-1, 1, 1]
    assert encode_targets(labels, "sigmoid")[:, 0].tolist() == [0, 1, 1]
    assert encode_targets(labels, "softmax").tolist() == [[1, 0], [0, 1], [0, 1]]
    assert class_score(np.array([[-1.0], [0.0], [3.0]]), "identity").tolist() == [0, 0.5, 1]


def test_session_trains_xor_below_the_browser_test_threshold() -> None:
    s = Session(XOR_241)
    first = s.history["test"][-1]
    for _ in range(300):
        s.train(10)
        if s.history["test"][-1] < 0.05:
            break
    assert s.history["test"][-1] < 0.05 < first


@pytest.mark.parametrize("extra", [{}, {"optimizer": "sgd", "l2": 0.01},
                                   {"loss": "cross_entropy", "hidden": [3, 3]},
                                   {"loss": "binary_cross_entropy", "activation": "relu"}])
def test_weight_explanation_is_chainrule_explain_and_predicts_the_next_step(extra: dict) -> None:
    s = Session({**XOR_241, **extra})
    s.train(37)
    L = len(s.sizes) - 1
    for layer, j, k in [(1, 0, 1), (L, 0, 0)]:
        m = s.explain_weight(layer, j, k, 3)
        state = m["state"]
        e = explain(rebuild(state), state["X"], state["T"], layer=layer, j=j, k=k, sample=3,
                    lr=state["lr"])
        for key in ("dC_da", "g_prime", "delta", "a_prev_k", "product", "finite_difference",
                    "average", "finite_difference_average", "update"):
            assert m[key] == getattr(e, key), key
        assert [t["product"] for t in m["terms"]] == [t.product for t in e.terms]
        assert m["product"] == pytest.approx(m["finite_difference"], rel=1e-5, abs=1e-9)
        if layer < L:
            assert m["dC_da"] == pytest.approx(sum(t.product for t in e.terms), rel=1e-12)
    # "Δw that the next step will apply": take the step and look.
    m = s.explain_weight(1, 0, 1, 0)
    before = float(s.net.dense_layers[0].w[0, 1])
    s.train(1)
    moved = float(s.net.dense_layers[0].w[0, 1]) - before
    assert moved == pytest.approx(m["next_update"], rel=1e-9, abs=1e-15)
    if s.config["optimizer"] == "sgd":
        assert m["gradient"] == pytest.approx(m["average"] + s.config["l2"] * m["w"], rel=1e-9)
        assert moved == pytest.approx(-s.config["lr"] * m["gradient"], rel=1e-9, abs=1e-15)


def test_divergence_is_reported_and_explanations_say_so() -> None:
    from chainrule import DivergenceError
    from chainrule.playground.server import _dumps

    s = Session({"lr": 10.0, "activation": "relu", "output": "identity", "hidden": [8, 8, 8]})
    # Not finite, or (issue 14) a loss that exploded over 1e6 × its first value, finite yet.
    with pytest.raises(DivergenceError, match="not finite|grew from"), np.errstate(all="ignore"):
        s.train(5000)
    assert np.all(np.isfinite(s.net.params))  # the engine checks before it updates
    _dumps(s.explain_weight(1, 0, 0, 0))  # stopped at the explosion: the weights still explain
    huge = np.sqrt(np.finfo(s.net.dtype).max)  # finite weights a run stopped later could have
    s.net.params[...] = np.where(s.net.params < 0, -huge, huge)
    with pytest.raises(ValueError, match="diverged.*press reset"), np.errstate(all="ignore"):
        _dumps(s.explain_weight(1, 0, 0, 0))  # they overflow in explain, and it says so
    s.reset()
    s.apply({"lr": 0.01})
    s.train(3)
    assert s.step == 3 and json.loads(_dumps(s.update_message()))["step"] == 3


def test_neuron_explanation_matches_the_forward_pass() -> None:
    s = Session(XOR_241)
    s.train(5)
    m = s.explain_neuron(1, 2, 0)
    x = np.array(m["x"])
    d = s.net.dense_layers[0]
    z = float(d.w[2] @ x + d.b[2])
    assert m["z"] == pytest.approx(z, rel=1e-12)
    assert m["a"] == pytest.approx(np.tanh(z), rel=1e-12)
    assert m["delta"] == pytest.approx(m["dC_da"] * m["g_prime"], rel=1e-12)
    assert s.explain_neuron(0, 1, 0)["a"] == m["x"][1]
    with pytest.raises(ValueError, match=r"layer: expected an integer in 0\.\.2, got 7"):
        s.explain_neuron(7, 0, 0)
    with pytest.raises(ValueError, match="j: expected an integer in 0..3"):
        s.explain_weight(1, 4, 0, 0)


def test_update_message_is_small_and_complete_for_the_largest_network() -> None:
    s = Session({"hidden": [8] * 8})
    m = s.update_message()
    assert len(base64.b64decode(m["grid"])) == LIMITS["grid"] ** 2
    assert len(base64.b64decode(m["neurons"])) == 64 * LIMITS["neuron_grid"] ** 2
    assert [np.shape(w) for w in m["weights"]] == [(8, 2)] + [(8, 8)] * 7 + [(1, 8)]
    assert len(json.dumps(m)) < 40_000  # 20 tabs × 20 updates/s stay a few MB/s on loopback


def test_apply_rebuilds_only_what_changed() -> None:
    s = Session(XOR_241)
    X = s.X_train.copy()
    w0 = s.net.params.copy()
    assert s.apply({"lr": 0.5}) == "network"  # at step 0: rebuilt, the same initial weights
    np.testing.assert_array_equal(s.net.params, w0)
    s.train(1)
    assert s.apply({"lr": 0.1}) == "training" and s.optimizer.lr == 0.1
    assert s.apply({"hidden": [3, 3]}) == "network" and s.sizes == [2, 3, 3, 1]
    np.testing.assert_array_equal(s.X_train, X)
    assert s.apply({"dataset": "moons"}) == "data"
    with pytest.raises(ValueError, match="hidden"):
        s.apply({"hidden": [9]})
    assert s.sizes == [2, 3, 3, 1]  # a refused change leaves the session as it was


def test_token_bucket_caps_steps_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fake clock: asking for 5,000 steps at a cap of 2,000/s takes ≥ 2.45 s of it."""
    from chainrule.playground import server

    clock = {"t": 100.0}

    async def fake_sleep(seconds: float) -> None:
        clock["t"] += seconds

    monkeypatch.setattr(server.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(server.asyncio, "sleep", fake_sleep)
    bucket = server.TokenBucket(2000, 100)

    async def go() -> None:
        for _ in range(50):
            await bucket.take(100)

    asyncio.run(go())
    assert clock["t"] - 100.0 >= (5000 - 100) / 2000 - 1e-9


@pytest.mark.parametrize(("headers", "ok"), [
    ({"host": "127.0.0.1:8765"}, True),
    ({"host": "localhost:8765", "origin": "http://localhost:8765"}, True),
    ({"host": "[::1]:8765"}, True),
    ({"host": "lab-pc:8765"}, True),  # the --host name
    ({"host": "127.0.0.1:9999"}, False),  # another port
    ({"host": "127.0.0.1"}, False),
    ({"host": "attacker.example:8765"}, False),  # DNS rebinding
    ({"host": "127.0.0.1:8765", "origin": "http://localhost:8765"}, False),
    ({"host": "127.0.0.1:8765", "origin": "null"}, False),  # sandboxed frame or file://
    ({}, False),
])
def test_same_origin_guard(headers: dict[str, str], ok: bool) -> None:
    from chainrule.playground.guard import SameOriginGuard

    guard = SameOriginGuard(app=None, names=["lab-pc"])  # type: ignore[arg-type]
    scope = {"type": "http", "server": ("127.0.0.1", 8765),
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    assert (guard.problem(scope) is None) == ok


# -- the CLI front -------------------------------------------------------------------------------
def test_cli_warns_for_host_and_refuses_a_busy_port(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    import chainrule.playground.server as server

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "serve", lambda host, port, **kw: seen.update(host=host) or 0)
    assert cli.run(parser.parse_args(["--host", "0.0.0.0", "--no-browser"])) == 0
    assert seen["host"] == "0.0.0.0"
    assert "warning: --host 0.0.0.0" in capsys.readouterr().err
    assert cli.run(parser.parse_args(["--no-browser"])) == 0
    assert seen["host"] == "127.0.0.1" and capsys.readouterr().err == ""
    monkeypatch.undo()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.run(parser.parse_args(["--port", str(port), "--no-browser"])) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
    assert cli.run(parser.parse_args(["--port", "70000"])) == 2
    assert "--port: expected 0..65535, got 70000" in capsys.readouterr().err


# -- the server ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with start_server() as (_, url):
        yield url


def test_page_and_static_files_are_served_with_a_strict_policy(server: str) -> None:
    r = httpx.get(server)
    assert r.status_code == 200 and "chainrule playground" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(server + "static/vendor/katex/katex.min.js").status_code == 200
    assert httpx.get(server + "static/vendor/katex/LICENSE").status_code == 200
    assert httpx.get(server + "static/%2e%2e/server.py").status_code == 404
    info = httpx.get(server + "api/info").json()
    assert info["limits"]["max_neurons"] == 8


def test_foreign_host_and_origin_get_403_with_a_clear_message(server: str) -> None:
    port = server.rsplit(":", 1)[1].strip("/")
    r = httpx.get(server, headers={"Host": f"evil.example:{port}"})
    assert r.status_code == 403 and "DNS rebinding" in r.text and "evil.example" in r.text
    r = httpx.get(server + "api/info", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin 'http://evil.example' is not this page" in r.text
    assert httpx.get(server, headers={"Host": f"localhost:{port}"}).status_code == 200
    assert httpx.get(server, headers={"Origin": server.rstrip("/")}).status_code == 200

    async def upgrade() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server), origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        assert info.value.response.status_code == 403
        assert b"Origin 'http://evil.example'" in info.value.response.body
        async with connect(ws_url(server), origin=server.rstrip("/")) as ws:  # type: ignore[arg-type]
            assert (await receive_until(ws, "hello"))["limits"]["max_hidden_layers"] == 8

    asyncio.run(upgrade())


def test_bad_requests_get_errors_and_the_session_keeps_working(server: str) -> None:
    async def go() -> None:
        async with connect(ws_url(server)) as ws:
            await receive_until(ws, "update")
            await ws.send(json.dumps({"type": "config", "config": {"hidden": [8] * 9}}))
            err = await receive_until(ws, "error")
            assert err["request"] == "config" and "at most 8 hidden layers, got 9" in err["message"]
            await ws.send(json.dumps({"type": "config", "config": {"hidden": [16]}}))
            assert "hidden[0]: expected an integer in 1..8, got 16" in (
                await receive_until(ws, "error"))["message"]
            await ws.send("{not json")
            assert "not valid JSON" in (await receive_until(ws, "error"))["message"]
            await ws.send(json.dumps({"type": "rm -rf"}))
            assert "unknown message type 'rm -rf'" in (await receive_until(ws, "error"))["message"]
            await ws.send(json.dumps({"type": "step", "n": 10**9}))
            err = await receive_until(ws, "error")
            assert "n: expected an integer in 1..100" in err["message"]
            await ws.send(json.dumps({"type": "explain_weight", "layer": 9, "j": 0, "k": 0,
                                      "sample": 0}))
            assert "layer: expected an integer in 1..3" in (
                await receive_until(ws, "error"))["message"]
            await ws.send("x" * (LIMITS["max_message_bytes"] + 1))
            assert "over the limit" in (await receive_until(ws, "error"))["message"]
            # Issue 14: an 8,000-deep array (16 KB, under the size cap) raised RecursionError
            # in the receive loop and dropped the socket.
            await ws.send("[" * 8000 + "]" * 8000)
            assert "nested 8000 levels deep" in (await receive_until(ws, "error"))["message"]
            await ws.send(json.dumps({"type": "step", "n": 3}))
            assert (await receive_until(ws, "update"))["step"] == 3

    asyncio.run(go())


def test_explanation_over_the_socket_equals_chainrule_explain(server: str) -> None:
    async def go() -> None:
        async with connect(ws_url(server)) as ws:
            await receive_until(ws, "update")  # the first view, of the default session
            await ws.send(json.dumps({"type": "config", "config": XOR_241}))
            await receive_until(ws, "data")
            assert (await receive_until(ws, "update"))["step"] == 0
            await ws.send(json.dumps({"type": "step", "n": 50}))
            assert (await receive_until(ws, "update"))["step"] == 50
            await ws.send(json.dumps({"type": "explain_weight", "layer": 2, "j": 0, "k": 3,
                                      "sample": 1}))
            m = await receive_until(ws, "weight")
            await ws.send(json.dumps({"type": "state"}))
            state = await receive_until(ws, "state")
        assert state["params"] == m["state"]["params"] and state["step"] == 50
        e = explain(rebuild(state), state["X"], state["T"], layer=2, j=0, k=3, sample=1,
                    lr=state["lr"])
        assert (m["dC_da"], m["g_prime"], m["a_prev_k"], m["product"], m["average"]) == (
            e.dC_da, e.g_prime, e.a_prev_k, e.product, e.average)

    asyncio.run(go())


def test_twenty_concurrent_tabs_all_keep_receiving_updates(server: str) -> None:
    n_tabs, wanted = 20, 8

    async def tab(i: int) -> tuple[int, int, float]:
        async with connect(ws_url(server)) as ws:
            await ws.send(json.dumps({"type": "config",
                                      "config": {"hidden": [8] * 8, "seed": i}}))
            await receive_until(ws, "data")
            await ws.send(json.dumps({"type": "play"}))
            steps = []
            t0 = time.monotonic()
            while len(steps) < wanted:
                steps.append((await receive_until(ws, "update", timeout=60))["step"])
            rate = len(steps) / (time.monotonic() - t0)
            await ws.send(json.dumps({"type": "pause"}))
            assert steps == sorted(steps) and steps[-1] > steps[0]
            return i, len(steps), rate

    async def go() -> list[tuple[int, int, float]]:
        return await asyncio.gather(*(tab(i) for i in range(n_tabs)))

    results = asyncio.run(go())
    assert [n for _, n, _ in results] == [wanted] * n_tabs
    print("updates/s per tab with 20 tabs (8×8):", sorted(round(r, 1) for *_, r in results))
    assert httpx.get(server + "api/info").json()["open_tabs"] <= n_tabs  # and still serving


def test_ctrl_c_stops_the_server_cleanly_with_a_tab_training() -> None:
    with start_server() as (proc, url):
        async def play_then_interrupt() -> None:
            async with connect(ws_url(url)) as ws:
                await ws.send(json.dumps({"type": "play"}))
                await receive_until(ws, "update")
                proc.send_signal(signal.SIGINT)
                with pytest.raises(ConnectionClosed):
                    async with asyncio.timeout(15):
                        while True:
                            await ws.recv()

        asyncio.run(play_then_interrupt())
        assert proc.wait(timeout=15) == 0
        assert proc.stdout is not None and proc.stderr is not None
        assert "chainrule playground: stopped" in proc.stdout.read()
        err = proc.stderr.read()
        assert "Traceback" not in err, err


def test_the_update_carries_the_health_verdicts_and_marks_dead_neurons() -> None:
    """Issue 12, item 5: the monitor's verdicts beside the network, per-neuron flags."""
    s = Session({})
    s.train(200)
    health = s.update_message()["health"]
    assert health["healthy"] and health["verdicts"] == [] and health["kinds"] == []
    assert [len(units) for units in health["dead"]] == s.sizes[1:-1]
    dead = Session({"activation": "relu"})
    first = dead.net.dense_layers[0]
    first.b = np.full(first.n_out, -50.0)  # every unit of layer 1: z < 0 for every sample
    dead.train(1)
    health = dead.update_message()["health"]
    assert health["dead"][0] == [True] * first.n_out
    assert "dead_units" in health["kinds"] and any("layer 1" in v for v in health["verdicts"])
    json.dumps(health)  # plain JSON for the page


def test_a_network_that_fits_is_not_called_saturated() -> None:
    """Issue 30: the playground said '52 % of tanh outputs are saturated' of a network at
    99 % accuracy. Its health check now carries the cost and a constant output's cost, so
    the verdicts know the network fits; without them (the old check) they still fire."""
    from chainrule.health.diagnosis import verdicts_from
    from chainrule.health.monitor import Check, layer_health
    from chainrule.playground.session import _HEALTH_BINS, class_score

    s = Session({"activation": "tanh", "lr": 0.5})  # circles, tanh units driven hard
    for _ in range(100):
        s.train(20)
    a = s.net.predict(s.X_train)
    accuracy = np.mean((class_score(a, s.output) > 0.5) == s.y_train)
    assert accuracy >= 0.95
    assert s.health()["kinds"] == []
    net = s.net
    a0 = net.inputs(s.X_train)
    layers = layer_health(net, a0, net.grads, s._before_last, _HEALTH_BINS, net.forward(a0))
    without_cost = verdicts_from([Check(s.step, int(s.epoch) + 1, layers)], [])
    assert "saturation" in [v.kind for v in without_cost.verdicts]
