"""fastnn.nn: flat layout, init, layers and Sequential (gradients vs finite
differences), losses, optimizers (flat two-slice updates), schedules."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fastnn import kernels as K
from fastnn import MLP
from fastnn.nn import (Activation, AdaGrad, Adam, AdamW, Dense, Dropout, FlatLayout, Momentum, Nesterov,
                       RMSprop, SGD, Sequential, build_mlp, get_loss, get_optimizer, get_schedule, init_params)
from fastnn.nn.layers import Context
from fastnn.nn.schedules import Constant, Cosine, InverseScaling, ReduceOnPlateau, StepDecay

HIDDEN_ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "elu"]


# ---------------------------------------------------------------- flat layout


def test_flat_layout_offsets_and_views():
    lay = FlatLayout([3, 4, 2])
    assert lay.n_weights == 3 * 4 + 4 * 2 and lay.size == lay.n_weights + 4 + 2
    assert lay.weight_offsets == (0, 12) and lay.bias_offsets == (20, 24)
    buf = np.arange(lay.size, dtype=np.float64)
    W0, W1 = lay.weights(buf)
    b0, b1 = lay.biases(buf)
    assert W0.shape == (3, 4) and W1.shape == (4, 2) and b0.shape == (4,) and b1.shape == (2,)
    assert W0[0, 1] == 1 and W1[0, 0] == 12 and b0[0] == 20 and b1[1] == 25
    W1[...] = -1  # views write through
    assert np.all(buf[12:20] == -1)
    assert np.shares_memory(lay.weights_slice(buf), W0) and lay.biases_slice(buf).shape == (6,)
    again = lay.pack([W0, W1], [b0, b1])
    np.testing.assert_array_equal(again, buf)


def test_flat_layout_rejects_bad_input():
    with pytest.raises(ValueError, match="at least"):
        FlatLayout([3])
    with pytest.raises(ValueError, match=">= 1"):
        FlatLayout([3, 0, 2])
    with pytest.raises(ValueError, match="elements"):
        FlatLayout([3, 2]).weights(np.zeros(5))
    with pytest.raises(ValueError, match="shape"):
        FlatLayout([3, 2]).pack([np.zeros((2, 3))], [np.zeros(2)])


# ----------------------------------------------------------------------- init


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_glorot_init_matches_scikit_learn(activation):
    """With a RandomState, glorot draws exactly scikit-learn's MLP initial weights."""
    from sklearn.neural_network import MLPClassifier

    sizes = [8, 7, 5, 3]
    clf = MLPClassifier(hidden_layer_sizes=(7, 5), activation=activation, random_state=7)
    clf._random_state = np.random.RandomState(7)
    drawn = [clf._init_coef(i, o, np.float64) for i, o in zip(sizes[:-1], sizes[1:])]
    clf.coefs_ = [w for w, _ in drawn]
    clf.intercepts_ = [b for _, b in drawn]
    act = "sigmoid" if activation == "logistic" else activation
    ours = init_params(FlatLayout(sizes), act, init="glorot", seed=np.random.RandomState(7), dtype=np.float64)
    lay = FlatLayout(sizes)
    for got, want in zip(lay.weights(ours), clf.coefs_):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(lay.biases(ours), clf.intercepts_):
        np.testing.assert_array_equal(got, want)


def test_he_init_bounds_zero_biases_and_seeding():
    lay = FlatLayout([50, 40, 3])
    a = init_params(lay, "relu", seed=3)  # auto -> he for relu
    b = init_params(lay, "relu", seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init_params(lay, "relu", seed=4))
    W0, W1 = lay.weights(a)
    assert np.abs(W0).max() <= math.sqrt(6 / 50) and np.abs(W0).max() > 0.9 * math.sqrt(6 / 50)
    assert np.abs(W1).max() <= math.sqrt(6 / 40)
    assert np.all(lay.biases_slice(a) == 0)
    g = init_params(lay, "tanh", seed=3)  # auto -> glorot for tanh: biases drawn too
    assert np.abs(lay.biases(g)[0]).max() > 0
    s = init_params(lay, "sigmoid", init="glorot", seed=3)
    assert np.abs(lay.weights(s)[0]).max() <= math.sqrt(2 / 90)
    with pytest.raises(ValueError, match="init"):
        init_params(lay, "relu", init="xavier")


