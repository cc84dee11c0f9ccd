import warnings

import numpy as np
import pytest

import chainrule as cr

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


def test_xor_with_the_notes_setup_learns():
    """Sigmoid everywhere, the notes' squared error, plain SGD: C < 0.01."""
    net = cr.MLP([2, 4, 1], hidden="sigmoid", output="sigmoid", loss="squared_error", seed=0)
    history = net.fit(XOR_X, XOR_Y, epochs=3000, batch_size=4, optimizer=cr.SGD(lr=2.0),
                      shuffle=False)
    assert history["loss"][-1] < history["loss"][0]
    assert net.loss(XOR_X, XOR_Y) < 0.01
    np.testing.assert_array_equal(net.predict_classes(XOR_X), [0, 1, 1, 0])


def test_same_seed_gives_bit_identical_weights_after_training(rng):
    X, y = rng.standard_normal((300, 5)), rng.integers(0, 3, 300)

    def train():
        net = cr.Network([cr.Dense(5, 16, "relu"), cr.Dropout(0.2), cr.Dense(16, 3, "softmax")],
                         loss="cross_entropy", seed=42)
        net.fit(X, y, epochs=3, batch_size=32, optimizer="adam", validation_split=0.2)
        return net.params.copy()

    np.testing.assert_array_equal(train(), train())


def test_history_records_train_and_validation_metrics(rng):
    X, y = rng.standard_normal((200, 4)), rng.integers(0, 2, 200)
    net = cr.MLP([4, 8, 2], output="softmax", loss="cross_entropy", seed=0)
    h = net.fit(X, y, epochs=4, batch_size=16, validation_data=(X[:50], y[:50]),
                optimizer=cr.Adam(lr=cr.CosineWarmup(0.01, total_steps=52, warmup_steps=5)))
    assert set(h.keys()) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert h.epoch == [1, 2, 3, 4] and len(h["val_loss"]) == 4
    assert h["val_loss"][-1] == pytest.approx(net.loss(X[:50], y[:50]), rel=1e-5)
    assert h["lr"][-1] < 0.01  # cosine decay reached


def test_early_stopping_restores_the_best_weights(rng):
    X, Y = rng.standard_normal((60, 3)), rng.standard_normal((60, 1))
    net = cr.MLP([3, 32, 1], seed=0)
    stop = cr.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    seen = []
    h = net.fit(X, Y, epochs=200, batch_size=8, optimizer=cr.SGD(lr=0.05),
                validation_data=(rng.standard_normal((20, 3)), rng.standard_normal((20, 1))),
                callbacks=[stop, cr.LambdaCallback(
                    on_epoch_end=lambda t, logs: seen.append(t.net.params.copy()))])
    assert stop.stopped_epoch is not None and len(h.epoch) < 200
    best = int(np.argmin(h["val_loss"]))
    assert len(h.epoch) == best + 1 + 2  # stopped `patience` epochs after the best one
    np.testing.assert_array_equal(net.params, seen[best])


def test_divergence_names_epoch_and_batch_and_keeps_finite_weights(rng):
    X, Y = rng.standard_normal((40, 3)) * 10, rng.standard_normal((40, 1)) * 1e3
    net = cr.MLP([3, 16, 16, 1], hidden="relu", seed=0)
    seen = []
    with warnings.catch_warnings(), pytest.raises(
        cr.DivergenceError, match=r"epoch \d+, batch \d+"
    ) as info:
        warnings.simplefilter("error")  # the error says it all: no NumPy overflow warnings first
        net.fit(X, Y, epochs=50, batch_size=8, optimizer=cr.SGD(lr=1.0),
                callbacks=[cr.LambdaCallback(
                    on_batch_end=lambda t, b, loss: seen.append(net.params.copy()))])
    assert np.all(np.isfinite(net.params))
    assert info.value.epoch >= 1 and info.value.batch >= 1
    np.testing.assert_array_equal(net.params, seen[-1])  # the last finite step's weights


def test_progress_hook_sees_every_batch(rng):
    X, y = rng.standard_normal((50, 3)), rng.integers(0, 2, 50)
    calls = []
    net = cr.MLP([3, 2], output="softmax", loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=16,
            callbacks=[cr.ProgressHook(on_batch=lambda *a: calls.append(a))])
    assert [(c[0], c[2], c[3]) for c in calls] == [(e, b, 4) for e in (1, 2) for b in range(1, 5)]


def test_resuming_fit_keeps_the_optimizer_state(rng):
    X, y = rng.standard_normal((64, 3)), rng.integers(0, 2, 64)
    once = cr.MLP([3, 8, 2], output="softmax", loss="cross_entropy", seed=5)
    once.fit(X, y, epochs=4, batch_size=16, optimizer="adam", shuffle=False)
    twice = cr.MLP([3, 8, 2], output="softmax", loss="cross_entropy", seed=5)
    twice.fit(X, y, epochs=2, batch_size=16, optimizer="adam", shuffle=False)
    assert twice.optimizer is not None and twice.optimizer.t == 8
    twice.fit(X, y, epochs=2, batch_size=16, shuffle=False)  # continues, same Adam moments
    np.testing.assert_array_equal(once.params, twice.params)


def test_sigmoid_binary_and_multilabel(rng):
    X = rng.standard_normal((200, 2))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(float)
    net = cr.MLP([2, 8, 2], hidden="tanh", output="sigmoid", loss="binary_cross_entropy", seed=0)
    h = net.fit(X, Y, epochs=30, batch_size=20, optimizer=cr.Adam(lr=0.05))
    assert h["accuracy"][-1] > 0.9
