"""PyTorch: add up the rows of a tensor."""


def lesson(rows, device):
    """Sum the rows on a device, 2 ways."""
    import torch

    matrix = torch.tensor(rows).to(device)
    added = matrix[0] + matrix[1]
    summed = matrix.sum(dim=0)
    return matrix, added, summed


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# Makes the tensor [[1, 2, 3], [4, 5, 6]], adds its rows (row 0 + row 1, and again with
# tensor.sum(dim=0)) and checks the answer [5, 7, 9]. It does this on the CPU, then on the
# accelerator: CUDA when PyTorch sees an NVIDIA (or ROCm) GPU, MPS on an Apple-silicon Mac.
#
# --device auto   CPU, then every kind of accelerator present (CUDA device 0, MPS)
# --device cpu    CPU only
# --device cuda:N CPU, then CUDA device N; exit status 2 when that device does not exist
# --device mps    CPU, then Apple's Metal device; exit status 2 when it is not available
#
# Usage: python torch_tensors.py [--device auto|cpu|cuda[:N]|mps]
# Last stdout line: a JSON verdict. Exit status 0 pass, 1 fail, 2 device missing, 3 no library.

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "torch_tensors"
LIBRARY = "torch"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N", "mps"))

ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
EXPECTED_SUM = [5.0, 7.0, 9.0]


def available_devices(torch):
    """Every device this PyTorch can compute on, as strings: cpu, cuda:N..., mps."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.extend("cuda:%d" % index for index in range(torch.cuda.device_count()))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def describe(torch, device):
    """A human name for a device: the GPU model for CUDA."""
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(device)
        backend = (
            "ROCm %s" % torch.version.hip if torch.version.hip else "CUDA %s" % (torch.version.cuda)
        )
        return "%s, %.1f GiB, %s" % (properties.name, properties.total_memory / 2**30, backend)
    if device == "mps":
        return "Apple Metal Performance Shaders"
    return "CPU, %d threads" % torch.get_num_threads()


def rows_sum_on(torch, device):
    """Run the example on one device; return (row0 + row1, sum over dim 0) as lists, seconds."""
    started = time.perf_counter()
    matrix, added, summed = lesson(ROWS, device)
    print("  tensor on %s:" % matrix.device)
    print("\n".join("    " + line for line in str(matrix).splitlines()))
    print("  row 0 + row 1: %s" % added)
    # .tolist() copies back to the host, which also waits for the device to finish.
    result = added.tolist(), summed.tolist()
    return result[0], result[1], time.perf_counter() - started


def main(argv=None):
    """Run the sample; exits through harness.finish()."""
    parser = harness.sample_parser("PyTorch: sum the rows of a 2x3 tensor.")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError as error:
        print("PyTorch is not installed in %s (%s)" % (sys.executable, error), file=sys.stderr)
        harness.finish(
            "fail",
            "",
            args.device,
            "import torch",
            "PyTorch not installed",
            harness.EXIT_NO_LIBRARY,
        )

    version = torch.__version__
    print("library: PyTorch %s (built with CUDA: %s)" % (version, torch.version.cuda or "no"))
    available = available_devices(torch)
    print("devices PyTorch can use: %s" % ", ".join(available))

    if args.device == "auto":
        wanted = ["cpu"] + [d for d in ("cuda:0", "mps") if d in available]
    elif args.device == "cpu":
        wanted = ["cpu"]
    elif args.device in available:
        wanted = ["cpu", args.device]
    else:
        if args.device == "mps":
            why = "MPS (Apple Metal) is not available"
        elif not torch.cuda.is_available():
            why = "PyTorch sees no CUDA device%s" % (
                "" if torch.version.cuda else " (this build has no CUDA support)"
            )
        else:
            why = "PyTorch sees %d CUDA device(s)" % torch.cuda.device_count()
        message = "%s is unavailable: %s; available: %s" % (args.device, why, ", ".join(available))
        print(message, file=sys.stderr)
        harness.finish("fail", version, args.device, "device", message, harness.EXIT_NO_DEVICE)

    results = []
    all_correct = True
    for device in wanted:
        print("device: %s (%s)" % (device, describe(torch, device)))
        added, summed, seconds = rows_sum_on(torch, device)
        correct = added == EXPECTED_SUM and summed == EXPECTED_SUM
        all_correct = all_correct and correct
        print(
            "  sum of the rows: %s -> %s (%.3f s)"
            % (added, "correct" if correct else "WRONG, expected %s" % EXPECTED_SUM, seconds)
        )
        results.append("%s %s%s" % (device, added, "" if correct else " WRONG"))

    harness.finish(
        "pass" if all_correct else "fail",
        version,
        wanted[-1],
        "row 0 + row 1 and sum(dim=0) of [[1,2,3],[4,5,6]] equal [5, 7, 9] on " + ", ".join(wanted),
        "; ".join(results),
        harness.EXIT_PASS if all_correct else harness.EXIT_FAIL,
    )


if __name__ == "__main__":
    harness.run(main)
