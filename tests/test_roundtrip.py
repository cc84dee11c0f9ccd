"""Round trips (issue 11 item 5): every constructor argument of Network, Dense, Dropout, the
losses, activations, optimizers and schedules survives ``get_config`` → rebuild and
``save`` → ``load``, on random configurations drawn by hypothesis, checked bitwise.

Rebuilt objects must have an equal ``get_config()`` *and* behave the same: the same forward
output, gradient, optimizer step or learning rate, bit for bit. A loaded network must also
have the same parameters, optimizer state, scaler, classes and generator state, and one
more epoch of training from the loaded copy must equal one more epoch from the original.

The tables in ``ARGS`` list what is drawn for each constructor argument;
``test_every_constructor_argument_is_drawn`` fails when a constructor gains an argument
that no strategy here draws, so a new argument cannot silently escape the round trip.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import chainrule
from chainrule.engine.activations import ACTIVATIONS, Activation, get_activation
from chainrule.engine.initializers import INITIALIZERS
from chainrule.engine.layers import Dense, Dropout, Layer, layer_from_config
from chainrule.engine.losses import LOSSES, Loss, get_loss
from chainrule.engine.network import Network
from chainrule.io.model import read_model
from chainrule.table.scaler import Standardizer
from chainrule.training.callbacks import DivergenceError
from chainrule.training.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from chainrule.training.schedules import SCHEDULES, Schedule, get_schedule

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: The regression tests of the two load() bugs this file found (fused dropped, only PCG64
#: generators loadable): fewer examples, each a full save → load → train round trip.
REGRESSION = settings(SETTINGS, max_examples=20)


def library(registry: dict[str, type]) -> dict[str, type]:
    """The registry's entries defined by chainrule itself: a test module may register its
    own activation (subclasses register themselves), which this file knows nothing of."""
    return {n: c for n, c in registry.items() if c.__module__.startswith("chainrule.")}


def real(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


LR = real(1e-4, 0.05)
CLIPNORM = st.none() | real(1e-3, 10.0)
BETA = real(0.0, 0.999)
EPS = real(1e-10, 1e-3)

#: What is drawn for every constructor argument, by kind and registry name (``lr`` of
#: schedules and optimizers aside: it is drawn for all of them). Arguments are drawn
#: optionally, so defaults are round-tripped too.
ARGS: dict[str, dict[str, dict[str, st.SearchStrategy[Any]]]] = {
    "activation": {
        "leaky_relu": {"slope": real(-1.0, 1.0)},
        "elu": {"alpha": real(1e-3, 10.0)},
    },
    "loss": {"huber": {"delta": real(1e-3, 10.0)}},
    "schedule": {
        "step": {"step_size": st.integers(1, 20), "gamma": real(0.05, 1.0)},
        "exponential": {"decay_steps": st.integers(1, 20), "gamma": real(0.05, 1.0)},
        "invscaling": {"power_t": real(0.0, 1.0)},
        "cosine": {"total_steps": st.integers(1, 60), "warmup_steps": st.integers(0, 60),
                   "min_lr": real(0.0, 1e-3)},
        "flat_cosine": {"total_steps": st.integers(1, 60), "flat_fraction": real(0.0, 0.99),
                        "min_lr": real(0.0, 1e-3)},
    },
    "optimizer": {
        "sgd": {"momentum": real(0.0, 0.99), "nesterov": st.booleans(), "clipnorm": CLIPNORM},
        "momentum": {"momentum": real(0.0, 0.99), "clipnorm": CLIPNORM},
        "nesterov": {"momentum": real(1e-3, 0.99), "clipnorm": CLIPNORM},
        "rmsprop": {"rho": real(0.0, 0.999), "eps": EPS, "clipnorm": CLIPNORM},
        "adam": {"beta_1": BETA, "beta_2": BETA, "eps": EPS, "clipnorm": CLIPNORM},
        "adamw": {"beta_1": BETA, "beta_2": BETA, "eps": EPS, "weight_decay": real(0.0, 0.1),
                  "clipnorm": CLIPNORM},
    },
}
REGISTRIES: dict[str, dict[str, type]] = {
    "activation": ACTIVATIONS, "loss": LOSSES, "schedule": SCHEDULES, "optimizer": OPTIMIZERS,
}
#: Network, Dense and Dropout: the arguments NetSpec below draws.
STRUCTURE_ARGS: dict[type, set[str]] = {
    # backend and device say where the arrays live, not what a file holds (files are host
    # NumPy; tests/test_backends.py round-trips load(..., backend=...)): not drawn here.
    Network: {"layers", "loss", "seed", "rng", "dtype", "l2", "fused", "backend", "device",
              "ensemble"},
    Dense: {"n_in", "n_out", "activation", "bias", "init", "w", "b"},
    Dropout: {"rate"},
}


def constructor_args(cls: type) -> set[str]:
    return {p.name for p in inspect.signature(cls).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def names(kind: str) -> list[str]:
    return sorted(library(REGISTRIES[kind]))


def kwargs_for(kind: str, name: str) -> st.SearchStrategy[dict[str, Any]]:
    optional = dict(ARGS[kind].get(name, {}))
    if kind in ("schedule", "optimizer"):
        lr = LR | schedules() if kind == "optimizer" else LR
        optional["lr"] = lr
    required = {"lr": optional.pop("lr")} if kind == "schedule" else {}
    return st.fixed_dictionaries(required, optional=optional)


def json_round_trip(config: Any) -> Any:
    """What a model file does to a config: JSON out and back."""
    return json.loads(json.dumps(config))


def plain(value: Any) -> Any:
    """A generator state as plain Python (MT19937 and Philox states hold arrays)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def assert_same_rng(mine: np.random.Generator, theirs: np.random.Generator, what: str) -> None:
    assert type(mine.bit_generator) is type(theirs.bit_generator), f"{what}: bit generator"
    assert plain(mine.bit_generator.state) == plain(theirs.bit_generator.state), f"{what}: state"


