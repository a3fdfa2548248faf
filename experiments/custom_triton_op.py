"""Your own Triton kernel as a bucketmod operator, end to end: RMSNorm.

    python experiments/custom_triton_op.py check   # kernel vs torch reference, forward + grads
    python experiments/custom_triton_op.py train   # bucketed LSTM LM with the op, kernel vs ref
    python experiments/custom_triton_op.py bench   # kernel vs reference vs torch's rms_norm
    python experiments/bench_kernels.py --import experiments/custom_triton_op.py --ops rms_norm

The steps a kernel researcher takes, each a section of this file:
1. the torch reference (`rms_norm_ref`): what the op computes, differentiable by autograd;
2. the Triton kernels and their host launchers (`rms_norm_fwd`, `rms_norm_bwd`);
3. `register()`: `mx.operator.register_kernel` declares both together, so the op is
   `mx.sym.rms_norm` / `mx.nd.rms_norm` and `BUCKETMOD_BACKEND` (auto|triton|torch) picks the
   kernel or the reference;
4. use it in a bucketed model (`lm_sym_gen`) and train it under both backends (`train`);
5. check the kernel against the reference (`check`), and time it (`bench`; `make_inputs`
   builds the benchmark's inputs, so a benchmark harness can import the kernel, the reference
   and the inputs as they are; `register_bench()` enters the op, as registered, into
   `experiments/bench_kernels.py`'s registry when that script `--import`s this file);
6. compile it ahead of time for sm_90a and sm_80 (`compile_cases`; `python -m
   bucketmod.kernels._aot --module experiments/custom_triton_op.py`).

On a machine without a GPU, run with `TRITON_INTERPRET=1` (small sizes) to execute the kernels
on the CPU through Triton's interpreter.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import triton
import triton.language as tl

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.join(HERE, "..") not in sys.path:
    sys.path.insert(0, os.path.join(HERE, ".."))  # a checkout that is not pip-installed
import bucketmod as mx  # noqa: E402


def rms_norm_ref(x, gamma, eps=1e-6):
    """`x / sqrt(mean(x², last axis) + eps) * gamma`, computed in float32."""
    xf = x.float()
    rstd = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (xf * rstd * gamma.float()).to(x.dtype)


@triton.jit
def rms_norm_fwd_kernel(x, gamma, y, rstd, N, stride_x, stride_y, eps, BLOCK: tl.constexpr):
    i_r = tl.program_id(0).to(tl.int64)
    o_n = tl.arange(0, BLOCK)
    mask = o_n < N
    b_x = tl.load(x + i_r * stride_x + o_n, mask=mask, other=0.0).to(tl.float32)
    b_g = tl.load(gamma + o_n, mask=mask, other=0.0).to(tl.float32)
    b_rstd = 1.0 / tl.sqrt(tl.sum(b_x * b_x, axis=0) / N + eps)
    tl.store(rstd + i_r, b_rstd)
    tl.store(y + i_r * stride_y + o_n, (b_x * b_rstd * b_g).to(y.dtype.element_ty), mask=mask)


@triton.jit
def rms_norm_bwd_kernel(dy, x, gamma, rstd, dx, dg_rows, N, stride_dy, stride_x, stride_dx,
                        BLOCK: tl.constexpr):
    # x̂ = x·rstd, y = x̂·γ:  dx = rstd·(dy·γ − x̂·mean(dy·γ·x̂)),  dγ = Σ_rows dy·x̂.
    i_r = tl.program_id(0).to(tl.int64)
    o_n = tl.arange(0, BLOCK)
    mask = o_n < N
    b_dy = tl.load(dy + i_r * stride_dy + o_n, mask=mask, other=0.0).to(tl.float32)
    b_x = tl.load(x + i_r * stride_x + o_n, mask=mask, other=0.0).to(tl.float32)
    b_g = tl.load(gamma + o_n, mask=mask, other=0.0).to(tl.float32)
    b_rstd = tl.load(rstd + i_r)
    b_xhat = b_x * b_rstd
    b_dxhat = b_dy * b_g
    b_dx = b_rstd * (b_dxhat - b_xhat * (tl.sum(b_dxhat * b_xhat, axis=0) / N))
    tl.store(dx + i_r * stride_dx + o_n, b_dx.to(dx.dtype.element_ty), mask=mask)
    tl.store(dg_rows + i_r * N + o_n, b_dy * b_xhat, mask=mask)


def _rows(t):
    t = t.contiguous()
    return t.reshape(-1, t.shape[-1])


def rms_norm_fwd(x, gamma, eps=1e-6):
    """Launch the forward kernel: `(y, saved)` with `saved = (x, gamma, rstd)` for the backward.

    One program per row of the last axis; the row must fit one block (N <= 65536).
    """
    x2 = _rows(x)
    M, N = x2.shape
    y = torch.empty_like(x2)
    rstd = torch.empty(M, dtype=torch.float32, device=x.device)
    block = triton.next_power_of_2(N)
    if M:
        rms_norm_fwd_kernel[(M,)](x=x2, gamma=gamma, y=y, rstd=rstd, N=N,
                                  stride_x=x2.stride(0), stride_y=y.stride(0), eps=float(eps),
                                  BLOCK=block)
    return y.reshape(x.shape), (x2, gamma, rstd)


def rms_norm_bwd(saved, dy, eps=1e-6):
    """Launch the backward kernel: `(dx, dgamma)`; dγ's per-row terms are summed in torch."""
    x2, gamma, rstd = saved
    dy2 = _rows(dy)
    M, N = x2.shape
    dx = torch.empty_like(x2)
    dg_rows = torch.empty((M, N), dtype=torch.float32, device=x2.device)
    if M:
        rms_norm_bwd_kernel[(M,)](dy=dy2, x=x2, gamma=gamma, rstd=rstd, dx=dx, dg_rows=dg_rows,
                                  N=N, stride_dy=dy2.stride(0), stride_x=x2.stride(0),
                                  stride_dx=dx.stride(0), BLOCK=triton.next_power_of_2(N))
    return dx.reshape(dy.shape), dg_rows.sum(0).to(gamma.dtype)


