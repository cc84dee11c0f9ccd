"""The playground's step mode, shareable link, rewind, CSV upload and model download, in a real
headless browser (Debian's chromium driven by Playwright, as in test_playground_browser).

Step mode: every number the page shows at every stage is compared with the engine computed here
for the same state — ``net.forward`` for z and a, the loss for C_0, ``chain_factors`` for
∂C_0/∂a and δ, the public ``Network.gradient`` for ∂C_0/∂w and the batch average — to full
precision (the ``data-value`` attributes) and to the 4 digits displayed; the update is checked by
taking the step and looking at the weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_playground_browser import (
    ARTIFACTS,
    launched_browser,
    new_tab,
    set_control,
)
from test_playground_server import rebuild

import chainrule.io
from chainrule.notes.explain import chain_factors
from chainrule.playground import Session
from chainrule.playground.link import parse_link

pytestmark = pytest.mark.slow

READ_VALUES = """() => Array.from(document.querySelectorAll('[data-q]')).map((el) => ({
  q: el.dataset.q, layer: Number(el.dataset.layer), j: Number(el.dataset.j),
  k: el.dataset.k === undefined ? null : Number(el.dataset.k),
  value: el.dataset.value === '' ? null : Number(el.dataset.value), text: el.textContent }))"""


def shown_to_4_digits(text: str, value: float | None) -> bool:
    """``text`` ends in JavaScript's toPrecision(4) of ``value``."""
    shown = text.split("= ")[-1]
    if value is None:
        return shown == "—"
    if value == 0:
        return float(shown) == 0
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(value))) - 3)
    return abs(float(shown) - value) <= half_unit * (1 + 1e-9)


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[Any, str]]:
    with launched_browser() as launched:
        yield launched


def open_page(browser: tuple[Any, str], address: str | None = None) -> Any:
    b, url = browser
    tab, tab.problems = new_tab(b, viewport={"width": 1280, "height": 800},
                                accept_downloads=True)
    tab.goto(address or url)
    tab.wait_for_function("window.playground.update !== undefined && !window.playground.replaying")
    return tab


def xor_241(tab: Any, optimizer: str) -> None:
    set_control(tab, "#dataset", "xor")
    set_control(tab, "#noise", "0")
    tab.click("#remove-layer")  # default [4, 2] → [4]
    set_control(tab, "#optimizer", optimizer)
    tab.wait_for_function(f"""() => {{ const c = window.playground.config;
        return c.dataset === 'xor' && c.noise === 0 && JSON.stringify(c.hidden) === '[4]'
            && c.optimizer === '{optimizer}'; }}""")


def expected_values(m: dict[str, Any]) -> dict[tuple[str, int, int, int | None], float | None]:
    """Every quantity step mode can show, from the engine on the rebuilt network."""
    state, s = m["state"], m["sample"]
    net = rebuild(state)
    X, T = np.array(state["X"]), np.array(state["T"])
    x, t = X[s : s + 1], T[s : s + 1]
    trace = net.forward(net.inputs(x))
    f = chain_factors(net, X, T)
    plain = rebuild({**state, "l2": 0.0})  # the notes' C_0: no penalty term
    per_sample = plain.gradient(x, t).copy()  # public backward on the one sample
    average = plain.gradient(X, T).copy()
    penalised = net.gradient(X, T).copy()
    out: dict[tuple[str, int, int, int | None], float | None] = {}
    for j, v in enumerate(x[0]):
        out["a", 0, j, None] = float(v)
    out["C_0", len(net.dense_layers), 0, None] = float(net.loss_fn.value(trace.a_L, t)[0])
    out["cost", len(net.dense_layers), 0, None] = net.loss(X, T)
    for layer, d in enumerate(net.dense_layers, start=1):
        i = layer - 1
        z, a = trace.z[net.layers.index(d)], trace.a[net.layers.index(d) + 1]
        gp = d.activation.g_prime(z, a)[0] if d.activation.elementwise else None
        where = net.param_slices(layer)
        for j in range(d.n_out):
            out["z", layer, j, None] = float(z[0, j])
            out["a", layer, j, None] = float(a[0, j])
            out["dC_da", layer, j, None] = float(f["dC_da"][i][s, j])
            out["g_prime", layer, j, None] = None if gp is None else float(gp[j])
            out["delta", layer, j, None] = float(f["delta"][i][s, j])
            out["average_b", layer, j, None] = float(average[where["b"]][j])
            if layer == len(net.dense_layers):
                out["y", layer, j, None] = float(net.targets(t, 1)[0, j])
            for k in range(d.n_in):
                flat = where["w"].start + j * d.n_in + k
                out["grad_w", layer, j, k] = float(per_sample[flat])
                out["average_w", layer, j, k] = float(average[flat])
                out["sgd_w", layer, j, k] = -state["lr"] * float(penalised[flat])
    return out