# --------------------------------------------- whole-network finite differences


def _objective(net, loss, X, T, backend):
    out = net.predict(X, backend)
    return loss(out, T, need_grad=False, backend=backend)[0]


def _fd_check(net, loss, X, T, ctx, h=1e-6, rtol=1e-6):
    net.allocate(len(X))
    out = net.forward(X, ctx)
    g = np.empty_like(out)
    loss(out, T, grad=g, backend=ctx.backend)
    net.backward(g, ctx)
    analytic = net.grads.copy()
    numeric = np.empty_like(analytic)
    p = net.params
    for i in range(p.size):
        old = p[i]
        p[i] = old + h
        up = _train_objective(net, loss, X, T, ctx)
        p[i] = old - h
        down = _train_objective(net, loss, X, T, ctx)
        p[i] = old
        numeric[i] = (up - down) / (2 * h)
    err = np.abs(analytic - numeric)
    tol = rtol * (1.0 + np.abs(numeric)) + 1e-8
    worst = int(np.argmax(err / tol))
    assert np.all(err <= tol), f"param {worst}: analytic {analytic[worst]!r} vs numeric {numeric[worst]!r}"


def _train_objective(net, loss, X, T, ctx):
    out = net.forward(X, ctx)  # training forward: the same dropout mask as the gradient's
    return loss(out, T, need_grad=False, backend=ctx.backend)[0]


def _targets(loss_name, rng, n, k):
    if loss_name == "softmax_xent":
        return rng.integers(0, k, n).astype(np.int32)
    if loss_name == "sigmoid_bce":
        return rng.integers(0, 2, (n, k)).astype(np.float64)
    return rng.standard_normal((n, k))


@pytest.mark.parametrize("activation", HIDDEN_ACTS)
@pytest.mark.parametrize("loss_name", ["softmax_xent", "sigmoid_bce", "mse"])
@pytest.mark.parametrize("backend", [None, "numpy"])
def test_network_gradient_matches_finite_differences(activation, loss_name, backend):
    rng = np.random.default_rng(1)
    net = build_mlp([5, 6, 4, 3], activation, dtype=np.float64, seed=2, init="glorot")
    net.params[net.layout.n_weights:] = rng.uniform(-0.5, 0.5, net.layout.n_biases)  # no ties at relu's kink
    X = rng.standard_normal((7, 5))
    T = _targets(loss_name, rng, 7, 3)
    _fd_check(net, get_loss(loss_name), X, T, Context(backend=backend))


@pytest.mark.parametrize("backend", [None, "numpy"])
def test_gradient_through_standalone_activation_and_dropout_layers(backend):
    rng = np.random.default_rng(3)
    layers = [Dense(4, 6), Activation("tanh"), Dropout(0.4), Dense(6, 5, "sigmoid"), Activation("softmax"),
              Dense(5, 3)]
    net = Sequential(layers, dtype=np.float64, seed=0)
    assert net.sizes == [4, 6, 5, 3] and layers[2].index == 0
    X = rng.standard_normal((9, 4))
    T = rng.integers(0, 3, 9).astype(np.int32)
    ctx = Context(seed=11, backend=backend)
    ctx.t = 5
    _fd_check(net, get_loss("softmax_xent"), X, T, ctx)
    # the dropout really dropped something at this (seed, t)
    net.forward(X, ctx)
    assert np.any(layers[2]._buffers(9)[0] == 0)


def test_sequential_validates_chain_and_adopts_params():
    with pytest.raises(ValueError, match="takes 5 inputs"):
        Sequential([Dense(3, 4), Dense(5, 2)])
    with pytest.raises(ValueError, match="Dense"):
        Sequential([Activation("relu")])
    with pytest.raises(ValueError, match="p must"):
        Dropout(1.0)
    lay = FlatLayout([3, 4, 2])
    p = np.ones(lay.size, np.float32)
    net = build_mlp([3, 4, 2], params=p)
    assert net.params is p and np.shares_memory(net.dense[1].W, p)
    with pytest.raises(ValueError, match="params"):
        build_mlp([3, 4, 2], params=np.ones(lay.size, np.float64))


