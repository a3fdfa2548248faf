"""Triton kernels and their torch references, installed as `bucketmod.kernels`.

One module per op (`fc`, `activation`, `softmax`, `softmax_output`, `fc_softmax_output`,
`embedding`, `lstm`, `gru`, `vanilla_rnn`); each opens with `<op>_ref`, then its kernels, then
the launchers `<op>_fwd` / `<op>_bwd`, then `compile_cases` (its AOT compile spec, checked by
`_aot`). `bench` is the benchmark registry. Nothing here knows of symbols, modules or autograd.
Submodules are imported on use (`from bucketmod.kernels import fc`), so importing the package
compiles nothing.
"""
__all__ = ["activation", "bench", "embedding", "fc", "fc_softmax_output", "gru", "lstm",
           "softmax", "softmax_output", "vanilla_rnn"]