def test_step_mode_shows_the_engine_at_every_stage(browser: tuple[Any, str]) -> None:
    tab = open_page(browser)
    xor_241(tab, "adam")
    tab.evaluate("window.playground.send({type: 'step', n: 30})")
    tab.wait_for_function("window.playground.update.step === 30")
    set_control(tab, "#walk-sample", "3")
    tab.check("#walk-mode")
    tab.wait_for_function("window.playground.walk && window.playground.walk.sample === 3")
    m = tab.evaluate("window.playground.walk")
    expected = expected_values(m)
    kinds = [st["kind"] for st in m["stages"]]
    assert kinds == ["forward", "forward", "cost", "backward", "backward", "average", "update"]
    seen: dict[str, int] = {}
    for i, stage in enumerate(m["stages"]):
        if i:
            tab.click("#walk-next")
        caption = tab.inner_text("#walk-caption")
        assert caption.endswith(stage["caption"]) and caption.startswith(f"{i + 1} / 7")
        shown = tab.evaluate(READ_VALUES)
        assert shown, stage
        for v in shown:
            seen[stage["kind"]] = seen.get(stage["kind"], 0) + 1
            if v["q"] in ("update_w", "update_b"):
                continue  # checked below, by taking the step
            want = expected[v["q"], v["layer"], v["j"], v["k"]]
            if want is None:
                assert v["value"] is None, v
            else:
                assert v["value"] == pytest.approx(want, rel=1e-9, abs=1e-14), (stage, v)
            assert shown_to_4_digits(v["text"], want), (stage, v, want)
        if stage["kind"] == "backward" and stage["layer"] == 1:
            tab.screenshot(path=str(ARTIFACTS / "playground-step-241.png"))
    # 2 inputs + 4 nodes × (z, a); then + the output's z, a; output z, a, y + inputs + C_0; …
    assert seen["forward"] == (2 + 4 * 2) + (2 + 4 * 2 + 2)
    assert seen["cost"] == 2 + 4 * 2 + 3 + 1
    assert seen["backward"] == (3 + 4) + (3 + 4 * 3 + 8)
    assert seen["average"] == 5 + 12 + 1  # ∂C/∂b per node, ∂C/∂w per edge, C
    assert seen["update"] == 5 + 12 + 12  # Δb, adam's Δw, the notes' −η ∂C/∂w
    assert tab.locator("#walk-next").is_disabled()
    tab.click("#walk-prev")
    assert tab.evaluate("window.playground.stage") == 5
    tab.click("#walk-next")
    update = {(v["layer"], v["j"], v["k"]): v for v in tab.evaluate(READ_VALUES)
              if v["q"] in ("update_w", "update_b")}
    assert len(update) == 12 + 5
    # The Δw shown is what the step applies: take it and look.
    before = rebuild(m["state"])
    tab.click("#step")
    tab.wait_for_function("window.playground.walk && window.playground.walk.step === 31")
    after = rebuild(tab.evaluate("window.playground.walk.state"))
    for (layer, j, k), v in update.items():
        old, new = before.dense_layers[layer - 1], after.dense_layers[layer - 1]
        moved = new.b[j] - old.b[j] if k is None else new.w[j, k] - old.w[j, k]
        assert v["value"] == pytest.approx(moved, rel=1e-9, abs=1e-15)
        assert shown_to_4_digits(v["text"], moved)
    assert tab.evaluate("window.playground.stage") == 0  # a new batch starts at stage 1
    tab.uncheck("#walk-mode")
    assert tab.evaluate(READ_VALUES) == []
    assert tab.problems == []
    tab.close()


def state_of(tab: Any) -> dict[str, Any]:
    tab.evaluate("window.playground.state = null; window.playground.send({type: 'state'})")
    tab.wait_for_function("window.playground.state !== null")
    return tab.evaluate("window.playground.state")


