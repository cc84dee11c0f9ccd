"""One browser tab's state: its data, its network, its optimizer, and what the page is shown.

It runs past 300 lines because every message the page is shown (data, updates, weight and
neuron explanations) is built here from one session's state.

A :class:`Session` is plain NumPy on the real engine (``MLP``, a training ``Step``,
``explain``, ``chain_factors``); the server only moves its messages. It is not
thread-safe on its own: the server holds ``session.lock`` around every call,
because training runs in a worker thread while the page may ask for an
explanation at any moment.

The labels of the 2-D data sets are 0/1; the targets y the network sees depend on
the output layer: y ∈ {0, 1} for sigmoid, y ∈ {−1, +1} for tanh and identity
(so 0 is the decision boundary), one-hot rows for softmax.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..datasets.synthetic import make
from ..engine.layers import Dense
from ..engine.network import MLP, Network
from ..health.diagnosis import verdicts_from
from ..health.monitor import Check, baseline_cost, layer_health, probe_cost
from ..io.model import model_to_bytes
from ..notes.explain import chain_factors, explain
from ..training.optimizers import Optimizer, get_optimizer
from ..training.step import Step
from .config import (
    DATA_KEYS,
    LIMITS,
    NETWORK_KEYS,
    TRAINING_KEYS,
    UPLOADED,
    n_train_of,
    output_activation,
    validate_config,
)
from .link import Changes, make_link, parse_link
from .upload import parse_points
from .walkthrough import stages, walk

Array = NDArray[np.floating]
HISTORY_POINTS = 1000  # loss-curve points kept; older ones are thinned, not dropped
_HEALTH_BINS = np.linspace(-3.0, 3.0, 41)


def encode_targets(labels: NDArray[np.int64], output: str) -> Array:
    """Targets y for 0/1 labels, shaped like a^(L): (n_samples, n_out)."""
    if output == "softmax":
        return np.eye(2)[labels]
    y = labels.astype(np.float64).reshape(-1, 1)
    return y if output == "sigmoid" else 2.0 * y - 1.0


def class_score(a: Array, output: str) -> Array:
    """The network's belief in label 1, in [0, 1], for a^(L) of shape (n_samples, n_out)."""
    if output == "softmax":
        return a[:, 1]
    if output == "sigmoid":
        return a[:, 0]
    return np.clip((a[:, 0] + 1.0) / 2.0, 0.0, 1.0)


def _bytes(values: Array) -> str:
    """Values in [0, 1] as base64 uint8: 1 byte per pixel keeps 20 tabs at 20 updates/s cheap."""
    q = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def _plane(lo: float, hi: float, n: int) -> Array:
    """Centres of an n × n grid over [lo, hi]², row 0 at the top (largest x₂), as (n², 2)."""
    step = (hi - lo) / n
    xs = lo + (np.arange(n) + 0.5) * step
    x1, x2 = np.meshgrid(xs, xs[::-1])
    return np.column_stack([x1.ravel(), x2.ravel()])


