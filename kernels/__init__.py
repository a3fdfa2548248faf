"""Triton kernels and their torch references, installed as `bucketmod.kernels`.

One module per op (`fc`, `activation`, `softmax`, `softmax_output`, `embedding`, `lstm_cell`,
`gru_cell`, `rnn_cell`); each opens with `<op>_ref`, then its kernels, then the launchers
`<op>_fwd` / `<op>_bwd`, then `compile_cases` (its AOT compile spec, checked by `_aot`).
`bench` is the benchmark registry. Nothing here knows of symbols, modules or autograd.
Submodules are imported on use (`from bucketmod.kernels import fc`), so importing the package
compiles nothing.
"""
__all__ = ["activation", "bench", "embedding", "fc", "gru_cell", "lstm_cell", "rnn_cell",
           "softmax", "softmax_output"]
