"""Ahead-of-time check: compile every `@triton.jit` kernel of this package for real GPUs
(sm_90a and sm_80) without one, at every config its launcher or autotuner can choose at the
project's shapes, and read registers, spills and shared memory from `ptxas -v`.

    python -m bucketmod.kernels._aot [--out report.json] [--arch 90 --arch 80] [--module M]

How a kernel file joins (kernels/README.md, "AOT compile specs"): it defines
`compile_cases(shapes)`, yielding zero-argument callables that call its launchers on `meta`
tensors made by `shapes.tensor(...)`. Each call runs the launcher's own host code (dtype,
shape and config choices) with every kernel launch recorded instead of run; an autotuned
launch records every config the autotuner would try. The records are bound exactly as
Triton's JIT binds a launch (so alignment and integer specialisation match a real GPU),
deduplicated to distinct compile keys and compiled in parallel. A `@triton.jit` function that
no case launches, and that no launched kernel calls, fails the check.

Triton's own cache keeps compiled kernels; the ptxas figures are cached beside them, so a
rerun only binds and looks up. Needs Triton's JIT internals as of 3.3-3.6 (`_pack_args`).
"""
import argparse
import ast
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import io
import json
import multiprocessing
import os
import pkgutil
import re
import subprocess
import sys
import textwrap
import time

import torch

# Largest dynamic shared memory one block may use (cudaDevAttrMaxSharedMemoryPerBlockOptin).
SMEM_LIMIT = {80: 166912, 86: 101376, 89: 101376, 90: 232448}
REGISTERS_PER_SM = 65536


@dataclasses.dataclass(frozen=True)
class Shapes:
    """The project's shapes: the bucketing LM's (batch 32, buckets 10..60) and up to 4096 rows,
    hidden 200..1024, vocabulary 10,000 and 50,000, in float32 (with and without TF32),
    float16 and bfloat16."""
    batch: int = 32
    bucket_lengths: tuple = (10, 20, 30, 40, 50, 60)
    max_rows: int = 4096
    hidden: tuple = (200, 1024)
    vocab: tuple = (10000, 50000)
    dtypes: tuple = (torch.float32, torch.float16, torch.bfloat16)

    @property
    def rows(self):
        return tuple(self.batch * t for t in self.bucket_lengths) + (self.max_rows,)

    def tensor(self, *shape, dtype=torch.float32):
        """A meta tensor: shape, strides and dtype, no memory."""
        return torch.empty(shape, dtype=dtype, device="meta")

    def dot_kinds(self):
        """`(dtype, allow_tf32)` for every matmul precision a launcher may be asked for."""
        for dtype in self.dtypes:
            yield dtype, False
            if dtype == torch.float32:
                yield dtype, True


def _jit_classes():
    from triton.runtime.jit import JITFunction
    classes = [JITFunction]
    with contextlib.suppress(ImportError):
        from triton.runtime.interpreter import InterpretedFunction
        classes.append(InterpretedFunction)
    return tuple(classes)


def base_jit(obj):
    """The `@triton.jit` function under autotune/heuristics/Tuned wrappers, or None."""
    classes = _jit_classes()
    for _ in range(8):
        if isinstance(obj, classes):
            return obj
        obj = getattr(obj, "fn", None)
        if obj is None or inspect.isfunction(obj):
            return None
    return None


def jit_functions(module):
    """`{qualified name: jit function}` for the `@triton.jit` functions defined in `module`."""
    found = {}
    for value in vars(module).values():
        jit = base_jit(value)
        if jit is not None and jit.fn.__module__ == module.__name__:
            found[f"{module.__name__}.{jit.fn.__name__}"] = jit
    return found


def callees(jit):
    """The jit functions that `jit`'s body calls (device helpers), resolved in its globals."""
    src = getattr(jit, "src", None) or inspect.getsource(jit.fn)
    tree = ast.parse(textwrap.dedent(src))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts, func = [], node.func
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            continue
        value = jit.fn.__globals__.get(func.id)
        for attr in reversed(parts):
            value = getattr(value, attr, None)
        callee = base_jit(value)
        if callee is not None:
            found.append(callee)
    return found


def uncovered(modules, launched):
    """Names of jit functions in `modules` that no case launches and no launched kernel calls."""
    every = {}
    for module in modules:
        every.update(jit_functions(module))
    reached, todo = set(), [j for j in launched]
    while todo:
        jit = todo.pop()
        if id(jit) in reached:
            continue
        reached.add(id(jit))
        todo.extend(callees(jit))
    return sorted(name for name, jit in every.items() if id(jit) not in reached)


def kernel_modules(extra=()):
    """This package's modules (all of them: discovery, not a list), then `extra` ones (module
    names or .py files, e.g. a user's kernels)."""
    package = importlib.import_module(__package__)
    modules = [importlib.import_module(f"{__package__}.{info.name}")
               for info in pkgutil.iter_modules(package.__path__)]
    for name in extra:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(
                f"aot_user_{len(modules)}_{os.path.basename(name)[:-3]}", name)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            modules.append(module)
        else:
            modules.append(importlib.import_module(name))
    return modules