def assert_same_bits(a: Any, b: Any, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert (a.dtype, a.shape) == (b.dtype, b.shape), (
        f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
    assert a.tobytes() == b.tobytes(), f"{what}: the values differ"


def assert_same_state(s1: dict[str, Any], s2: dict[str, Any], what: str) -> None:
    assert s1.keys() == s2.keys(), f"{what}: keys {sorted(s1)} vs {sorted(s2)}"
    for key, value in s1.items():
        if isinstance(value, np.ndarray) or isinstance(s2[key], np.ndarray):
            assert_same_bits(value, s2[key], f"{what}[{key!r}]")
        else:
            assert value == s2[key], f"{what}[{key!r}]: {value!r} vs {s2[key]!r}"


# -- strategies ---------------------------------------------------------------------------
@st.composite
def activations(draw: st.DrawFn, name: str | None = None) -> Activation:
    name = name or draw(st.sampled_from(names("activation")))
    return ACTIVATIONS[name](**draw(kwargs_for("activation", name)))


@st.composite
def losses(draw: st.DrawFn, name: str | None = None) -> Loss:
    name = name or draw(st.sampled_from(names("loss")))
    return LOSSES[name](**draw(kwargs_for("loss", name)))


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    name = draw(st.sampled_from(names("schedule")))
    kwargs = draw(kwargs_for("schedule", name))
    if name == "cosine":  # warmup_steps must be < total_steps
        kwargs["warmup_steps"] = kwargs.get("warmup_steps", 0) % kwargs.get("total_steps", 10000)
    return SCHEDULES[name](**kwargs)


@st.composite
def optimizers(draw: st.DrawFn) -> Optimizer:
    name = draw(st.sampled_from(names("optimizer")))
    kwargs = draw(kwargs_for("optimizer", name))
    if kwargs.get("nesterov") and not kwargs.get("momentum"):
        kwargs["momentum"] = 0.5  # SGD(nesterov=True) needs momentum > 0
    return OPTIMIZERS[name](**kwargs)


DEFAULT_FUSED = st.none() | st.booleans()  # None: leave Network's default
FUSED_THAT_LOADS = DEFAULT_FUSED  # fused=False survives save → load since the fix


@dataclasses.dataclass
class NetSpec:
    """Plain data for a Network (layers are bound to one network, so build() makes new ones)."""

    layers: list[tuple[str, dict[str, Any]]]
    loss: Any
    kwargs: dict[str, Any]
    rng: tuple[str, int] | None  # ("seed", s), (bit generator name, s), or None: fresh entropy

    def rng_kwargs(self) -> dict[str, Any]:
        if self.rng is None:
            return {}
        kind, seed = self.rng
        if kind == "seed":
            return {"seed": seed}
        return {"rng": np.random.Generator(getattr(np.random, kind)(seed))}

    def build(self, **overrides: Any) -> Network:
        layers: list[Layer] = [Dense(**kw) if kind == "Dense" else Dropout(**kw)
                               for kind, kw in self.layers]
        return Network(layers, self.loss, **{**self.kwargs, **self.rng_kwargs(), **overrides})


@st.composite
def networks(draw: st.DrawFn, fused: st.SearchStrategy[bool | None] = DEFAULT_FUSED,
             rng_kinds: tuple[str, ...] = ("seed", "entropy", "PCG64"),
             explicit_weights: bool = True) -> NetSpec:
    """Random layer stacks, losses and Network options. ``fused`` None leaves the default;
    classification losses get their canonical output activation (a fit that can diverge
    would say nothing about round trips)."""
    loss = draw(losses())
    loss_spec = draw(st.sampled_from([loss, loss.name] if loss.get_config() == {"name": loss.name}
                                     else [loss]))
    n_in = draw(st.integers(1, 5))
    n_out = draw(st.integers(2 if loss.name == "cross_entropy" else 1, 4))
    sizes = [n_in, *draw(st.lists(st.integers(1, 6), max_size=2)), n_out]
    layers: list[tuple[str, dict[str, Any]]] = []
    for i, (k, j) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        canonical = loss.canonical_activation if last else None
        act = draw(activations(canonical))
        act_spec = draw(st.sampled_from([act, act.name] if act.get_config() == {"name": act.name}
                                        else [act]))
        kw: dict[str, Any] = {"n_in": k, "n_out": j}
        if canonical:
            kw["activation"] = act_spec
        kw.update(draw(st.fixed_dictionaries({}, optional={
            "activation": st.just(act_spec), "bias": st.booleans(),
            "init": st.none() | st.sampled_from(sorted(INITIALIZERS))})))
        if explicit_weights and draw(st.booleans()):
            w_rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            kw["w"] = w_rng.normal(size=(j, k))
            if kw.get("bias", True):
                kw["b"] = w_rng.normal(size=j)
        layers.append(("Dense", kw))
        if not last and draw(st.booleans()):
            layers.append(("Dropout", {"rate": draw(real(0.0, 0.9))}))
    kwargs = draw(st.fixed_dictionaries({}, optional={
        "dtype": st.sampled_from(["float32", "float64"]), "l2": real(0.0, 0.1)}))
    if not any("w" in kw for _, kw in layers) and draw(st.booleans()):
        kwargs["ensemble"] = draw(st.integers(1, 3))  # K members stacked in every layer
    fused_value = draw(fused)
    if fused_value is not None:
        kwargs["fused"] = fused_value
    kind = draw(st.sampled_from(rng_kinds))
    rng = None if kind == "entropy" else (kind, draw(st.integers(0, 2**63 - 1)))
    return NetSpec(layers, loss_spec, kwargs, rng)


def network_from_config(config: dict[str, Any], **kwargs: Any) -> Network:
    """Rebuild a network from get_config(): every key besides layers and loss is a Network
    keyword, so a key added to get_config() is passed on without changing this helper."""
    cfg = dict(config)
    layers = [layer_from_config(c) for c in cfg.pop("layers")]
    return Network(layers, loss=get_loss(cfg.pop("loss")), **cfg, **kwargs)


def data_for(net: Network, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets valid for the network's loss: one-hot rows for cross-entropy,
    0/1 for binary cross-entropy, real numbers otherwise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, net.n_in)) * 2.0 + 0.5
    name = net.loss_fn.name
    if name == "cross_entropy":
        Y = np.eye(net.n_out)[rng.integers(0, net.n_out, n)]
    elif name == "binary_cross_entropy":
        Y = rng.integers(0, 2, (n, net.n_out)).astype(float)
    else:
        Y = rng.normal(size=(n, net.n_out))
    return X, Y


# -- every argument is drawn ------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_constructor_argument_is_drawn(kind: str) -> None:
    assert names(kind), f"no {kind}s registered"
    extra = {"lr"} if kind in ("schedule", "optimizer") else set()
    for name, cls in library(REGISTRIES[kind]).items():
        drawn = set(ARGS[kind].get(name, {})) | extra
        assert constructor_args(cls) == drawn, (
            f"{kind} {name!r}: constructor arguments {sorted(constructor_args(cls))}, "
            f"drawn here {sorted(drawn)}: add a strategy to ARGS in {Path(__file__).name}"
        )
    assert not set(ARGS[kind]) - set(REGISTRIES[kind]), "ARGS names an unregistered class"


@pytest.mark.parametrize("cls", list(STRUCTURE_ARGS), ids=lambda c: c.__name__)
def test_every_structure_argument_is_drawn(cls: type) -> None:
    assert constructor_args(cls) == STRUCTURE_ARGS[cls], (
        f"{cls.__name__}: constructor arguments {sorted(constructor_args(cls))}; NetSpec and "
        f"networks() in {Path(__file__).name} draw {sorted(STRUCTURE_ARGS[cls])}"
    )


# -- get_config → rebuild: activations, losses, schedules, optimizers ---------------------------
@SETTINGS
@given(act=activations(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_activation_config_rebuilds_the_same_function(act: Activation, dtype: type,
                                                      seed: int) -> None:
    config = act.get_config()
    for rebuilt in (get_activation(config), get_activation(json_round_trip(config))):
        assert type(rebuilt) is type(act) and rebuilt.get_config() == config and rebuilt == act
        rng = np.random.default_rng(seed)
        z = (rng.normal(size=(7, 5)) * 6.0).astype(dtype)
        grad_a = rng.normal(size=z.shape).astype(dtype)
        a = act.forward(z)
        assert_same_bits(rebuilt.forward(z), a, "g(z)")
        assert_same_bits(rebuilt.g_prime(z, a), act.g_prime(z, a), "g'(z)")
        assert_same_bits(rebuilt.backward(z, a, grad_a), act.backward(z, a, grad_a), "delta")


@SETTINGS
@given(loss=losses(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_loss_config_rebuilds_the_same_cost(loss: Loss, dtype: type, seed: int) -> None:
    config = loss.get_config()
    for rebuilt in (get_loss(config), get_loss(json_round_trip(config))):
        assert type(rebuilt) is type(loss) and rebuilt.get_config() == config
        rng = np.random.default_rng(seed)
        z = (rng.normal(size=(6, 3)) * 3.0).astype(dtype)
        a = (1.0 / (1.0 + np.exp(-z))).astype(dtype)
        y = rng.integers(0, 2, z.shape).astype(dtype)
        assert_same_bits(rebuilt.value(a, y), loss.value(a, y), "C_i")
        assert_same_bits(rebuilt.grad_a(a, y), loss.grad_a(a, y), "dC_i/da")
        if loss.canonical_activation is not None:
            assert_same_bits(rebuilt.value_from_logits(z, y), loss.value_from_logits(z, y),
                             "C_i from logits")


@SETTINGS
@given(schedule=schedules())
def test_schedule_config_rebuilds_the_same_learning_rates(schedule: Schedule) -> None:
    config = schedule.get_config()
    for rebuilt in (get_schedule(config), get_schedule(json_round_trip(config))):
        assert type(rebuilt) is type(schedule) and rebuilt.get_config() == config
        assert [rebuilt(t) for t in range(150)] == [schedule(t) for t in range(150)]


@SETTINGS
@given(opt=optimizers(), dtype=st.sampled_from([np.float32, np.float64]),
       n_steps=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_optimizer_config_rebuilds_the_same_steps(opt: Optimizer, dtype: type, n_steps: int,
                                                  seed: int) -> None:
    """Same steps from the config (fresh) and from config + state_dict (resumed)."""
    config = opt.get_config()
    rebuilt = get_optimizer(json_round_trip(config))
    assert type(rebuilt) is type(opt) and rebuilt.get_config() == config
    assert get_optimizer(config).get_config() == config
    rng = np.random.default_rng(seed)
    p1 = rng.normal(size=23).astype(dtype)
    p2 = p1.copy()
    grads = [(rng.normal(size=23) * 10.0 ** rng.uniform(-3, 2)).astype(dtype)
             for _ in range(2 * n_steps)]
    for g in grads[:n_steps]:
        assert rebuilt.lr == opt.lr
        opt.step(p1, g)
        rebuilt.step(p2, g)
        assert_same_bits(p2, p1, "parameters after a step")
    assert_same_state(rebuilt.state_dict(), opt.state_dict(), "state_dict")
    resumed = get_optimizer(json_round_trip(config))
    resumed.load_state_dict(opt.state_dict())
    assert_same_state(resumed.state_dict(), opt.state_dict(), "loaded state_dict")
    p3 = p1.copy()
    for g in grads[n_steps:]:
        assert resumed.lr == opt.lr
        opt.step(p1, g)
        resumed.step(p3, g)
        assert_same_bits(p3, p1, "parameters after a resumed step")
    assert_same_state(resumed.state_dict(), opt.state_dict(), "state_dict after resuming")


# -- get_config → rebuild: networks (Dense, Dropout, loss, dtype, l2, fused) -------------------
def check_network_rebuild(spec: NetSpec, seed: int) -> None:
    net = spec.build()
    config = net.get_config()
    rebuilt = network_from_config(json_round_trip(config), **spec.rng_kwargs())
    assert rebuilt.get_config() == config
    assert rebuilt.fused == net.fused, "fused"
    assert rebuilt.dtype == net.dtype and rebuilt.l2 == net.l2
    for mine, theirs in zip(rebuilt.layers, net.layers, strict=True):
        assert type(mine) is type(theirs) and mine.get_config() == theirs.get_config()
        assert layer_from_config(theirs.get_config()).get_config() == theirs.get_config()
    if spec.rng is not None and not any("w" in kw for _, kw in spec.layers):
        # same seed, same initializers: the same initial weights
        assert_same_bits(rebuilt.params, net.params, "initial parameters")
    rebuilt.params[...] = net.params
    X, Y = data_for(net, 9, seed)
    assert_same_bits(rebuilt.predict(X), net.predict(X), "forward output")
    assert_same_bits(rebuilt.gradient(X, Y), net.gradient(X, Y), "gradient")
    assert rebuilt.loss(X, Y) == net.loss(X, Y)


@SETTINGS
@given(spec=networks(), seed=st.integers(0, 2**32 - 1))
def test_network_config_rebuilds_the_same_network(spec: NetSpec, seed: int) -> None:
    check_network_rebuild(spec, seed)


# -- save → load ----------------------------------------------------------------------------
def check_save_load(spec: NetSpec, opt: Optimizer, data: st.DataObject) -> None:
    net = spec.build()
    n = data.draw(st.integers(4, 20), label="n_samples")
    X, Y = data_for(net, n, data.draw(st.integers(0, 2**32 - 1), label="data seed"))
    scaler = data.draw(st.sampled_from(["none", "fit", "random"]), label="scaler")
    if scaler == "fit":
        net.scaler = Standardizer.fit(X)
    elif scaler == "random":
        s_rng = np.random.default_rng(n)
        net.scaler = Standardizer(s_rng.normal(size=net.n_in), s_rng.uniform(0.1, 3, net.n_in))
    if net.loss_fn.classification:
        n_classes = 2 if net.n_out == 1 else net.n_out
        label = st.integers(-1000, 1000) | st.text(max_size=4)
        net.classes = data.draw(st.none() | st.lists(label, min_size=n_classes,
                                                     max_size=n_classes, unique=True),
                                label="classes")
    batch_size = data.draw(st.integers(1, 8), label="batch_size")
    epochs = data.draw(st.integers(0, 2), label="epochs")
    try:
        net.fit(X, Y, epochs=epochs, batch_size=batch_size, optimizer=opt)
    except DivergenceError:
        assume(False)
    training = {"dataset": "random", "epochs": epochs}
    feature_names = [f"x{i}" for i in range(net.n_in)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        chainrule.save(net, path, training=training, feature_names=feature_names)
        model = read_model(path)
        loaded = chainrule.load(path)
    assert model.training == training and model.feature_names == feature_names
    assert loaded.get_config() == net.get_config()
    assert loaded.fused == net.fused, "fused"
    assert_same_bits(loaded.params, net.params, "parameters")
    for mine, theirs in zip(loaded.parameters(), net.parameters(), strict=True):
        assert_same_bits(mine, theirs, "layer parameter")
    assert loaded.optimizer is not None and net.optimizer is not None
    assert type(loaded.optimizer) is type(net.optimizer)
    assert loaded.optimizer.get_config() == net.optimizer.get_config()
    assert_same_state(loaded.optimizer.state_dict(), net.optimizer.state_dict(), "optimizer")
    if net.scaler is None:
        assert loaded.scaler is None
    else:
        assert loaded.scaler is not None
        assert_same_bits(loaded.scaler.mean, net.scaler.mean, "scaler.mean")
        assert_same_bits(loaded.scaler.scale, net.scaler.scale, "scaler.scale")
    assert loaded.classes == net.classes
    assert_same_rng(loaded.rng, net.rng, "generator")
    assert_same_bits(loaded.predict(X), net.predict(X), "predictions")
    # one more epoch from each: the same steps, shuffles and dropout masks
    try:
        h_net = net.fit(X, Y, epochs=1, batch_size=batch_size)
    except DivergenceError:
        assume(False)
    h_loaded = loaded.fit(X, Y, epochs=1, batch_size=batch_size)
    assert h_loaded.history == h_net.history
    assert_same_bits(loaded.params, net.params, "parameters after one more epoch")
    assert_same_state(loaded.optimizer.state_dict(), net.optimizer.state_dict(),
                      "optimizer after one more epoch")
    assert_same_rng(loaded.rng, net.rng, "generator after one more epoch")


@SETTINGS
@given(spec=networks(fused=FUSED_THAT_LOADS), opt=optimizers(), data=st.data())
def test_save_load_round_trip(spec: NetSpec, opt: Optimizer, data: st.DataObject) -> None:
    check_save_load(spec, opt, data)


@REGRESSION
@given(spec=networks(fused=st.just(False)), opt=optimizers(), data=st.data())
def test_save_load_keeps_fused_false(spec: NetSpec, opt: Optimizer, data: st.DataObject) -> None:
    check_save_load(spec, opt, data)


@REGRESSION
@given(spec=networks(fused=FUSED_THAT_LOADS, rng_kinds=("PCG64DXSM", "MT19937", "Philox", "SFC64")),
       opt=optimizers(), data=st.data())
def test_save_load_keeps_any_bit_generator(spec: NetSpec, opt: Optimizer,
                                           data: st.DataObject) -> None:
    check_save_load(spec, opt, data)

