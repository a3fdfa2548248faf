"""`mx.mon.Monitor`: statistics of operator outputs every `interval` batches."""
import logging
import re

from .ndarray.ndarray import NDArray


def _default_stat(x):
    """MXNet's default statistic: the norm divided by sqrt(size)."""
    t = x.tensor.float()
    return NDArray((t.norm() / (t.numel() ** 0.5)).reshape(1))


class Monitor:
    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        self.interval = interval
        self.stat_func = stat_func or _default_stat
        self.re_prog = re.compile(pattern)
        self.sort = sort
        self.monitor_all = monitor_all
        self.activated = False
        self.queue = []
        self.step = 0
        self.exes = []

    def stat_helper(self, name, array):
        if not self.activated or not self.re_prog.match(name):
            return
        self.queue.append((self.step, name, self.stat_func(array)))

    def install(self, exe):
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        self.exes.append(exe)

    def tic(self):
        if self.step % self.interval == 0:
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """[(step, name, stat string)] collected since tic, parameters and gradients included.

        Each statistic string ends in a tab, as MXNet 1.9.1 writes it. MXNet reports the outputs
        of backward nodes here; autograd has none, so parameter gradients (`<name>_grad`) stand
        in for them."""
        if not self.activated:
            return []
        for exe in self.exes:
            for name, array in list(exe.arg_dict.items()) + list(exe.aux_dict.items()):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
            for name, array in exe.grad_dict.items():
                if array is not None and self.re_prog.match(name + "_grad"):
                    self.queue.append((self.step, name + "_grad", self.stat_func(array)))
        self.activated = False
        res = []
        queue = sorted(self.queue, key=lambda x: x[1]) if self.sort else self.queue
        for n, k, v_list in queue:
            if isinstance(v_list, NDArray):
                v_list = [v_list]
            s = "".join(str(v.asnumpy().reshape(-1)[0] if v.shape == (1,) else v.asnumpy())
                        + "\t" for v in v_list)
            res.append((n, k, s))
        self.queue = []
        return res

    def toc_print(self):
        for n, k, v in self.toc():
            logging.info("Batch: {:7d} {:30s} {:s}".format(n, k, v))


__all__ = ["Monitor"]