class Session:
    """Data, network and optimizer of one page, plus the views the page draws.

    Parameters
    ----------
    config : dict, optional
        Partial settings; see :data:`chainrule.playground.config.DEFAULT_CONFIG`.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.uploaded: tuple[Array, NDArray[np.int64]] | None = None
        self.config = validate_config(config or {})
        self._make_data()

    # -- construction -------------------------------------------------------------
    def _make_data(self) -> None:
        cfg = self.config
        data_rng = np.random.default_rng(cfg["seed"])
        if cfg["dataset"] == UPLOADED and self.uploaded is not None:
            X, labels = self.uploaded
        else:
            X, labels = make(cfg["dataset"], cfg["n_samples"], cfg["noise"], rng=data_rng)
        order = data_rng.permutation(len(X))
        n_train = n_train_of(cfg)
        self.X_train, self.X_test = X[order[:n_train]], X[order[n_train:]]
        self.y_train, self.y_test = labels[order[:n_train]], labels[order[n_train:]]
        lo, hi = float(X.min()) - 0.3, float(X.max()) + 0.3
        self.extent = (lo, hi)
        self.grid = _plane(lo, hi, LIMITS["grid"])
        self._make_network()

    def _make_network(self) -> None:
        cfg = self.config
        self.output = output_activation(cfg)
        # Initial weights and batch order from (seed, draw) alone, so a link can rebuild them.
        self.rng = np.random.default_rng([cfg["seed"], cfg["draw"]])
        n_out = 2 if self.output == "softmax" else 1
        self.sizes = [2, *cfg["hidden"], n_out]
        # float64: the tiny networks cost nothing more, and explanations are exact.
        self.net: Network = MLP(self.sizes, hidden=cfg["activation"], output=self.output,
                                loss=cfg["loss"], dtype="float64", rng=self.rng, l2=cfg["l2"])
        self.T_train = encode_targets(self.y_train, self.output)
        self.T_test = encode_targets(self.y_test, self.output)
        self.step = 0
        self.history: dict[str, list[float]] = {"step": [], "train": [], "test": []}
        self.stride = 1  # the curve keeps the steps that are multiples of stride
        self.sent: float = -1  # the last history step an update has carried
        self.origin = dict(cfg)  # the settings at step 0 and those changed since: the link
        self.changes: Changes = []
        self._before_last: NDArray[np.floating] | None = None
        self._make_optimizer()
        self.order = self.rng.permutation(len(self.X_train))
        self.pos = 0
        self._record()

    def _make_optimizer(self) -> None:
        cfg = self.config
        self.optimizer: Optimizer = get_optimizer(cfg["optimizer"], lr=cfg["lr"])
        self.train_step = Step(self.net, self.optimizer)

    def _validate(self, update: object) -> dict[str, Any]:
        rows = None if self.uploaded is None else len(self.uploaded[0])
        return validate_config(update, self.config, uploaded_rows=rows)

    def apply(self, update: object) -> str:
        """Validate and apply new settings; returns what was rebuilt: data, network or training.

        At step 0 any change rebuilds the network (the same initial weights, from the seed),
        so the state is the one a link rebuilds; later, the settings that change a step's
        arithmetic are recorded with their step for the link.
        """
        old = self.config
        self.config = self._validate(update)
        changed = {k for k in self.config if self.config[k] != old[k]}
        if changed & set(DATA_KEYS):
            self._make_data()
            return "data"
        if changed & set(NETWORK_KEYS) or (self.step == 0 and changed & set(TRAINING_KEYS)):
            self._make_network()
            return "network"
        self.origin["steps_per_update"] = self.config["steps_per_update"]
        if changed & set(TRAINING_KEYS):
            fields = {k: self.config[k] for k in TRAINING_KEYS if k in changed}
            if self.changes and self.changes[-1][0] == self.step:
                self.changes[-1][1].update(fields)
            else:
                self.changes.append((self.step, fields))
        if changed & {"optimizer", "lr", "batch_size"}:
            self._make_optimizer()  # optimizer slots start afresh, like a new fit
        self.net.l2 = self.config["l2"]
        if "batch_size" in changed:
            self.pos = 0
            self.order = self.rng.permutation(len(self.X_train))
        return "training"

    def reset(self) -> None:
        """New initial weights (the next ``draw`` for this seed), same data."""
        self.config["draw"] = (self.config["draw"] + 1) % 2**31
        self._make_network()

    def rewind(self) -> None:
        """Back to step 0: the same initial weights (same seed and draw), same data."""
        self._make_network()

    # -- training -------------------------------------------------------------------
    def next_batch(self) -> NDArray[np.intp]:
        """Indices into the training set of the batch the next step will use."""
        return self.order[self.pos : self.pos + self.config["batch_size"]]

    def train(self, n_steps: int) -> None:
        """``n_steps`` mini-batch steps: forward, cost, backprop, optimizer update.

        Raises :class:`chainrule.DivergenceError` if the loss or gradient stops being finite.
        """
        for step in range(n_steps):
            if step == n_steps - 1:  # the weights one step ago: the health panel's ‖Δw‖/‖w‖
                self._before_last = self.net.params.copy()
            idx = self.next_batch()
            self.train_step(self.X_train[idx], self.T_train[idx], epoch=int(self.epoch) + 1,
                            batch=self.step + 1)
            self.step += 1
            if self.step % self.stride == 0:
                self._record()
            self.pos += len(idx)
            # Epoch done: reshuffle at once, so the next batch is always known (and explainable).
            if self.pos >= len(self.X_train):
                self.order = self.rng.permutation(len(self.X_train))
                self.pos = 0
        if self.history["step"][-1] != self.step:
            self._measure()

    def _record(self) -> None:
        """Append the train and test cost C to the history at this step.

        The curve keeps every step until it has :data:`HISTORY_POINTS` points, then every
        2nd, every 4th…: which steps it holds depends on the step count alone, so a
        replayed run has the very same curve however its steps were grouped.
        """
        h = self.history
        h["step"].append(self.step)
        h["train"].append(0.0)
        h["test"].append(0.0)
        h["train"][-1], h["test"][-1] = self._measure()
        if len(h["step"]) > HISTORY_POINTS:
            for key in h:
                h[key] = h[key][::2]
            self.stride *= 2

    def _measure(self) -> tuple[float, float]:
        """Train and test cost C of the current weights, and both accuracies."""
        losses, accuracy = [], []
        for X, T, labels in ((self.X_train, self.T_train, self.y_train),
                             (self.X_test, self.T_test, self.y_test)):
            a0 = self.net.inputs(X)
            trace = self.net.forward(a0)
            losses.append(self.net.cost(trace, self.net.targets(T, a0.shape[0])))
            a_L = trace.a_L
            accuracy.append(float(np.mean((class_score(a_L, self.output) >= 0.5) == labels)))
        self.accuracy = (accuracy[0], accuracy[1])
        self.losses = (losses[0], losses[1])
        return self.losses

    @property
    def epoch(self) -> float:
        return self.step * self.config["batch_size"] / len(self.X_train)

    # -- what the page draws ----------------------------------------------------------
    def data_message(self) -> dict[str, Any]:
        """Points, plane extent and architecture: sent when the data or network changes."""
        return {
            "type": "data",
            "config": self.config,
            "sizes": self.sizes,
            "output": self.output,
            "extent": list(self.extent),
            "train": {"x": np.round(self.X_train, 4).tolist(), "y": self.y_train.tolist()},
            "test": {"x": np.round(self.X_test, 4).tolist(), "y": self.y_test.tolist()},
            "history": self._history_sent(),
        }

    def _history_sent(self) -> dict[str, list[float]]:
        self.sent = self.history["step"][-1]
        return self.history

    def _new_points(self) -> list[list[float]]:
        """The curve's points since the last update: [step, train C, test C] each."""
        h = self.history
        points = [[s, a, b] for s, a, b in zip(h["step"], h["train"], h["test"], strict=True)
                  if s > self.sent]
        self.sent = h["step"][-1]
        return points

    def link(self) -> str | None:
        """The shareable fragment of this state (None for an uploaded CSV: a link can't
        carry the data)."""
        if self.config["dataset"] == UPLOADED:
            return None
        return make_link(self.origin, self.step, self.changes)

    def update_message(self) -> dict[str, Any]:
        """Losses, decision regions, hidden heat maps and weights: sent many times a second."""
        net = self.net
        # One forward pass over the plane gives the output and, at every 2nd point, each
        # hidden neuron's heat map.
        G, H = LIMITS["grid"], LIMITS["neuron_grid"]
        trace = net.forward(net.inputs(self.grid))
        score = class_score(trace.a_L, self.output)
        maps, scales = [], []
        dense = [(i, d) for i, d in enumerate(net.layers) if isinstance(d, Dense)]
        for i, d in dense[:-1]:
            a = trace.a[i + 1].reshape(G, G, d.n_out)[:: G // H, :: G // H].reshape(H * H, d.n_out)
            bounded = d.activation.name in ("tanh", "sigmoid")
            for j in range(d.n_out):
                s = 1.0 if bounded else float(np.max(np.abs(a[:, j]))) or 1.0
                scales.append(s)
                maps.append((a[:, j] / s + 1.0) / 2.0)  # −s … s → 0 … 1
        return {
            "type": "update",
            "step": self.step,
            "epoch": round(self.epoch, 3),
            "train_loss": self.losses[0],
            "test_loss": self.losses[1],
            "points": self._new_points(),
            "stride": self.stride,
            "link": self.link(),
            "train_accuracy": self.accuracy[0],
            "test_accuracy": self.accuracy[1],
            "grid": _bytes(score),
            "neurons": _bytes(np.concatenate(maps)) if maps else "",
            "neuron_scale": scales,
            "weights": [np.round(d.w, 5).tolist() for d in net.dense_layers],
            "biases": [np.round(d.b, 5).tolist() if d.b is not None else None
                       for d in net.dense_layers],
            "health": self.health(),
        }

    def health(self) -> dict[str, Any]:
        """The health monitor's verdicts on the training set, and which hidden neurons are
        dead (g′(z) = 0 for every sample) or saturated (most outputs near ±1)."""
        net = self.net
        a0 = net.inputs(self.X_train)
        trace = net.forward(a0)  # one pass for the verdicts and the per-neuron marks
        layers = layer_health(net, a0, net.grads, self._before_last, _HEALTH_BINS, trace)
        # with the cost and a constant output's, the verdicts know whether the network fits
        # (no saturation alarm at 99 % accuracy: health.diagnosis.FITS)
        Y = net.targets(self.T_train, len(a0))
        check = Check(self.step, int(self.epoch) + 1, layers, probe_cost(net, trace, Y),
                      baseline_cost(net, Y))
        diagnosis = verdicts_from([check], [])
        dead, saturated = [], []
        for i, d in enumerate(net.layers[:-1]):
            if not isinstance(d, Dense):
                continue
            z, a = trace.z[i], trace.a[i + 1]
            assert z is not None
            g_flat = d.activation.g_prime(z, a) == 0 if d.activation.elementwise else None
            dead.append([] if g_flat is None else np.all(g_flat, axis=0).tolist())
            sat = d.activation.saturated(a)
            saturated.append([] if sat is None else (np.mean(sat, axis=0) > 0.5).tolist())
        return {"healthy": diagnosis.healthy, "verdicts": [v.message for v in diagnosis.verdicts],
                "kinds": sorted(diagnosis.kinds), "dead": dead, "saturated": saturated}

    # -- explanations --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this network and its next batch exactly (float64)."""
        idx = self.next_batch()
        return {
            "sizes": self.sizes,
            "activation": self.config["activation"],
            "output": self.output,
            "loss": self.config["loss"],
            "l2": self.config["l2"],
            "lr": self.config["lr"],
            "optimizer": self.optimizer.get_config(),
            "step": self.step,
            "params": self.net.params.tolist(),
            "batch": idx.tolist(),
            "X": self.X_train[idx].tolist(),
            "T": self.T_train[idx].tolist(),
        }

    def _next_step(self) -> tuple[Array, Array]:
        """The gradient of the next batch and the Δ the optimizer will apply, both flat.

        The step runs on copies (parameters and optimizer slots), so nothing moves.
        """
        idx = self.next_batch()
        grads = self.net.gradient(self.X_train[idx], self.T_train[idx]).copy()
        twin = get_optimizer(self.optimizer.get_config())
        twin.load_state_dict(self.optimizer.state_dict())
        params = self.net.params.copy()
        twin.step(params, grads.copy())
        return grads, params - self.net.params

    def _offset(self, layer: int) -> int:
        return int(self.net.param_slices(layer)["w"].start)

    def explain_weight(self, layer: object, j: object, k: object, sample: object) -> dict:
        """The notes' factors of ∂C_0/∂w_jk^(layer) on the next batch, from :func:`explain`."""
        idx = self.next_batch()
        X, T = self.X_train[idx], self.T_train[idx]
        e = explain(self.net, X, T, layer=layer, j=j, k=k, sample=sample,  # type: ignore[arg-type]
                    lr=self.config["lr"])
        grads, delta = self._next_step()
        flat = self._offset(e.layer) + e.j * self.net.dense_layers[e.layer - 1].n_in + e.k
        return {
            "type": "weight",
            "layer": e.layer, "j": e.j, "k": e.k, "n_layers": e.n_layers,
            "loss": e.loss, "activation": e.activation, "output": self.output,
            "fused": self.net.fused_output,
            "sample": e.sample, "batch_size": len(idx), "index": int(idx[e.sample]),
            "x": X[e.sample].tolist(), "label": int(self.y_train[idx[e.sample]]),
            "w": float(self.net.params[flat]),
            "a_j": e.a_j, "y_j": e.y_j, "z_j": e.z_j, "dC_da": e.dC_da, "g_prime": e.g_prime,
            "delta": e.delta, "a_prev_k": e.a_prev_k, "product": e.product,
            "finite_difference": e.finite_difference,
            "terms": [vars(t) for t in e.terms],
            "coupled": [vars(t) for t in e.coupled], "canonical": e.canonical,
            "average": e.average, "finite_difference_average": e.finite_difference_average,
            "lr": e.lr, "update": e.update,
            "l2": self.config["l2"], "gradient": float(grads[flat]),
            "optimizer": self.optimizer.name, "next_update": float(delta[flat]),
            "state": self.state(),
        }

    def explain_neuron(self, layer: object, j: object, sample: object) -> dict:
        """z_j, a_j, ∂C_0/∂a_j, g′(z_j) and δ_j of one node for one sample of the next batch."""
        L = len(self.sizes) - 1
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= L:
            raise ValueError(f"layer: expected an integer in 0..{L}, got {layer!r}")
        width = self.sizes[layer]
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < width:
            raise ValueError(f"j: expected an integer in 0..{width - 1} for layer {layer}, "
                             f"got {j!r}")
        idx = self.next_batch()
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < len(idx):
            raise ValueError(f"sample: expected an integer in 0..{len(idx) - 1}, got {sample!r}")
        X, T = self.X_train[idx], self.T_train[idx]
        out: dict[str, Any] = {
            "type": "neuron", "layer": layer, "j": j, "n_layers": L, "sample": sample,
            "batch_size": len(idx), "x": X[sample].tolist(),
            "label": int(self.y_train[idx[sample]]),
        }
        if layer == 0:
            out["a"] = float(X[sample, j])  # a_j^(0) is the input itself
            return out
        f = chain_factors(self.net, X, T)
        d = self.net.dense_layers[layer - 1]
        i = layer - 1
        z, a = f["z"][i], f["a"][i]
        g_prime = (float(d.activation.g_prime(z[sample : sample + 1], a[sample : sample + 1])[0, j])
                   if d.activation.elementwise else None)
        out.update({
            "activation": d.activation.name,
            "z": float(z[sample, j]), "a": float(a[sample, j]),
            "dC_da": float(f["dC_da"][i][sample, j]), "g_prime": g_prime,
            "delta": float(f["delta"][i][sample, j]),
            "delta_average": float(f["delta"][i][:, j].mean()),  # = ∂C/∂b_j
            "b": float(d.b[j]) if d.b is not None else None,
        })
        return out

    # -- step mode, links, uploads, downloads ---------------------------------------------
    def walkthrough(self, sample: object) -> dict[str, Any]:
        """Step mode for one sample of the next batch: every stage's numbers, from the engine
        (see :mod:`chainrule.playground.walkthrough`), plus ``state`` to check them by."""
        idx = self.next_batch()
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < len(idx):
            raise ValueError(f"sample: expected an integer in 0..{len(idx) - 1}, got {sample!r}")
        X, T = self.X_train[idx], self.T_train[idx]
        gradient, delta = self._next_step()
        numbers = walk(self.net, X, T, sample, lr=self.config["lr"], l2=self.config["l2"],
                       gradient=gradient, next_update=delta)
        return {
            "type": "walk", "step": self.step, "sample": sample, "batch_size": len(idx),
            "index": int(idx[sample]), "x": X[sample].tolist(),
            "label": int(self.y_train[idx[sample]]), "loss": self.config["loss"],
            "output": self.output, "optimizer": self.optimizer.name, "lr": self.config["lr"],
            "l2": self.config["l2"],
            "stages": stages(len(self.sizes) - 1, len(idx), self.optimizer.name),
            **numbers, "state": self.state(),
        }

    def begin_replay(self, link: object) -> list[tuple[int, dict[str, Any] | None]]:
        """Rebuild the data and initial weights a link names; returns the plan to replay:
        (steps to take, then settings to apply or None) pairs, for the server to run under
        its rate limit."""
        config, step, changes = parse_link(link)
        if config.get("dataset") == UPLOADED:
            raise ValueError("link: dataset: an uploaded CSV can't travel in a link; "
                             "upload the file again")
        self.config = validate_config(config)
        self._make_data()
        plan: list[tuple[int, dict[str, Any] | None]] = []
        at = 0
        for when, fields in changes:
            plan.append((when - at, fields))
            at = when
        plan.append((step - at, None))
        return plan

    def upload(self, text: object, name: object = "upload.csv") -> None:
        """Train on a CSV of x1,x2,label rows from the page (checked by :func:`parse_points`).

        All or nothing: if the data cannot be drawn or measured (a cost that is not
        finite), the session keeps its previous data and settings.
        """
        X, labels = parse_points(text, name)
        before = (self.uploaded, self.config)
        try:
            self.uploaded = (X, labels)
            n_train = n_train_of({**self.config, "n_samples": len(X)})
            self.config = self._validate({"dataset": UPLOADED,
                                          "batch_size": min(self.config["batch_size"], n_train)})
            self._make_data()
            if not (np.all(np.isfinite(self.grid)) and np.all(np.isfinite(self.losses))):
                raise ValueError(f"{name if isinstance(name, str) else 'upload.csv'}: the "
                                 "network's cost on these points is not finite; scale x1 "
                                 "and x2 to smaller values")
        except BaseException:
            self.uploaded, self.config = before
            self._make_data()
            raise

    def recover(self) -> None:
        """Back to the default data set and settings: what a reset falls back on when the
        session's own data or settings cannot be rebuilt."""
        self.uploaded = None
        self.config = validate_config({})
        self._make_data()

    def model_file(self) -> dict[str, Any]:
        """The live network as a chainrule ``.safetensors`` file (the format ``chainrule
        train`` saves), base64-encoded for the page to download."""
        cfg = self.config
        summary = {"source": "chainrule playground", "dataset": cfg["dataset"],
                   "step": self.step, "link": self.link()}
        data = model_to_bytes(self.net, training=summary)
        return {"type": "model", "filename": f"playground-{cfg['dataset']}-step{self.step}"
                ".safetensors", "data": base64.b64encode(data).decode("ascii")}