@contextlib.contextmanager
def recording(arch, records):
    """Launches of any jit kernel append `(jit, kwargs)` to `records` instead of running;
    an autotuner launches every config it would try; launchers pick configs for `arch`."""
    from triton.runtime.autotuner import Autotuner
    from triton.runtime.jit import JITFunction

    from . import _common

    def jit_run(self, *args, grid, warmup, **kwargs):
        records.append((self, {**dict(zip(self.arg_names, args)), **kwargs}))

    def tuner_run(self, *args, **kwargs):
        self.nargs = dict(zip(self.arg_names, args))
        configs = self.prune_configs(kwargs) if len(self.configs) > 1 else self.configs
        for config in configs:
            self.fn.run(*args, **kwargs, **config.all_kwargs())

    saved = JITFunction.run, Autotuner.run, dict(_common._aot_target)
    JITFunction.run, Autotuner.run = jit_run, tuner_run
    _common._aot_target.update(arch=arch, sm_count=132)
    try:
        yield records
    finally:
        JITFunction.run, Autotuner.run = saved[:2]
        _common._aot_target.update(saved[2])


def _options_kwargs(kwargs):
    return {k: v for k, v in kwargs.items() if k not in ("grid", "warmup")}


def _launch_key(jit, kwargs, arch):
    """A cheap key that is equal for launches that bind to the same compile: what Triton
    specialises on (dtype and 16-byte alignment of pointers; ints equal to 1, multiples of 16,
    beyond int32) and every constexpr value. Finer than the compile key, never coarser."""
    constexpr = {p.name for p in jit.params if p.is_constexpr}
    parts = [id(jit), arch]
    for name, value in sorted(_options_kwargs(kwargs).items()):
        if name in constexpr or not isinstance(value, (int, float, torch.Tensor)):
            parts.append((name, repr(value)))
        elif isinstance(value, torch.Tensor):
            parts.append((name, str(value.dtype), value.data_ptr() % 16))
        elif isinstance(value, bool) or isinstance(value, float):
            parts.append((name, type(value).__name__, value if isinstance(value, bool) else 0))
        else:
            parts.append((name, value == 1, value % 16, -2 ** 31 <= value < 2 ** 31))
    return tuple(parts)


