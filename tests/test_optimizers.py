import numpy as np
import pytest

import chainrule as cr


def test_plain_sgd_is_the_notes_step():
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    cr.SGD(lr=0.1).step(w, g)
    np.testing.assert_allclose(w, [0.95, -2.025])


@pytest.mark.parametrize("name", list(cr.OPTIMIZERS))
def test_state_round_trip_gives_identical_next_steps(name, rng):
    opt = cr.get_optimizer(name)
    w = rng.standard_normal(10)
    for _ in range(3):
        opt.step(w, rng.standard_normal(10))
    clone = cr.get_optimizer(opt.get_config())
    clone.load_state_dict(opt.state_dict())
    w2 = w.copy()
    g = rng.standard_normal(10)
    opt.step(w, g.copy())
    clone.step(w2, g.copy())
    np.testing.assert_array_equal(w, w2)
    assert clone.t == opt.t == 4


def test_clipnorm_rescales_to_the_global_norm():
    w, g = np.zeros(2), np.array([3.0, 4.0])
    cr.SGD(lr=1.0, clipnorm=1.0).step(w, g)
    np.testing.assert_allclose(w, [-0.6, -0.8])
    np.testing.assert_array_equal(g, [3.0, 4.0])  # the caller's gradient is untouched


@pytest.mark.parametrize(
    "schedule,expected",
    [
        (cr.Constant(0.1), [0.1, 0.1, 0.1]),
        (cr.StepDecay(0.1, step_size=2, gamma=0.5), [0.1, 0.1, 0.05]),
        (cr.ExponentialDecay(0.1, decay_steps=1, gamma=0.5), [0.1, 0.05, 0.025]),
        (cr.InverseScaling(0.1, power_t=1.0), [0.1, 0.05, 0.1 / 3]),
        (cr.CosineWarmup(0.1, total_steps=4, warmup_steps=2), [0.05, 0.1, 0.1]),
    ],
)
def test_schedules(schedule, expected):
    assert [schedule(t) for t in range(3)] == pytest.approx(expected)
    assert cr.get_schedule(schedule.get_config())(2) == pytest.approx(expected[2])


def test_cosine_decays_to_min_lr_after_warm_up():
    s = cr.CosineWarmup(0.1, total_steps=4, warmup_steps=2, min_lr=0.01)
    assert s(3) == pytest.approx(0.01 + 0.5 * 0.09)
    assert s(4) == s(100) == pytest.approx(0.01)


def test_optimizer_uses_its_schedule_per_step():
    opt = cr.SGD(lr=cr.StepDecay(1.0, step_size=1, gamma=0.5))
    w = np.zeros(1)
    for _ in range(3):
        opt.step(w, np.ones(1))
    np.testing.assert_allclose(w, [-(1 + 0.5 + 0.25)])
    assert opt.lr == 0.125


def test_adam_flushes_subnormal_first_moments_in_float32():
    opt = cr.Adam(lr=1e-3)
    w = np.ones(4, dtype=np.float32)
    g = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    opt.step(w, g)  # m[0] = 0.1
    zero = np.zeros(4, dtype=np.float32)
    for _ in range(1000):  # m decays by 0.9 per step: would reach subnormals after ~800
        opt.step(w, zero)
    m = opt.state["m"]
    tiny = np.finfo(np.float32).tiny
    assert not np.any((m != 0) & (np.abs(m) < tiny))
    assert w.dtype == np.float32


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: cr.SGD(lr=-1), "lr: expected a positive"),
        (lambda: cr.SGD(momentum=1.5), "momentum: expected a number in"),
        (lambda: cr.SGD(nesterov=True), "nesterov: needs momentum"),
        (lambda: cr.Adam(beta_1=1.0), "beta_1"),
        (lambda: cr.SGD(clipnorm=0), "clipnorm"),
        (lambda: cr.get_schedule("linear", lr=0.1), "unknown schedule 'linear'"),
        (lambda: cr.CosineWarmup(0.1, total_steps=5, warmup_steps=5), "warmup_steps"),
    ],
)
def test_bad_optimizer_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_optimizer_copy_has_the_same_rule_config_and_state_and_shares_nothing():
    """Optimizer.copy (what Network.copy carries, so the engine need not know training)."""
    import numpy as np

    import chainrule as cr

    net = cr.MLP([3, 4, 2], seed=0, dtype="float64")
    net.fit(np.random.default_rng(0).normal(size=(8, 3)), np.zeros((8, 2)), epochs=2,
            batch_size=4, optimizer=cr.Adam(1e-2))
    opt = net.optimizer
    twin = opt.copy()
    assert type(twin) is type(opt) and twin.get_config() == opt.get_config()
    assert twin.t == opt.t and twin.state.keys() == opt.state.keys()
    for k in opt.state:
        np.testing.assert_array_equal(twin.state[k], opt.state[k])
        assert twin.state[k] is not opt.state[k]
    copied = net.copy()
    assert copied.optimizer is not opt and copied.optimizer.t == opt.t
