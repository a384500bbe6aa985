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

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "sklearn_digits"
LIBRARY = "sklearn"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N",))
MIN_ACCURACY = 0.95

BLOCK_SHADES = " ░▒▓█"
ASCII_SHADES = " .:-=+*#%@"


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
    """Run the sample; exits through harness.finish()."""
    parser = harness.sample_parser("SVC on scikit-learn's bundled digits.")
    parser.add_argument("--ascii", action="store_true", help="draw the digit in plain ASCII")
    args = parser.parse_args(argv)

    try:
        import sklearn
        from sklearn import datasets
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        print("scikit-learn is not installed in %s (%s)" % (sys.executable, error), file=sys.stderr)
        harness.finish(
            "fail",
            "",
            args.device,
            "import sklearn",
            "scikit-learn not installed",
            harness.EXIT_NO_LIBRARY,
        )

    version = sklearn.__version__
    print("library: scikit-learn %s" % version)
    if args.device.startswith("cuda"):
        message = "scikit-learn has no GPU support, so %s cannot be used; available: cpu" % (
            args.device
        )
        print(message, file=sys.stderr)
        harness.finish("fail", version, args.device, "device", message, harness.EXIT_NO_DEVICE)
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
    harness.finish(
        "pass" if passed else "fail",
        version,
        "cpu",
        "SVC predicts the held-out last digit and scores >= %.2f on a held-out split"
        % MIN_ACCURACY,
        detail,
        harness.EXIT_PASS if passed else harness.EXIT_FAIL,
    )


if __name__ == "__main__":
    harness.run(main)