def bind(jit, kwargs, arch):
    """What `JITFunction.run` hands `triton.compile` for this launch on `arch`:
    `(key, (source, target, options))`; key identifies the compile."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    kwargs = _options_kwargs(kwargs)
    bound, specialization, options = create_function_from_signature(
        jit.signature, jit.params, backend)(**kwargs)
    options, signature, constexprs, attrs = jit._pack_args(backend, kwargs, bound,
                                                           specialization, options)
    key = repr((jit.fn.__module__, jit.fn.__name__, arch, sorted(signature.items()),
                sorted((k, repr(v)) for k, v in constexprs.items()), sorted(attrs.items()),
                sorted(options.__dict__.items())))
    return key, (ASTSource(jit, signature, constexprs, attrs), target, options)


_PTXAS = {"registers": r"Used (\d+) registers", "spill_stores": r"(\d+) bytes spill stores",
          "spill_loads": r"(\d+) bytes spill loads", "stack": r"(\d+) bytes stack frame"}


def parse_ptxas(log):
    return {k: int(m.group(1)) if (m := re.search(p, log)) else 0 for k, p in _PTXAS.items()}


def _stats_cache(compiled, arch):
    from triton import knobs
    folder = os.path.join(knobs.cache.dir, "bucketmod-aot")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{compiled.hash}-{arch}.json")


def _ptxas_stats(compiled, arch, log):
    """ptxas -v figures: from this compile's log, else the cache, else ptxas run again on
    the cached PTX (a Triton cache hit compiles nothing)."""
    path = _stats_cache(compiled, arch)
    if not log and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    if not log:
        from triton import knobs
        ptx = os.path.join(os.path.dirname(path), f"{compiled.hash}-{arch}.ptx")
        with open(ptx, "w") as f:
            f.write(compiled.asm["ptx"])
        gpu = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
        log = subprocess.run([knobs.nvidia.ptxas.path, "-v", f"--gpu-name={gpu}", ptx, "-o",
                              os.devnull], capture_output=True, text=True, check=True).stderr
        os.remove(ptx)
    stats = parse_ptxas(log)
    with open(path + ".tmp", "w") as f:
        json.dump(stats, f)
    os.replace(path + ".tmp", path)
    return stats


_JOBS = []


def _compile(index):
    from triton import compile as triton_compile
    from triton import knobs

    name, arch, (src, target, options) = _JOBS[index]
    start = time.perf_counter()
    row = {"kernel": name, "arch": arch, "num_warps": options.num_warps,
           "num_stages": options.num_stages,
           "signature": {k: v for k, v in src.signature.items() if v != "constexpr"},
           "constexprs": {src.fn.arg_names[k[0]]: repr(v) for k, v in src.constants.items()
                          if len(k) == 1 and not isinstance(v, type(None))}}
    try:
        knobs.nvidia.dump_ptxas_log = True
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            compiled = triton_compile(src, target=target, options=options.__dict__)
        stats = _ptxas_stats(compiled, arch, out.getvalue())
    except Exception as e:  # a compile error is a finding, reported per kernel
        row.update(error=f"{type(e).__name__}: {str(e)[-2000:]}")
        return row
    ptx = compiled.asm["ptx"]
    row.update(stats, shared=compiled.metadata.shared, smem_limit=SMEM_LIMIT.get(arch),
               cp_async=ptx.count("cp.async.cg") + ptx.count("cp.async.ca"),
               wgmma="wgmma.mma_async" in ptx, seconds=round(time.perf_counter() - start, 3))
    return row


def problems(row):
    """What is wrong with one compiled kernel (empty when nothing)."""
    if "error" in row:
        return [row["error"].splitlines()[0] if row["error"] else "compile error"]
    found = []
    if row["spill_stores"] or row["spill_loads"]:
        found.append(f"spills {row['spill_stores']} B stores / {row['spill_loads']} B loads")
    if row["smem_limit"] and row["shared"] > row["smem_limit"]:
        found.append(f"shared memory {row['shared']} B > {row['smem_limit']} B")
    if row["registers"] * 32 * row["num_warps"] > REGISTERS_PER_SM:
        found.append(f"{row['registers']} registers x {32 * row['num_warps']} threads")
    return found


def check(archs=(90, 80), extra_modules=(), shapes=None, jobs=None):
    """Record, bind, deduplicate and compile; returns the report dict."""
    shapes = shapes or Shapes()
    modules = kernel_modules(extra_modules)
    start = time.perf_counter()
    compiles, launched, cases, n_records = {}, [], 0, 0
    for arch in archs:
        records = []
        with recording(arch, records):
            for module in modules:
                for case in getattr(module, "compile_cases", lambda s: ())(shapes):
                    case()
                    cases += 1
        seen = set()
        n_records += len(records)
        for jit, kwargs in records:
            launch = _launch_key(jit, kwargs, arch)
            if launch in seen:
                continue
            seen.add(launch)
            launched.append(jit)
            key, job = bind(jit, kwargs, arch)
            compiles.setdefault(key, (f"{jit.fn.__module__}.{jit.fn.__name__}", arch, job))
    recorded = time.perf_counter() - start
    missing = uncovered(modules, launched)
    _JOBS[:] = list(compiles.values())
    jobs = jobs or len(os.sched_getaffinity(0))
    print(f"aot: {len(_JOBS)} distinct compiles from {n_records} launches of {cases} "
          f"launcher calls ({recorded:.1f} s); compiling in {jobs} processes", file=sys.stderr,
          flush=True)
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            rows = pool.map(_compile, range(len(_JOBS)), chunksize=1)
    else:
        rows = [_compile(i) for i in range(len(_JOBS))]
    failures = [{"kernel": r["kernel"], "arch": r["arch"], "constexprs": r["constexprs"],
                 "num_warps": r["num_warps"], "num_stages": r["num_stages"], "problems": p}
                for r in rows if (p := problems(r))]
    import triton
    return {"triton": triton.__version__, "torch": torch.__version__, "archs": list(archs),
            "shapes": dataclasses.asdict(shapes) | {"dtypes": [str(d) for d in shapes.dtypes]},
            "launcher_calls": cases, "launches_recorded": n_records,
            "compiles": len(rows), "record_seconds": round(recorded, 1),
            "seconds": round(time.perf_counter() - start, 1), "uncovered": missing,
            "failures": failures, "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--arch", type=int, action="append",
                        help="compute capability to compile for (repeatable; default 90 and 80)")
    parser.add_argument("--module", action="append", default=[],
                        help="also check this module or .py file (a user's kernels)")
    parser.add_argument("--jobs", type=int, help="compile processes (default: one per CPU)")
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        parser.error("unset TRITON_INTERPRET: the check compiles real kernels")
    report = check(tuple(args.arch or (90, 80)), args.module, jobs=args.jobs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    for name in report["uncovered"]:
        print(f"NO COMPILE SPEC: {name} (add compile_cases to its file; kernels/README.md)")
    for f in report["failures"]:
        print(f"FAIL {f['kernel']} sm_{f['arch']} warps={f['num_warps']} "
              f"stages={f['num_stages']} {f['constexprs']}: {'; '.join(f['problems'])}")
    ok = not report["uncovered"] and not report["failures"]
    print(f"aot: {report['compiles']} distinct compiles from {report['launches_recorded']} "
          f"recorded launches of {report['launcher_calls']} launcher calls, sm_"
          f"{'/sm_'.join(map(str, report['archs']))}, {report['seconds']} s: "
          f"{'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
