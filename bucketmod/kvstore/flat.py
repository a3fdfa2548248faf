"""One flat buffer per dtype: the layout every reduction runs on, over contexts and over
workers, so that reducing a model's gradients costs one sum (and one all-reduce) per dtype
instead of one per parameter, and every worker lays its buffer out in the same key order.

With several CUDA devices in one process the per-context sums go through
`torch.cuda.comm.reduce_add`/`broadcast`, which use NCCL where it is available (untested here:
no GPU was lent); CPU contexts (and contexts on one device) add in place.
"""
import torch


class FlatLayout:
    """Where each key's value sits in one flat buffer per dtype.

    Args:
        shapes: one `torch.Size` per key, in the fixed key order.
        dtypes: one torch dtype per key.
        device: the device the buffers live on.

    Attributes:
        groups: `[(dtype, positions, buffer)]`, one per dtype in order of first appearance;
            `positions` lists the keys (by position) packed into `buffer`, in key order.
        views: one view of its buffer per key, shaped like the key's value.
    """

    def __init__(self, shapes, dtypes, device):
        order = {}
        for pos, dtype in enumerate(dtypes):
            order.setdefault(dtype, []).append(pos)
        self.groups = []
        self.views = [None] * len(shapes)
        for dtype, positions in order.items():
            sizes = [shapes[p].numel() for p in positions]
            buffer = torch.empty(sum(sizes), dtype=dtype, device=device)
            for pos, part in zip(positions, buffer.split(sizes)):
                self.views[pos] = part.view(shapes[pos])
            self.groups.append((dtype, positions, buffer))

    def gather_sum(self, value_lists):
        """Each buffer := the sum over contexts of its keys' values (`value_lists[key][ctx]`,
        torch tensors)."""
        with torch.no_grad():
            self._gather_sum(value_lists)

    def _gather_sum(self, value_lists):
        for _, positions, buffer in self.groups:
            torch.cat([value_lists[p][0].reshape(-1) for p in positions], out=buffer)
            counts = {len(value_lists[p]) for p in positions}
            if len(counts) == 1:
                flats = [buffer] + [torch.cat([value_lists[p][c].reshape(-1) for p in positions])
                                    for c in range(1, counts.pop())]
                _sum_into(buffer, flats)
                continue
            for p in positions:
                for value in value_lists[p][1:]:
                    self.views[p].add_(value.to(buffer.device))

    def scatter(self, out_lists):
        """Copy each key's view into every array of `out_lists[key]` (torch tensors)."""
        for _, positions, buffer in self.groups:
            devices = {out_lists[p][c].device for p in positions
                       for c in range(len(out_lists[p]))}
            copies = _copies_on(buffer, devices)
            sizes = [self.views[p].numel() for p in positions]
            parts = {dev: flat.split(sizes) for dev, flat in copies.items()}
            targets, sources = [], []
            for i, p in enumerate(positions):
                for out in out_lists[p]:
                    targets.append(out)
                    sources.append(parts[out.device][i].view(out.shape))
            _copy_all(targets, sources)


def _distinct_cuda(devices):
    return all(d.type == "cuda" for d in devices) and len(set(devices)) == len(devices)


def _sum_into(buffer, flats):
    if len(flats) == 1:
        return
    if _distinct_cuda([f.device for f in flats]):
        buffer.copy_(torch.cuda.comm.reduce_add(flats, destination=buffer.device.index))
        return
    for flat in flats[1:]:
        buffer.add_(flat.to(buffer.device, non_blocking=True))


def _copies_on(buffer, devices):
    """{device: buffer's content on that device} (the buffer itself on its own device)."""
    copies = {buffer.device: buffer}
    others = [d for d in devices if d != buffer.device]
    if others and _distinct_cuda([buffer.device] + others):
        sent = torch.cuda.comm.broadcast(buffer, devices=[buffer.device] + others)
        copies.update(zip(others, sent[1:]))
    else:
        copies.update((d, buffer.to(d)) for d in others)
    return copies


def _copy_all(targets, sources):
    with torch.no_grad():
        if hasattr(torch, "_foreach_copy_"):
            same = [(t, s) for t, s in zip(targets, sources) if t.data_ptr() != s.data_ptr()]
            if same:
                torch._foreach_copy_([t for t, _ in same], [s for _, s in same])
            return
        for target, source in zip(targets, sources):
            if target.data_ptr() != source.data_ptr():
                target.copy_(source)