def _infer_shape(in_shapes, eps):
    """gamma is `(N,)` for data `(..., N)`; the output has the data's shape."""
    data = in_shapes[0]
    return [data, (data[-1],)], [data]


def register():
    """Make `rms_norm` an operator: `mx.sym.rms_norm(data, gamma=None, eps=1e-6)` (once)."""
    if "rms_norm" in mx.operator.get_all_registered_operators():
        return
    mx.operator.register_kernel(
        "rms_norm", reference=rms_norm_ref, forward=rms_norm_fwd, backward=rms_norm_bwd,
        arguments=("data", "gamma"), params={"eps": 1e-6}, infer_shape=_infer_shape)


def make_inputs(M, N, dtype=torch.float32, device="cpu", seed=0):
    """`(x, gamma)` of shapes `[M, N]` and `[N]`, both requiring grad."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(M, N, generator=gen).to(device=device, dtype=dtype)
    gamma = (1 + 0.1 * torch.randn(N, generator=gen)).to(device=device, dtype=dtype)
    return x.requires_grad_(True), gamma.requires_grad_(True)


def kernels_runnable():
    """Triton kernels run on a GPU, or on the CPU through `TRITON_INTERPRET=1`."""
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


def check(shapes=((4, 16), (3, 50), (37, 781)), device=None):
    """Max abs error of the kernel against the reference: `{shape: (y, dx, dgamma)}`."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    errors = {}
    for M, N in shapes:
        x, gamma = make_inputs(M, N, device=device)
        y_ref = rms_norm_ref(x, gamma)
        dy = torch.randn_like(y_ref)
        dx_ref, dg_ref = torch.autograd.grad(y_ref, (x, gamma), dy)
        y_ref = y_ref.detach()
        y, saved = rms_norm_fwd(x.detach(), gamma.detach())
        dx, dg = rms_norm_bwd(saved, dy)
        errors[(M, N)] = tuple(float((a - b).abs().max()) for a, b in
                               ((y, y_ref), (dx, dx_ref), (dg, dg_ref)))
    return errors


def lm_sym_gen(vocab, num_hidden, num_embed):
    """A bucketed LSTM language model with `rms_norm` on the LSTM outputs."""
    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=vocab, output_dim=num_embed, name="embed")
        cell = mx.rnn.LSTMCell(num_hidden=num_hidden, prefix="lstm_")
        outputs, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, num_hidden))
        pred = mx.sym.rms_norm(pred, name="norm")
        pred = mx.sym.FullyConnected(data=pred, num_hidden=vocab, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)
    return sym_gen


def lm_batches(vocab, buckets, batch_size, steps, seed=0):
    """`steps` random batches, cycling through `buckets`: (bucket key, data, label)."""
    rng = np.random.default_rng(seed)
    out = []
    for step in range(steps):
        key = buckets[step % len(buckets)]
        data = rng.integers(1, vocab, (batch_size, key)).astype(np.float32)
        label = np.concatenate([data[:, 1:], np.zeros((batch_size, 1), np.float32)], 1)
        out.append((key, data, label))
    return out