def test_a_link_replays_the_run_and_rewind_goes_back_to_step_0(browser: tuple[Any, str]) -> None:
    tab = open_page(browser)
    xor_241(tab, "sgd")
    tab.click("#play")
    tab.wait_for_function("window.playground.update.step >= 40")
    tab.click("#play")
    set_control(tab, "#lr", "0.1")  # changed mid-run: the link carries it with its step
    tab.wait_for_function("window.playground.config.lr === 0.1")
    for _ in range(3):
        tab.click("#step")
    tab.evaluate("window.playground.send({type: 'step', n: 25})")
    before = state_of(tab)
    address = tab.evaluate("location.href")
    assert f"step={before['step']}" in address and "changes=" in address
    assert tab.get_attribute("#share", "href") == "#" + address.split("#", 1)[1]
    fresh = open_page(browser, address)
    fresh.wait_for_function(f"window.playground.update.step === {before['step']}")
    after = state_of(fresh)
    assert after["params"] == before["params"]  # float64 through JSON: bit for bit
    assert after["history"] == before["history"] and len(after["history"]["step"]) > 40
    assert after["link"] == before["link"]
    assert fresh.evaluate("location.href") == address
    fresh.close()

    tab.click("#rewind")
    tab.wait_for_function("window.playground.update.step === 0")
    rewound = state_of(tab)
    config, step, changes = parse_link(rewound["link"])
    assert step == 0 and changes == [] and config["lr"] == 0.1
    assert rewound["params"] == Session(config).net.params.tolist()  # the seed's weights
    assert rewound["history"]["step"] == [0]
    tab.click("#reset")  # new initial weights: the next draw, which the link names
    tab.wait_for_function("window.playground.config.draw === 1")
    assert state_of(tab)["params"] != rewound["params"]
    assert tab.problems == []
    tab.close()


def points_csv(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    rows = (f"{a:.5f},{b:.5f},{c}\n" for (a, b), c in zip(X, labels, strict=True))
    return "x1,x2,label\n" + "".join(rows)


def test_upload_a_csv_train_on_it_and_download_the_model(browser: tuple[Any, str],
                                                         tmp_path: Path) -> None:
    tab = open_page(browser)
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,label\n0.1,0.2,1\n0.3,oops,0\n" + "0.5,0.5,1\n" * 30)
    tab.set_input_files("#upload", str(bad))
    tab.wait_for_function("document.getElementById('error').textContent.includes('oops')")
    error = tab.inner_text("#error")
    assert "bad.csv: row 3, column 2 ('x2'): 'oops' is not a finite number" in error
    assert tab.evaluate("window.playground.config.dataset") == "circles"  # nothing changed

    good = tmp_path / "quadrants.csv"
    good.write_text(points_csv(300, 1))
    tab.set_input_files("#upload", str(good))
    tab.wait_for_function("window.playground.config.dataset === 'uploaded'")
    assert tab.evaluate("window.playground.train.x.length + window.playground.test.x.length") == 300
    # the share box is rewritten after the dataset switch: wait for it, don't race it
    tab.wait_for_function("document.getElementById('share').textContent.includes(\"can't travel\")")
    assert "can't travel" in tab.inner_text("#share")
    set_control(tab, "#optimizer", "adam")
    tab.wait_for_function("window.playground.config.optimizer === 'adam'")
    first = tab.evaluate("window.playground.update.train_loss")
    tab.evaluate("window.playground.send({type: 'step', n: 100})")
    tab.wait_for_function("window.playground.update.step === 100")
    for _ in range(3):
        tab.evaluate("window.playground.send({type: 'step', n: 100})")
    tab.wait_for_function("window.playground.update.step === 400")
    update = tab.evaluate("window.playground.update")
    assert update["train_loss"] < 0.5 * first and update["train_accuracy"] > 0.8
    assert tab.inner_text("#train-acc").endswith("%")

    state = state_of(tab)
    with tab.expect_download() as info:
        tab.click("#download")
    download = info.value
    assert download.suggested_filename == "playground-uploaded-step400.safetensors"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    net = chainrule.io.load(path)
    points = np.array(tab.evaluate("window.playground.train.x"))
    np.testing.assert_array_equal(net.predict(points), rebuild(state).predict(points))
    np.testing.assert_array_equal(net.params, np.array(state["params"]))
    assert tab.problems == []
    tab.close()