def test_forward_before_allocate_says_to_allocate():
    # it failed inside a layer with "not enough values to unpack"
    net = build_mlp([3, 4, 2], seed=0)
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"call allocate\(batch_size\)"):
        net.forward(x, Context())
    net.allocate(4)
    with pytest.raises(ValueError, match="x has 5 rows but the training buffers hold 4"):
        net.forward(x, Context())
    net.allocate(5)
    assert net.forward(x, Context()).shape == (5, 2)


def test_set_params_refuses_values_that_overflow_the_dtype():
    # 1e300 became inf in a float32 network (with only a RuntimeWarning)
    net = build_mlp([3, 4, 2], seed=0)
    before = net.params.copy()
    big = before.astype(np.float64)
    big[7] = 1e300
    with pytest.raises(ValueError, match=r"params holds 1 finite value\(s\) too large .*float32.*index 7"):
        net.set_params(big)
    np.testing.assert_array_equal(net.params, before)  # untouched
    given = big.copy()
    given[7] = np.inf  # a non-finite value given as such is the caller's to keep
    net.set_params(given)
    assert net.params[7] == np.inf


def test_predict_ignores_dropout_and_matches_forward_without_it():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    plain = build_mlp([4, 8, 3], "relu", seed=0)
    dropped = build_mlp([4, 8, 3], "relu", dropout=0.5, params=plain.params.copy())
    np.testing.assert_array_equal(plain.predict(X), dropped.predict(X))
    dropped.allocate(10)
    assert not np.allclose(dropped.forward(X, Context(seed=1)), plain.predict(X))


# ------------------------------------------------------------------ optimizers


def _setup(opt, sizes=(4, 3, 2), dtype=np.float64, seed=0):
    lay = FlatLayout(sizes)
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(lay.size).astype(dtype)
    grads = rng.standard_normal(lay.size).astype(dtype)
    opt.setup(lay, params, grads)
    return lay, params, grads


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.1, momentum=0.8), Nesterov(0.1), AdaGrad(0.1), RMSprop(0.1),
                                 Adam(0.1), AdamW(0.1)])
def test_optimizer_update_is_two_kernel_calls_over_the_slices(opt):
    """weights get (l2, l1, weight_decay); biases get none of them."""
    opt.l1, opt.weight_decay = 0.01, (opt.weight_decay or 0.02)
    lay, params, grads = _setup(opt)
    assert opt.state.shape == (opt.n_state, lay.size)
    p_ref, st_ref = params.copy(), opt.state.copy()
    for _ in range(3):
        opt.update(0.1, l2=0.05)
        nw = lay.n_weights
        for sl, pen in ((slice(0, nw), (0.05, 0.01, opt.weight_decay)), (slice(nw, None), (0.0, 0.0, 0.0))):
            p, g, s = p_ref[sl], grads[sl], [st_ref[k, sl] for k in range(opt.n_state)]
            kw = dict(lr=0.1, l2=pen[0], l1=pen[1], weight_decay=pen[2], backend=None)
            p = np.ascontiguousarray(p)
            s = [np.ascontiguousarray(x) for x in s]
            if opt.name == "sgd":
                K.sgd_update(p, g, **kw)
            elif opt.name in ("momentum", "nesterov"):
                K.momentum_update(p, g, s[0], momentum=opt.momentum, nesterov=opt.name == "nesterov", **kw)
            elif opt.name == "adagrad":
                K.adagrad_update(p, g, s[0], eps=opt.eps, **kw)
            elif opt.name == "rmsprop":
                K.rmsprop_update(p, g, s[0], rho=opt.rho, eps=opt.eps, **kw)
            else:
                K.adam_update(p, g, s[0], s[1], step=opt.step, beta1=opt.beta1, beta2=opt.beta2, eps=opt.eps, **kw)
            p_ref[sl] = p
            for k in range(opt.n_state):
                st_ref[k, sl] = s[k]
        np.testing.assert_array_equal(params, p_ref)
        np.testing.assert_array_equal(opt.state, st_ref)
    assert opt.step == 3


