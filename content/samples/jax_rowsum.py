"""JAX lesson: a row sum, jit-compiled."""


def lesson(rows, device):
    """Sum the rows on one device."""
    import jax
    import jax.numpy as jnp

    row_sum = jax.jit(lambda m: m.sum(0))
    m = jnp.array(rows, device=device)
    return row_sum(m)  # runs where m is


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# Usage: python jax_rowsum.py [--device auto|cpu|cuda[:N]|tpu[:N]]
# Runs the lesson on the CPU and on every device JAX lists (or the one asked for) and checks each
# answer. Last stdout line: a JSON verdict. Exit 0 pass, 1 fail, 2 no such device, 3 no JAX.

import json
import os
import sys

ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "jax_rowsum"
LIBRARY = "jax"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N", "tpu:N"))
EXPECTED_SUM = [5.0, 7.0, 9.0]


def device_names(jax):
    """name -> JAX device for everything JAX lists: cpu, cuda:N (or rocm:N), tpu:N."""
    named = {"cpu": jax.devices("cpu")[0]}
    for platform in ("gpu", "tpu"):
        try:
            found = jax.devices(platform)
        except RuntimeError:  # no such platform in this installation
            continue
        for index, device in enumerate(found):
            kind = "tpu" if platform == "tpu" else "cuda"
            named["%s:%d" % (kind, index)] = device
    return named


def main(argv=None):
    """Run the lesson on the devices asked for; exits through harness.finish()."""
    parser = harness.sample_parser("JAX: sum the rows of a 2x3 matrix with jax.jit.")
    args = parser.parse_args(argv)
    try:
        import jax
    except ImportError as error:
        print(
            "JAX is not installed in %s (%s): pip install jax" % (sys.executable, error),
            file=sys.stderr,
        )
        harness.finish(
            "fail", "", args.device, "import jax", "JAX not installed", harness.EXIT_NO_LIBRARY
        )

    version = jax.__version__
    print("library: JAX %s (default backend: %s)" % (version, jax.default_backend()))
    devices = device_names(jax)
    print("devices JAX lists: %s" % ", ".join(devices))
    if args.device == "auto":
        wanted = list(devices)
    elif args.device == "cpu":
        wanted = ["cpu"]
    elif args.device in devices:
        wanted = ["cpu", args.device]
    else:
        message = "%s is unavailable: JAX lists no such device; available: %s" % (
            args.device,
            ", ".join(devices),
        )
        print(message, file=sys.stderr)
        harness.finish("fail", version, args.device, "device", message, harness.EXIT_NO_DEVICE)

    results, all_correct = [], True
    for name in wanted:
        print("device: %s (%s)" % (name, devices[name].device_kind))
        answer = lesson(ROWS, devices[name])
        print("  %s: %s" % (name, answer))
        total = answer.tolist()
        correct = total == EXPECTED_SUM
        all_correct = all_correct and correct
        print("  sum of the rows: %s" % ("correct" if correct else "WRONG, want %s" % EXPECTED_SUM))
        results.append("%s %s%s" % (name, total, "" if correct else " WRONG"))
    harness.finish(
        "pass" if all_correct else "fail",
        version,
        wanted[-1],
        "jit-compiled sum(axis=0) of [[1,2,3],[4,5,6]] equals [5, 7, 9] on " + ", ".join(wanted),
        "; ".join(results),
        harness.EXIT_PASS if all_correct else harness.EXIT_FAIL,
    )


if __name__ == "__main__":
    harness.run(main)
