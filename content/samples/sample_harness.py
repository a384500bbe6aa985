"""What every mltui sample shares: its command line, the device words, and the verdict line.

A sample is a standalone script (stdlib + its library, Python 3.8 or newer) run as
`python SAMPLE.py [--device ...]`. Python puts the script's own folder first on sys.path, so
`import sample_harness` finds this file beside it and the sample stays one file to run. The
contract with mltui (see probes/runner.py): the last stdout line is a JSON verdict
`{"verdict", "sample", "library", "version", "device", ["engine",] "checked", "detail"}` and the
exit status is 0 pass, 1 fail, 2 device missing or bad command line, 3 library not installed.
"""

import argparse
import json
import re
import sys
import traceback

EXIT_PASS, EXIT_FAIL, EXIT_NO_DEVICE, EXIT_NO_LIBRARY = 0, 1, 2, 3

_identity = {"sample": "", "library": "", "kinds": ("cuda:N",)}


def identify(sample, library, devices=("cuda:N",)):
    """Name the running sample and the devices its --device takes besides auto and cpu:
    "cuda:N" (cuda alone means cuda:0), "tpu:N", or a plain word such as "mps"."""
    _identity.update(sample=sample, library=library, kinds=tuple(devices))


def finish(verdict, version, device, checked, detail, code, engine=None):
    """Print the verdict as the last stdout line (JSON) and exit with `code`."""
    record = {
        "verdict": verdict,
        "sample": _identity["sample"],
        "library": _identity["library"],
        "version": version,
        "device": device,
    }
    if engine:
        record["engine"] = engine
    record["checked"] = checked
    record["detail"] = detail
    sys.stdout.flush()
    # On a line of its own even when the lesson or a library (C code included) left a line
    # open ("50%" without a newline): glued to it, the verdict would not be read.
    print("\n" + json.dumps(record), flush=True)
    sys.exit(code)


def device_words():
    """The --device words this sample takes, as its help and errors spell them."""
    words = ["auto", "cpu"]
    for kind in _identity["kinds"]:
        words += [kind[:-2] + "[:N]"] if kind.endswith(":N") else [kind]
    return words


def device_spec(text):
    """argparse type: auto, cpu or one of the sample's device kinds, normalised (cuda ->
    cuda:0, CUDA:07 -> cuda:7); an index has at most 9 digits."""
    value = text.strip().lower()
    indexed = [kind[:-2] for kind in _identity["kinds"] if kind.endswith(":N")]
    plain = [kind for kind in _identity["kinds"] if not kind.endswith(":N")]
    if value in indexed:
        return value + ":0"
    if value in ["auto", "cpu", *plain]:
        return value
    kind, _, index = value.partition(":")
    if kind in indexed and re.match(r"^[0-9]{1,9}$", index):
        return "%s:%d" % (kind, int(index))  # cuda:007 is cuda:7, the name libraries list
    raise argparse.ArgumentTypeError("expected %s, not %r" % (", ".join(device_words()), text))


class SampleArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors still end with a JSON verdict line."""

    def error(self, message):
        """Report a bad command line in one line and a fail verdict."""
        print("%s: error: %s" % (self.prog, message), file=sys.stderr)
        finish("fail", "", "none", "command line", message, EXIT_NO_DEVICE)


def sample_parser(description):
    """The sample's parser with its --device option already added."""
    parser = SampleArgumentParser(description=description)
    parser.add_argument(
        "--device", type=device_spec, default="auto", help=", ".join(device_words())
    )
    return parser


def check_products(multiply, compile_seconds):
    """Theano's and PyTensor's check: a compiled `a * b` on scalars against Python's products;
    prints what it saw and returns (passed, detail)."""
    answer = float(multiply(1.5, 2.5))
    print("f(1.5, 2.5) = %r (compiled in %.2f s)" % (answer, compile_seconds))
    pairs = [(1.5, 2.5), (-3.0, 0.25), (1e10, 3e-5), (7.0, 0.0), (0.1, 0.2)]
    mismatches = []
    for left, right in pairs:
        got = float(multiply(left, right))
        if got != left * right:
            mismatches.append("%r*%r gave %r, expected %r" % (left, right, got, left * right))
    if mismatches:
        print("mismatches: " + "; ".join(mismatches))
    detail = "f(1.5, 2.5) = %r; %d/%d pairs equal Python's product" % (
        answer,
        len(pairs) - len(mismatches),
        len(pairs),
    )
    return answer == 3.75 and not mismatches, detail


def run(main):
    """Call the sample's main(); an unforeseen failure still ends with a verdict line."""
    try:
        main()
    except Exception as crash:
        traceback.print_exc()
        detail = "%s: %s" % (type(crash).__name__, str(crash).strip()[:300])
        finish("fail", "", "unknown", "the sample ran to its end", detail, EXIT_FAIL)
