"""Test helpers shared by every test folder: one tolerance check tied to a ratio per dtype."""
import torch


def _first_mismatches(ref, out, tol, count=5):
    bad = ((ref - out).abs() > tol) | torch.isnan(out)
    idx = bad.nonzero()[:count].tolist()
    return ", ".join(f"{tuple(i)}: ref={ref[tuple(i)].item():.6g} out={out[tuple(i)].item():.6g}"
                     for i in idx)


def assert_close(name, ref, out, ratio):
    """Fail unless `out` matches `ref`: max-abs error <= 1e-6 passes at once; otherwise the
    relative RMS error `rms(ref - out) / rms(ref)` must be <= `ratio`. NaN in `out` always fails.

    Args:
        name: what is compared, for the message (e.g. 'dx').
        ref, out: tensors (or anything torch.as_tensor takes) of the same shape.
        ratio: allowed relative RMS error, chosen per dtype by the caller.
    """
    ref = torch.as_tensor(ref).detach().double().cpu()
    out = torch.as_tensor(out).detach().double().cpu()
    if ref.shape != out.shape:
        raise AssertionError(f"{name}: shape {tuple(out.shape)}, expected {tuple(ref.shape)}")
    if torch.isnan(out).any() and not torch.isnan(ref).any():
        raise AssertionError(f"{name}: NaN in output at {_first_mismatches(ref, out, 0.0)}")
    if ref.numel() == 0:
        return
    abs_err = (ref - out).abs().nan_to_num(0.0).max().item()
    if abs_err <= 1e-6:
        return
    rms_ref = ref.pow(2).mean().sqrt().item()
    err_ratio = (ref - out).pow(2).mean().sqrt().item() / max(rms_ref, 1e-12)
    if err_ratio > ratio:
        raise AssertionError(
            f"{name}: max-abs error {abs_err:.3g}, relative RMS error {err_ratio:.3g} > "
            f"{ratio:.3g}; first mismatches: {_first_mismatches(ref, out, abs_err / 2)}")
