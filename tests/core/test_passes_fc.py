"""The FullyConnected passes: FC+Activation and FC+SoftmaxOutput run as one node and give what
the two nodes give (outputs and every gradient), and leave alone the graphs they must not
change: unsupported settings, an FC output read by more than the one node."""
import warnings

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod import executor as executor_module
from bucketmod.backend import backend
from bucketmod.ops import fc_softmax_output, gemm
from bucketmod.symbol import passes
from bucketmod.symbol.graph import topo_order

N, K, V = 6, 5, 7


def op_names(sym):
    return [n.op.name for n in topo_order(passes.optimize(sym._outputs)) if n.op is not None]


def run(sym, fuse, monkeypatch, prob_labels=False, **shapes):
    """Outputs and gradients of one training step, with random head gradients (a loss layer
    ignores its own) and labels that include -1 and V (no class)."""
    monkeypatch.setattr(executor_module, "FUSE_GRAPHS", fuse)
    torch.manual_seed(42)
    with warnings.catch_warnings():
        warnings.simplefilter("error", passes.PassWarning)
        exe = sym.simple_bind(mx.cpu(), **shapes)
    for name, arr in exe.arg_dict.items():
        if name.endswith("label"):
            arr[:] = torch.rand(arr.shape) if prob_labels else \
                torch.randint(-1, V + 1, arr.shape).float()
        else:
            arr[:] = torch.randn(arr.shape)
    exe.forward(is_train=True)
    exe.backward([mx.nd.array(torch.randn(o.shape)) for o in exe.outputs])
    return [o.asnumpy() for o in exe.outputs], {k: v.asnumpy() for k, v in exe.grad_dict.items()}


def assert_same(sym, monkeypatch, prob_labels=False, **shapes):
    (out_f, grad_f), (out_p, grad_p) = (run(sym, fuse, monkeypatch, prob_labels, **shapes)
                                        for fuse in (True, False))
    for a, b in zip(out_f, out_p):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert grad_f.keys() == grad_p.keys()
    for name in grad_p:
        np.testing.assert_allclose(grad_f[name], grad_p[name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu"])
@pytest.mark.parametrize("fc_args, shape", [(dict(), (N, 2, 3)), (dict(flatten=False), (N, 2, 3)),
                                            (dict(no_bias=True), (N, 3))],
                         ids=["flatten", "no-flatten", "no-bias"])
def test_fc_activation_fused_matches_unfused(monkeypatch, act, fc_args, shape):
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=K, name="fc", **fc_args)
    sym = mx.sym.Activation(fc, act_type=act, name="act")
    assert op_names(sym) == ["_fused_fc_activation"]
    assert_same(sym, monkeypatch, data=shape)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu"])
def test_fc_activation_large_enough_for_onednn(monkeypatch, act):
    """From 1M multiply-adds the CPU path is one autograd node over oneDNN's GEMMs."""
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=128, name="fc")
    assert_same(mx.sym.Activation(fc, act_type=act, name="act"), monkeypatch, data=(64, 128))


SOFTMAX_CASES = {
    "default": (dict(), dict(), (N, K)),
    "batch-grad_scale": (dict(), dict(normalization="batch", grad_scale=2.0), (N, K)),
    "valid-use_ignore": (dict(), dict(normalization="valid", use_ignore=True, ignore_label=2),
                         (N, K)),
    "smooth_alpha": (dict(), dict(smooth_alpha=0.1), (N, K)),
    "multi_output": (dict(), dict(multi_output=True, normalization="valid"), (N, K)),
    "flatten-3d": (dict(), dict(normalization="batch"), (N, 2, 3)),
    "preserve_shape": (dict(flatten=False), dict(preserve_shape=True, normalization="batch"),
                       (2, 3, K)),
    "no_bias-everything": (dict(no_bias=True), dict(normalization="valid", use_ignore=True,
                                                    smooth_alpha=0.2, grad_scale=0.5), (N, K)),
    "out_grad-off": (dict(), dict(out_grad=False), (N, K)),
}


