"""An independent reference: PyTorch autograd and torch.optim on the same networks.

torch is a test-only dependency (``pip install torch==2.13.0``); CI installs it and
these tests must run there, so a missing torch is an error, not a skip.
"""

import zlib

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.engine.activations import ACTIVATIONS

torch.set_default_dtype(torch.float64)

TORCH_G = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "elu": torch.nn.functional.elu,
    "gelu": lambda z: torch.nn.functional.gelu(z, approximate="tanh"),
    "softplus": torch.nn.functional.softplus,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def torch_cost(loss, a, z, y):
    """The batch cost C = (1/n) Σ_i C_i, written independently with torch ops."""
    if loss == "squared_error":
        return ((a - y) ** 2).sum(dim=1).mean()
    if loss == "mse":
        return ((a - y) ** 2).mean(dim=1).mean()
    if loss == "huber":
        return torch.nn.functional.huber_loss(a, y, reduction="none", delta=1.0).sum(dim=1).mean()
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(z, y)
    if loss == "binary_cross_entropy":
        return torch.nn.functional.binary_cross_entropy_with_logits(
            z, y, reduction="none").sum(dim=1).mean()
    raise AssertionError(loss)


CASES = [(h, "squared_error", h) for h in ACTIVATIONS] + [
    ("tanh", "mse", "identity"),
    ("elu", "huber", "identity"),
    ("relu", "cross_entropy", "softmax"),
    ("gelu", "binary_cross_entropy", "sigmoid"),
    ("softplus", "squared_error", "sigmoid"),
]


@pytest.mark.parametrize("hidden,loss,output", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_equal_torch_autograd(hidden, loss, output, bias):
    rng = np.random.default_rng(zlib.crc32(repr((hidden, loss, output, bias)).encode()))
    sizes = [4, 6, 5, 3]
    net = cr.MLP(sizes, hidden=hidden, output=output, loss=loss, bias=bias, dtype="float64",
                 seed=0)
    net.params[...] = rng.standard_normal(net.n_params) * 0.7
    X = rng.standard_normal((9, 4))
    if loss == "cross_entropy":
        Y = rng.integers(0, 3, 9)
        y_t = torch.tensor(Y)
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (9, 3)).astype(float)
        y_t = torch.tensor(Y)
    else:
        Y = rng.standard_normal((9, 3))
        y_t = torch.tensor(Y)
    net.gradient(X, Y)

    ws = [torch.tensor(d.w, requires_grad=True) for d in net.dense_layers]
    bs = [torch.tensor(d.b, requires_grad=True) if bias else None for d in net.dense_layers]
    a = torch.tensor(X)
    for i, d in enumerate(net.dense_layers):
        z = a @ ws[i].T + (bs[i] if bias else 0)
        a = TORCH_G[d.activation.name](z)
    cost = torch_cost(loss, a, z, y_t)
    cost.backward()
    assert net.loss(X, Y) == pytest.approx(cost.item(), rel=1e-12)
    for i, d in enumerate(net.dense_layers):
        np.testing.assert_allclose(d.grad_w, ws[i].grad.numpy(), rtol=1e-9, atol=1e-15)
        if bias:
            np.testing.assert_allclose(d.grad_b, bs[i].grad.numpy(), rtol=1e-9, atol=1e-15)


OPTIMIZERS = [
    (lambda: cr.SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda: cr.SGD(lr=0.1, momentum=0.9),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    (lambda: cr.SGD(lr=0.1, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    (lambda: cr.RMSprop(lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    (lambda: cr.Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda: cr.AdamW(lr=0.01, weight_decay=0.1),
     lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("make_ours,make_theirs", OPTIMIZERS,
                         ids=["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_optimizer_steps_equal_torch_optim(make_ours, make_theirs):
    """One step, and five more with changing gradients, equal torch.optim's."""
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal(50)
    grads = [rng.standard_normal(50) for _ in range(6)]
    ours, w = make_ours(), w0.copy()
    p = torch.tensor(w0.copy(), requires_grad=True)
    theirs = make_theirs([p])
    for step, g in enumerate(grads, start=1):
        ours.step(w, g.copy())
        p.grad = torch.tensor(g)
        theirs.step()
        np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=f"after step {step}")
