"""scikit-learn: an SVC reads digits."""


def lesson(images, labels, unseen):
    """Learn digits; read an unseen one."""
    from sklearn import svm

    model = svm.SVC(gamma=0.001, C=100.0)
    model.fit(images, labels)
    return model, model.predict(unseen)[0]


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# Trains an SVC on the 8x8 digit images bundled with scikit-learn, keeping the very last image
# out of training. Prints the prediction for that image next to its true label, the accuracy on
# a held-out quarter of the data, and draws the image in the terminal with block characters
# (`--ascii` for plain ASCII).
#
# scikit-learn computes on the CPU only; `--device cuda` is refused with exit status 2.
#
# Usage: python sklearn_digits.py [--device auto|cpu|cuda[:N]] [--ascii]
# Last stdout line: a JSON verdict. Exit status 0 pass, 1 fail, 2 device missing, 3 no library.

import argparse
import json
import re
import sys
import time
import traceback

SAMPLE = "sklearn_digits"
LIBRARY = "sklearn"
EXIT_PASS, EXIT_FAIL, EXIT_NO_DEVICE, EXIT_NO_LIBRARY = 0, 1, 2, 3
MIN_ACCURACY = 0.95

BLOCK_SHADES = " ░▒▓█"
ASCII_SHADES = " .:-=+*#%@"


def finish(verdict, version, device, checked, detail, code, engine=None):
    """Print the verdict as the last stdout line (JSON) and exit with `code`."""
    record = {
        "verdict": verdict,
        "sample": SAMPLE,
        "library": LIBRARY,
        "version": version,
        "device": device,
    }
    if engine:
        record["engine"] = engine
    record["checked"] = checked
    record["detail"] = detail
    sys.stdout.flush()
    print(json.dumps(record), flush=True)
    sys.exit(code)


def device_spec(text):
    """argparse type: auto, cpu, cuda or cuda:N, normalised (cuda -> cuda:0)."""
    value = text.strip().lower()
    if value == "cuda":
        return "cuda:0"
    if value in ("auto", "cpu") or re.match(r"^cuda:\d+$", value):
        return value
    raise argparse.ArgumentTypeError("expected auto, cpu, cuda or cuda:N, not %r" % text)


class SampleArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors still end with a JSON verdict line."""

    def error(self, message):
        """Report a bad command line in one line and a fail verdict."""
        print("%s: error: %s" % (self.prog, message), file=sys.stderr)
        finish("fail", "", "none", "command line", message, EXIT_NO_DEVICE)


def draw_digit(image, shades):
    """Return the 8x8 image (values 0..16) as text, two characters per pixel."""
    top = len(shades) - 1
    lines = []
    for row in image:
        cells = []
        for value in row:
            level = round(float(value) / 16.0 * top)
            cells.append(shades[max(0, min(top, level))] * 2)
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def main(argv=None):
    """Run the sample; exits through finish()."""
    parser = SampleArgumentParser(description="SVC on scikit-learn's bundled digits.")
    parser.add_argument("--device", type=device_spec, default="auto", help="auto, cpu, cuda[:N]")
    parser.add_argument("--ascii", action="store_true", help="draw the digit in plain ASCII")
    args = parser.parse_args(argv)

    try:
        import sklearn
        from sklearn import datasets
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        print("scikit-learn is not installed in %s (%s)" % (sys.executable, error), file=sys.stderr)
        finish(
            "fail", "", args.device, "import sklearn", "scikit-learn not installed", EXIT_NO_LIBRARY
        )

    version = sklearn.__version__
    print("library: scikit-learn %s" % version)
    if args.device.startswith("cuda"):
        message = "scikit-learn has no GPU support, so %s cannot be used; available: cpu" % (
            args.device
        )
        print(message, file=sys.stderr)
        finish("fail", version, args.device, "device", message, EXIT_NO_DEVICE)
    print("device: cpu (scikit-learn computes on the CPU only; it has no GPU support)")

    digits = datasets.load_digits()
    print("data: %d images of 8x8 pixels, labels 0-9" % len(digits.images))

    # The last image never takes part in training, like the guide's example.
    known_data, known_labels = digits.data[:-1], digits.target[:-1]
    last_image, last_label = digits.images[-1], int(digits.target[-1])
    train_data, test_data, train_labels, test_labels = train_test_split(
        known_data, known_labels, test_size=0.25, random_state=0, stratify=known_labels
    )

    started = time.perf_counter()
    classifier, guess = lesson(train_data, train_labels, digits.data[-1:])
    accuracy = float(classifier.score(test_data, test_labels))
    predicted = int(guess)
    seconds = time.perf_counter() - started

    print("model: %r, trained on %d images" % (classifier, len(train_labels)))
    print("held-out accuracy: %.4f on %d images" % (accuracy, len(test_labels)))
    print("last image (never trained on):")
    print(draw_digit(last_image, ASCII_SHADES if args.ascii else BLOCK_SHADES))
    print("predicted %d, true label %d (%.2f s)" % (predicted, last_label, seconds))

    passed = predicted == last_label and accuracy >= MIN_ACCURACY
    detail = "last image: predicted %d, truth %d; held-out accuracy %.4f (n=%d)" % (
        predicted,
        last_label,
        accuracy,
        len(test_labels),
    )
    finish(
        "pass" if passed else "fail",
        version,
        "cpu",
        "SVC predicts the held-out last digit and scores >= %.2f on a held-out split"
        % MIN_ACCURACY,
        detail,
        EXIT_PASS if passed else EXIT_FAIL,
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as crash:  # an unforeseen failure still ends with a verdict line
        traceback.print_exc()
        detail = "%s: %s" % (type(crash).__name__, str(crash).strip()[:300])
        finish("fail", "", "unknown", "the sample ran to its end", detail, EXIT_FAIL)