def test_penalties_touch_weights_only_and_l1_gives_exact_zeros():
    opt = SGD(0.1, l1=100.0, weight_decay=0.5)
    lay, params, grads = _setup(opt)
    grads[...] = 0
    b0 = params[lay.n_weights:].copy()
    opt.update(0.1, l2=1.0)
    assert np.all(params[: lay.n_weights] == 0)  # proximal L1 with a big threshold: exact zeros
    np.testing.assert_array_equal(params[lay.n_weights:], b0)


def test_get_optimizer_names_and_errors():
    assert isinstance(get_optimizer("nesterov", 0.1, momentum=0.5), Nesterov)
    assert get_optimizer("adamw", 0.1).weight_decay == 0.01
    with pytest.raises(ValueError, match="optimizer must be"):
        get_optimizer("lbfgs")
    with pytest.raises(TypeError, match="does not take"):
        get_optimizer("sgd", 0.1, momentum=0.9)
    with pytest.raises(ValueError, match="lr"):
        SGD(0.0)


_OPT_CASES = [(SGD, "lr", float("inf")), (SGD, "l1", float("nan")), (SGD, "weight_decay", float("inf")),
              (SGD, "l1", -1.0), (Momentum, "momentum", 1.5), (Nesterov, "momentum", float("nan")),
              (AdaGrad, "eps", -1.0), (AdaGrad, "eps", 0.0), (RMSprop, "rho", 1.5), (RMSprop, "eps", float("nan")),
              (Adam, "beta1", 1.0), (Adam, "beta2", -0.1), (AdamW, "eps", float("inf"))]
_KERNEL = {SGD: "sgd", Momentum: "momentum", Nesterov: "nesterov", AdaGrad: "adagrad", RMSprop: "rmsprop",
           Adam: "adam", AdamW: "adamw"}


@pytest.mark.parametrize("cls, name, value", _OPT_CASES)
def test_optimizer_constructors_check_the_kernels_ranges(cls, name, value):
    # they were accepted, and the first update of a fit refused them
    kw = {"lr": 0.1, name: value}
    with pytest.raises(ValueError, match=f"^{name} must be"):
        cls(**kw)
    z = np.zeros(4)
    n_state = 2 if cls in (Adam, AdamW) else (1 if cls is not SGD else 0)
    states = [np.zeros(4) for _ in range(n_state)]
    with pytest.raises(ValueError, match=f"^{name} must be"):  # the same range as the update kernel's
        getattr(K, _KERNEL[cls] + "_update")(z.copy(), z, *states, **kw, **({"step": 1} if n_state == 2 else {}))


def test_optimizer_constructors_accept_the_kernels_edge_values():
    Momentum(0.1, momentum=1.0), RMSprop(0.1, rho=0.0), RMSprop(0.1, rho=1.0), Adam(0.1, beta1=0.0, beta2=0.0)
    opt = SGD(0.1)
    with pytest.raises(ValueError, match="lr must be"):
        get_optimizer(opt, float("nan"))  # an instance's lr set by fit(lr=...) is checked too
    assert opt.lr == 0.1


# ------------------------------------------------------------------- schedules