@pytest.mark.parametrize("case", sorted(SOFTMAX_CASES))
@pytest.mark.parametrize("dense_max", [0, 1 << 22], ids=["split", "dense"])
@pytest.mark.parametrize("row_block", [None, 4], ids=["one-gemm", "row-blocks"])
def test_fc_softmax_output_fused_matches_unfused(monkeypatch, case, dense_max, row_block):
    """Also with the GEMMs in row blocks on oneDNN (gemm.py): a full block of the rows and a
    padded one."""
    monkeypatch.setattr(fc_softmax_output, "DENSE_MAX", dense_max)
    if row_block is not None:
        if gemm._onednn_linear() is False:
            pytest.skip("this torch has no oneDNN linear")
        monkeypatch.setattr(gemm, "ROW_BLOCK", row_block)
        monkeypatch.setattr(gemm, "ONEDNN_MIN_MACS", 1)
    fc_args, sm_args, shape = SOFTMAX_CASES[case]
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=V, name="fc", **fc_args)
    sym = mx.sym.SoftmaxOutput(fc, name="softmax", **sm_args)
    assert op_names(sym) == ["_fused_fc_softmax_output"]
    assert_same(sym, monkeypatch, data=shape)


def test_probability_labels_run_the_two_operators(monkeypatch):
    """Labels shaped like the output are probabilities: the fused node computes what
    SoftmaxOutput does with them."""
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=V, name="fc")
    sym = mx.sym.SoftmaxOutput(fc, name="softmax", grad_scale=3.0)
    assert_same(sym, monkeypatch, prob_labels=True, data=(N, K), softmax_label=(N, V))


def mlp(**softmax_args):
    data = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=K, name="fc1"),
                          act_type="relu", name="relu1")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=V, name="fc2"),
                                name="softmax", **softmax_args)


def test_mlp_fuses_both_layers_and_trains_the_same(monkeypatch):
    sym = mlp()
    assert op_names(sym) == ["_fused_fc_activation", "_fused_fc_softmax_output"]
    assert_same(sym, monkeypatch, data=(N, 4))


def test_triton_path_matches_unfused(monkeypatch):
    """Both fused operators on their Triton kernels (the interpreter on the CPU) in a bound
    graph, against the unfused graph on its own kernels."""
    monkeypatch.setattr(fc_softmax_output, "DENSE_MAX", 0)
    sym = mlp(normalization="valid", use_ignore=True, smooth_alpha=0.1)
    with backend("triton"):
        assert_same(sym, monkeypatch, data=(N, 4))


def _fc(**kw):
    return mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=V, name="fc", **kw)


def _fc_read_by(*readers):
    fc = _fc()
    return mx.sym.Group([reader(fc) for reader in readers])


UNFUSED = {
    "out_grad": lambda: mx.sym.SoftmaxOutput(_fc(), out_grad=True),
    "flatten-off-no-preserve_shape": lambda: mx.sym.SoftmaxOutput(_fc(flatten=False)),
    "multi_output-3d": lambda: mx.sym.SoftmaxOutput(_fc(flatten=False), preserve_shape=True,
                                                    multi_output=True),
    "fc-also-an-output": lambda: _fc_read_by(mx.sym.SoftmaxOutput, lambda fc: fc),
    "fc-read-twice": lambda: _fc_read_by(mx.sym.SoftmaxOutput,
                                         lambda fc: mx.sym.MakeLoss(mx.sym.sum(fc))),
    "activation-softsign": lambda: mx.sym.Activation(_fc(), act_type="softsign"),
    "activation-read-twice": lambda: _fc_read_by(
        lambda fc: mx.sym.Activation(fc, act_type="relu"),
        lambda fc: mx.sym.Activation(fc, act_type="tanh")),
    "activation-after-slice": lambda: mx.sym.Activation(
        mx.sym.SliceChannel(_fc(), num_outputs=1), act_type="relu"),
}


@pytest.mark.parametrize("case", sorted(UNFUSED))
def test_pass_leaves_graph_alone(case):
    heads = UNFUSED[case]()._outputs
    assert passes.fuse_fc_activation(heads) is heads
    assert passes.fuse_fc_softmax_output(heads) is heads