def train(backend, vocab=20, num_hidden=16, num_embed=8, buckets=(3, 5), batch_size=4, steps=4,
          seed=0):
    """Train the bucketed LM with `backend` ('triton' runs the kernel, 'torch' the reference)
    from a fixed init; returns (per-step losses, final parameters as numpy)."""
    register()
    mx.random.seed(seed)
    mod = mx.mod.BucketingModule(lm_sym_gen(vocab, num_hidden, num_embed),
                                 default_bucket_key=max(buckets),
                                 context=mx.gpu(0) if torch.cuda.is_available() else mx.cpu())
    mod.bind(data_shapes=[("data", (batch_size, max(buckets)))],
             label_shapes=[("softmax_label", (batch_size, max(buckets)))])
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    losses = []
    old = mx.set_backend(backend)
    try:
        for key, data, label in lm_batches(vocab, buckets, batch_size, steps, seed):
            batch = mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
                                    provide_data=[("data", data.shape)],
                                    provide_label=[("softmax_label", label.shape)])
            mod.forward(batch, is_train=True)
            prob = mod.get_outputs()[0].asnumpy()
            picked = prob[np.arange(prob.shape[0]), label.reshape(-1).astype(np.int64)]
            losses.append(float(-np.log(picked + 1e-12).mean()))
            mod.backward()
            mod.update()
    finally:
        mx.set_backend(old)
    return losses, {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def bench(M=4096, N=1024, dtype=torch.float16, reps=20):
    """Median ms of forward+backward: the two kernels, the reference under autograd, and
    torch's own `rms_norm` where torch has it."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x, gamma = make_inputs(M, N, dtype, device)
    dy = torch.randn_like(x)

    def triton_step():
        _, saved = rms_norm_fwd(x.detach(), gamma.detach())
        rms_norm_bwd(saved, dy)

    steps = {"torch_ref": lambda: torch.autograd.grad(rms_norm_ref(x, gamma), (x, gamma), dy)}
    if kernels_runnable():
        steps["triton"] = triton_step
    if hasattr(torch.nn.functional, "rms_norm"):
        steps["torch"] = lambda: torch.autograd.grad(
            torch.nn.functional.rms_norm(x, (N,), gamma, 1e-6), (x, gamma), dy)
    results = {}
    for name, step in steps.items():
        if device == "cuda":
            from triton.testing import do_bench
            results[name] = do_bench(step)
            continue
        step()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1e3)
        results[name] = float(np.median(times))
    return {"device": device, "M": M, "N": N, "dtype": str(dtype), "ms_fwd_bwd": results}


def register_bench():
    """The op in `experiments/bench_kernels.py --import experiments/custom_triton_op.py`: the
    operator as registered (kernel on the Triton backend) against the reference under autograd
    and `F.rms_norm` where torch has it."""
    from bucketmod.kernels import bench as registry

    from bucketmod.backend import backend
    from bucketmod.ops.registry import get
    register()
    opdef = get("rms_norm")
    params = opdef.parse({})

    def kernel(i):
        with backend("triton"):
            return opdef.forward(params, [i["x"], i["gamma"]], [], True)[0]

    providers = {"bucketmod": kernel,
                 "reference (autograd)": lambda i: rms_norm_ref(i["x"], i["gamma"])}
    if hasattr(torch.nn.functional, "rms_norm"):
        providers["torch (F.rms_norm)"] = lambda i: torch.nn.functional.rms_norm(
            i["x"], (i["x"].shape[-1],), i["gamma"], 1e-6)

    def make(s, dtype, device):
        x, gamma = make_inputs(s["M"], s["N"], dtype, device)
        return {"x": x, "gamma": gamma}
    registry.register(registry.BenchOp(
        name="rms_norm", family="custom", shapes=[{"M": 4096, "N": n} for n in (1024, 4096)],
        quick_shapes=[{"M": 8, "N": 48}], make=make, providers=providers,
        cost=lambda s, dtype, mode: (0, torch.finfo(dtype).bits // 8 * s["M"] * s["N"] *
                                     (2 if mode == "fwd" else 5)),
        test_file="tests/experiments/test_custom_triton_op.py",
        label=lambda s: f"{s['M']}x{s['N']}"))


def compile_cases(shapes):
    """The launchers on meta tensors for the AOT check (`bucketmod.kernels._aot --module`)."""
    for dtype in shapes.dtypes:
        for M in (shapes.batch, shapes.max_rows):
            for N in shapes.hidden:
                x = shapes.tensor(M, N, dtype=dtype)
                gamma = shapes.tensor(N, dtype=dtype)

                def case(x=x, gamma=gamma):
                    _, saved = rms_norm_fwd(x, gamma)
                    rms_norm_bwd(saved, x)
                yield case


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("check", "train", "bench"))
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("M", "N"),
                        help="bench: rows and row length (default 4096 1024; 64 256 on CPU)")
    args = parser.parse_args(argv)
    if args.what != "bench" and not kernels_runnable():
        parser.error("no GPU here: run with TRITON_INTERPRET=1 to execute the kernels on the CPU")
    if args.what == "check":
        for shape, errs in check().items():
            print(f"{shape}: max |y-ref| {errs[0]:.2e}, |dx-ref| {errs[1]:.2e}, "
                  f"|dgamma-ref| {errs[2]:.2e}")
    elif args.what == "train":
        ref_losses, ref_params = train("torch")
        losses, params = train("triton")
        print("loss per step, reference:", [round(v, 5) for v in ref_losses])
        print("loss per step, kernel:   ", [round(v, 5) for v in losses])
        print("max parameter difference:", max(float(np.abs(params[k] - ref_params[k]).max())
                                              for k in params))
    else:
        M, N = args.size or ((4096, 1024) if torch.cuda.is_available() else (64, 256))
        print(bench(M, N, torch.float16 if torch.cuda.is_available() else torch.float32))


if __name__ == "__main__":
    main()