@pytest.mark.parametrize("make, match", [
    (lambda: Cosine(min_lr=-1e-3), "min_lr must be a finite number >= 0"),
    (lambda: Cosine(t_max=2.5), "t_max must be an int >= 1"),
    (lambda: StepDecay(step_size=2.7), "step_size must be an int >= 1"),
    (lambda: InverseScaling(power_t=float("nan")), "power_t must be a finite number >= 0"),
    (lambda: ReduceOnPlateau(min_lr=-1.0), "min_lr must be a finite number >= 0"),
    (lambda: ReduceOnPlateau(factor=float("inf")), "factor must be a finite number"),
])
def test_schedule_parameters_are_checked_when_made(make, match):
    # Cosine(min_lr<0) gave a negative lr, refused by the kernels only epochs into a fit;
    # step_size / t_max were truncated
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_values():
    c = Constant()
    c.start(0.1)
    assert [c.lr_at(e, 100 * e) for e in range(3)] == [0.1] * 3
    inv = InverseScaling(power_t=0.5)
    inv.start(0.1)
    assert inv.lr_at(0, 0) == 0.1 and inv.lr_at(1, 99) == pytest.approx(0.01)
    st = StepDecay(step_size=2, gamma=0.5)
    st.start(1.0)
    assert [st.lr_at(e, 0) for e in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    cos = Cosine(t_max=4, min_lr=0.1)
    cos.start(1.1)
    assert [round(cos.lr_at(e, 0), 12) for e in (0, 2, 4, 9)] == [1.1, 0.6, 0.1, 0.1]
    ad = ReduceOnPlateau()
    ad.start(1e-3)
    assert ad.on_plateau() and ad.lr_at(5, 0) == pytest.approx(2e-4)
    ad.lr = 1e-6
    assert not ad.on_plateau()  # scikit-learn stops once lr <= 1e-6
    assert isinstance(get_schedule(None), Constant) and isinstance(get_schedule("adaptive"), ReduceOnPlateau)
    assert get_schedule("step", step_size=3).step_size == 3
    with pytest.raises(ValueError, match="schedule"):
        get_schedule("warmup")


def test_mlp_exposes_views_of_flat_params():
    net = MLP([4, 5, 3], seed=0)
    assert [w.shape for w in net.coefs_] == [(4, 5), (5, 3)]
    assert np.shares_memory(net.coefs_[0], net.params) and np.shares_memory(net.intercepts_[1], net.params)


@pytest.mark.parametrize("name", ["sgd", "nesterov", "adagrad", "rmsprop", "adam"])
def test_unpenalised_update_over_the_whole_buffer_equals_two_slices(name):
    """Without penalties the optimizer makes one call over params; the math is elementwise, so equal."""
    a, b = get_optimizer(name, 0.1), get_optimizer(name, 0.1)
    lay, pa, ga = _setup(a)
    _, pb, gb = _setup(b)
    nw = lay.n_weights
    for _ in range(3):
        a.update(0.1, backend="numpy")
        b.step += 1  # the two-slice form, by hand
        (w, gw, sw), (bi, gbi, sbi) = b._views
        b._apply(w, gw, sw, 0.1, 0.0, 0.0, 0.0, "numpy")
        b._apply(bi, gbi, sbi, 0.1, 0.0, 0.0, 0.0, "numpy")
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.state, b.state)
    assert nw < lay.size


def test_flat_layout_views_tile_the_buffer_exactly():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.integers(1, 9), min_size=2, max_size=6))
    def check(sizes):
        lay = FlatLayout(sizes)
        buf = np.zeros(lay.size)
        for v in lay.weights(buf) + lay.biases(buf):
            v += 1  # every element belongs to exactly one view
        assert np.all(buf == 1)
        assert lay.n_weights == sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        assert np.all(lay.weights_slice(buf) == 1) and lay.biases_slice(buf).size == sum(sizes[1:])

    check()


# ------------------------------------------------------- arguments (audit of the public API)


@pytest.mark.parametrize("call,exc,match", [
    # int() truncated these: Dense(2.5, 3) was a 2-input layer, build_mlp([2.5, 3]) a 2-input net
    (lambda: Dense(2.5, 3), ValueError, "n_in must be an int >= 1, got 2.5"),
    (lambda: Dense(2, "a"), ValueError, "n_out must be an int >= 1"),
    (lambda: build_mlp([2.5, 3]), ValueError, "sizes must be ints"),
    # a bad param failed only at the first forward, with float()'s message
    (lambda: Dense(2, 3, "elu", param="x"), TypeError, "param must be a real number"),
    (lambda: Activation("leaky_relu", param=-1.0), ValueError, "param .* must be >= 0"),
    # a param the activation has no use for was taken and ignored: plain ReLU trained
    (lambda: Dense(2, 3, "relu", param=0.2), ValueError, "'relu' takes none, got param=0.2"),
    (lambda: build_mlp([2, 4, 3], "tanh", param=0.5), ValueError, "'tanh' takes none"),
    # with no hidden layer the activation was never checked
    (lambda: build_mlp([2, 3], "foo"), ValueError, "activation must be one of"),
    (lambda: Dropout("x"), TypeError, "p must be a real number"),
    (lambda: FlatLayout(5), TypeError, "sizes must be a sequence of ints"),
    (lambda: StepDecay(gamma="x"), TypeError, "gamma must be a real number"),
    (lambda: Sequential([Dense(2, 3)], params=[0.0] * 9), TypeError, "params must be a numpy.ndarray"),
    # an int buffer held the uniform draws truncated
    (lambda: init_params(FlatLayout([2, 3]), "relu", dtype=int), TypeError, "dtype must be float32 or float64"),
    (lambda: init_params(FlatLayout([2, 3]), "relu", out=np.zeros(9, int)), TypeError, "out must be a float32"),
    # build_mlp skipped a negative dropout, and one with no hidden layer to apply to, without a word
    (lambda: build_mlp([2, 4, 3], dropout=-0.5), ValueError, r"dropout must be in \[0, 1\), got -0.5"),
    (lambda: build_mlp([2, 4, 3], dropout="x"), TypeError, "dropout must be a real number"),
    (lambda: build_mlp([2, 3], dropout=0.5), ValueError, "applies to hidden layers"),
])
def test_bad_arguments_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_sequential_predict_names_x():
    """A float64 or wrong-width x was reported as the first layer's 'w has dtype ...'."""
    net = build_mlp([2, 3, 1], seed=0)
    with pytest.raises(TypeError, match="^x has dtype float64 but the network is float32"):
        net.predict(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"^x must have shape \(n, 2\)"):
        net.predict(np.ones((4, 3), np.float32))


def test_named_activation_layers_pickle_and_name_themselves():
    """The classes were created as 'Relu', 'LeakyRelu'...: pickling failed (no such attribute of the
    module) and a positional param named '_named.<locals>.__init__'."""
    import pickle

    from fastnn.nn import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh

    for cls in (ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh):
        assert type(pickle.loads(pickle.dumps(cls()))) is cls
    with pytest.raises(TypeError, match=r"^LeakyReLU\.__init__\(\)"):
        LeakyReLU(0.2)


def test_a_layer_object_belongs_to_one_network():
    """Each Sequential binds its layers to its own buffers: a layer list reused for a second
    network made the first one compute with the second's weights, and a layer placed twice
    used one set of weights at both places, all without a word."""
    import copy

    layers = [Dense(3, 4, "relu"), Dense(4, 2)]
    first = Sequential(layers, dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="appears twice in layers"):
        Sequential([Dense(3, 3)] * 2)
    second = Sequential(copy.deepcopy(layers), dtype=np.float64, seed=1)  # what the error advises
    X = np.random.default_rng(0).standard_normal((2, 3))
    lay = first.layout
    W0, W1 = lay.weights(first.params)
    b0, b1 = lay.biases(first.params)
    np.testing.assert_allclose(first.predict(X), np.maximum(X @ W0 + b0, 0) @ W1 + b1)
    assert not np.allclose(first.predict(X), second.predict(X))
    third = Sequential(layers, dtype=np.float64, seed=2)  # takes the layers (re-running a notebook cell)
    assert third.dense[0] is layers[0]
    W0, W1 = lay.weights(third.params)
    b0, b1 = lay.biases(third.params)
    np.testing.assert_allclose(third.predict(X), np.maximum(X @ W0 + b0, 0) @ W1 + b1)
    first.allocate(2)
    for run in (lambda: first.predict(X), lambda: first.forward(X, Context())):
        with pytest.raises(ValueError, match="taken by another Sequential"):
            run()


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_copied_network_computes_with_its_own_params(how):
    """A pickled or deep-copied network got its layers' weight views as arrays of their own:
    set_params, training or an edit of an MLP's coefs_ changed params while predictions kept
    the old weights."""
    import copy
    import pickle

    copy_of = (lambda o: pickle.loads(pickle.dumps(o))) if how == "pickle" else copy.deepcopy
    X = np.random.default_rng(0).standard_normal((2, 3))
    net = build_mlp([3, 4, 2], dtype=np.float64, seed=0)
    twin = copy_of(net)
    twin.set_params(np.zeros(net.layout.size))
    np.testing.assert_array_equal(twin.predict(X), 0.0)
    assert np.any(net.predict(X) != 0.0)  # the original keeps its weights
    model = copy_of(MLP([3, 4, 2], dtype=np.float64, seed=0))
    model.coefs_[1][...] = 0.0
    model.intercepts_[1][...] = 1.0
    np.testing.assert_array_equal(model.decision_function(X), 1.0)


def test_schedule_and_optimizer_options_are_not_dropped():
    """Options given with a Schedule or Optimizer instance (or schedule None) were ignored:
    fit(schedule=Cosine(), schedule_kwargs={"t_max": 3}) annealed over 100 epochs."""
    with pytest.raises(ValueError, match=r"schedule options \['t_max'\] given with schedule=Cosine.*constructor"):
        get_schedule(Cosine(), t_max=3)
    with pytest.raises(ValueError, match=r"schedule=None: the constant schedule takes none"):
        get_schedule(None, t_max=3)
    with pytest.raises(TypeError, match=r"^schedule 'constant' does not take \['t_max'\]; it takes \[\]"):
        get_schedule("constant", t_max=3)  # was Python's "Schedule.__init__() got an unexpected keyword"
    with pytest.raises(ValueError, match=r"\['beta1'\] given with an Optimizer instance"):
        get_optimizer(Adam(), beta1=0.5)
    assert get_schedule("cosine", t_max=3).t_max == 3 and get_schedule(None).name == "constant"
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="schedule options"):
        MLP([2, 1], seed=0).fit(X, y, epochs=1, schedule=Cosine(), schedule_kwargs={"t_max": 3})


def test_native_name_only_for_the_built_in_updates():
    """The native epoch picked the algorithm by opt.name: a subclass of SGD that clipped its
    gradients trained as plain SGD, and one with a new name was refused."""
    from fastnn.nn.optimizers import OPTIMIZERS, SGD, Adam, Optimizer, native_name

    for name, cls in OPTIMIZERS.items():
        assert native_name(cls()) == name

    class Defaults(Adam):  # other defaults only: the same update
        def __init__(self, lr=0.01):
            super().__init__(lr, beta1=0.8)

    class Renamed(SGD):
        name = "mysgd"

    class Clipped(SGD):
        def _apply(self, p, g, s, lr, l2, l1, wd, backend):
            super()._apply(p, np.clip(g, -1, 1), s, lr, l2, l1, wd, backend)

    class MoreState(Adam):
        n_state = 3

    class Sign(Optimizer):
        name = "sign"

        def _apply(self, p, g, s, lr, l2, l1, wd, backend):
            p -= lr * np.sign(g)

    assert native_name(Defaults()) == "adam" and native_name(Renamed()) == "sgd"
    assert [native_name(o()) for o in (Clipped, MoreState, Sign)] == [None, None, None]
    patched = SGD()
    patched.update = lambda *a, **k: None
    assert native_name(patched) is None


def test_fresh_copy_has_the_settings_and_none_of_the_state():
    from fastnn.nn import FlatLayout

    layout = FlatLayout([3, 4, 2])
    params, grads = np.ones(layout.size), np.ones(layout.size)
    opt = Adam(0.05, beta1=0.7, weight_decay=0.1)
    opt.setup(layout, params, grads)
    opt.update(0.05)
    state = opt.state.copy()
    new = opt.fresh_copy()
    assert type(new) is Adam and new.get_config() == opt.get_config()
    assert new.state is None and new.step == 0 and new._views is None
    assert opt.step == 1 and np.array_equal(opt.state, state)  # the original as it was
