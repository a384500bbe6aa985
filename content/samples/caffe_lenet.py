"""Caffe: LeNet reads a written digit."""


def lesson(net, ink, caffe=None):
    """Digit odds from a loaded LeNet."""
    if caffe is not None:  # a pycaffe Net
        net.blobs["data"].data[...] = ink
        return net.forward()["prob"][0]
    net.setInput(ink, "data")  # OpenCV DNN
    return net.forward("prob")[0]


# ---- Below: the harness every mltui sample has (command line, devices, verdict). -------------
# The network is described by caffe/lenet.prototxt and its weights are caffe/lenet.caffemodel,
# trained by caffe/train_lenet.py on scikit-learn's digits (accuracy in lenet-training.json).
#
# Engines: real Caffe (pycaffe) when this interpreter can import `caffe`; otherwise OpenCV's
# DNN module, which reads Caffe models itself (cv2.dnn.readNetFromCaffe; opencv-python-headless).
# `--engine caffe|opencv` forces one.
#
# Preprocessing, the same as in training: the image is read as 8-bit grayscale, resized to
# 28x28 if it is not already, and inverted and scaled with 1 - pixel / 255, so that dark ink on
# light paper becomes values near 1 on a background of 0.
#
# Without an image argument it recognises caffe/digit-7.png; with one, that file (a true label
# is taken from a name like digit-7.png). Either way it also runs every bundled digit-N.png.
# The verdict needs the digit right when its label is known, and the bundled images scored at
# least 80%.
#
# Usage: python caffe_lenet.py [IMAGE] [--device auto|cpu|cuda[:N]] [--engine auto|caffe|opencv]
# Last stdout line: a JSON verdict. Exit status 0 pass, 1 fail, 2 device missing, 3 no library.

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its folder, even under -P
try:
    import sample_harness as harness
except ImportError:  # copied alone: one verdict line and exit 1, not a traceback
    sys.exit(print(json.dumps({"verdict": "fail", "detail": "no sample_harness.py by it"})) or 1)

SAMPLE = "caffe_lenet"
LIBRARY = "caffe"
harness.identify(SAMPLE, LIBRARY, devices=("cuda:N",))

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "caffe")
PROTOTXT = os.path.join(MODEL_DIR, "lenet.prototxt")
WEIGHTS = os.path.join(MODEL_DIR, "lenet.caffemodel")
TRAINING_RECORD = os.path.join(MODEL_DIR, "lenet-training.json")
DEFAULT_IMAGE = os.path.join(MODEL_DIR, "digit-7.png")
MIN_BUNDLED_ACCURACY = 0.8
SIDE = 28
SHADES = " ░▒▓█"


def label_from_name(path):
    """The true digit when the file is named like digit-7.png, else None."""
    match = re.search(r"digit-(\d)(?!\d)", os.path.basename(path))
    return int(match.group(1)) if match else None


def visible_nvidia_gpus():
    """How many NVIDIA GPUs the driver lists (Linux), without creating a CUDA context."""
    try:
        count = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = min(count, len([d for d in visible.split(",") if d.strip() and d != "-1"]))
    return count


def device_failure(requested, why, available, version, engine):
    """Exit 2: the requested device is not there."""
    message = "%s is unavailable: %s; available: %s" % (requested, why, ", ".join(available))
    print(message, file=sys.stderr)
    harness.finish(
        "fail", version, requested, "device", message, harness.EXIT_NO_DEVICE, engine=engine
    )


# --- the two engines --------------------------------------------------------------------------


class PyCaffeNet:
    """LeNet run by real Caffe."""

    engine = "pycaffe"

    def __init__(self, caffe, device):
        self.caffe = caffe
        if device == "cpu":
            caffe.set_mode_cpu()
        else:
            caffe.set_device(int(device.split(":")[1]))
            caffe.set_mode_gpu()
        try:
            self.net = caffe.Net(PROTOTXT, caffe.TEST, weights=WEIGHTS)
        except TypeError:  # Caffe before 1.0 only knows the (model, weights, phase) form
            self.net = caffe.Net(PROTOTXT, WEIGHTS, caffe.TEST)

    def probabilities(self, batch):
        """Class probabilities for a 1 x 1 x 28 x 28 float32 array."""
        self.net.blobs["data"].reshape(*batch.shape)
        return lesson(self.net, batch, self.caffe).copy()


class OpenCVNet:
    """LeNet run by OpenCV's DNN module from the same Caffe files."""

    engine = "opencv-dnn"

    def __init__(self, cv2, device):
        self.net = cv2.dnn.readNetFromCaffe(PROTOTXT, WEIGHTS)
        if device == "cpu":
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        else:
            cv2.cuda.setDevice(int(device.split(":")[1]))
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)

    def probabilities(self, batch):
        """Class probabilities for a 1 x 1 x 28 x 28 float32 array."""
        return lesson(self.net, batch).copy()


def pycaffe_can_use_gpu(index):
    """Whether this Caffe build can select GPU `index`: a CPU-only Caffe aborts the process
    when asked, so ask in a child interpreter."""
    code = "import caffe; caffe.set_device(%d); caffe.set_mode_gpu()" % index
    try:
        child = subprocess.run(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return False
    return child.returncode == 0


def without_model_folder_on_path():
    """Drop this script's folder from sys.path: its caffe/ model folder would otherwise
    import as an empty namespace package called `caffe` and hide a missing pycaffe."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]


def open_engine(requested_engine, requested_device):
    """Import an engine, pick the device; returns (net, numpy, cv2 or None, version, device)."""
    without_model_folder_on_path()
    notes = []
    cv2 = None
    if importlib.util.find_spec("cv2") is not None:
        try:
            import cv2
        except ImportError as error:
            notes.append("cv2 does not import: %s" % error)
    caffe = None
    if requested_engine in ("auto", "caffe"):
        if importlib.util.find_spec("caffe") is None:
            notes.append("pycaffe is not installed")
        else:
            try:
                import caffe
            except ImportError as error:
                notes.append("pycaffe does not import: %s" % error)
            else:
                if not hasattr(caffe, "Net"):
                    notes.append("`caffe` at %s is not pycaffe" % list(caffe.__path__))
                    caffe = None
    if caffe is None and (requested_engine == "caffe" or cv2 is None):
        wanted = "pycaffe" if requested_engine == "caffe" else "pycaffe or OpenCV (cv2)"
        message = "%s is needed in %s (%s)" % (wanted, sys.executable, "; ".join(notes) or "-")
        print(message, file=sys.stderr)
        harness.finish(
            "fail", "", requested_device, "import caffe / cv2", message, harness.EXIT_NO_LIBRARY
        )
    for note in notes:
        if caffe is not None or note != "pycaffe is not installed":
            print("note: %s" % note)
    import numpy

    if caffe is not None:
        version = getattr(caffe, "__version__", "unknown")
        print("library: Caffe %s (pycaffe, %s)" % (version, os.path.dirname(caffe.__file__ or "")))
        gpus = visible_nvidia_gpus()
        available = ["cpu"] + ["cuda:%d" % i for i in range(gpus)]
        if requested_device == "auto":
            device = "cuda:0" if gpus and pycaffe_can_use_gpu(0) else "cpu"
        elif requested_device == "cpu":
            device = "cpu"
        else:
            index = int(requested_device.split(":")[1])
            if index >= gpus:
                device_failure(
                    requested_device,
                    "%d NVIDIA GPU(s) visible" % gpus,
                    available,
                    version,
                    PyCaffeNet.engine,
                )
            if not pycaffe_can_use_gpu(index):
                device_failure(
                    requested_device,
                    "this Caffe build cannot use the GPU (CPU-only?)",
                    ["cpu"],
                    version,
                    PyCaffeNet.engine,
                )
            device = requested_device
        return PyCaffeNet(caffe, device), numpy, cv2, version, device

    version = cv2.__version__
    print(
        "library: Caffe is not installed; running the Caffe model with OpenCV %s "
        "(cv2.dnn.readNetFromCaffe)" % version
    )
    cuda_module = getattr(cv2, "cuda", None)
    gpus = cuda_module.getCudaEnabledDeviceCount() if cuda_module is not None else 0
    available = ["cpu"] + ["cuda:%d" % i for i in range(gpus)]
    if requested_device == "auto":
        device = "cuda:0" if gpus else "cpu"
    elif requested_device == "cpu":
        device = "cpu"
    else:
        if int(requested_device.split(":")[1]) >= gpus:
            why = (
                "OpenCV sees %d CUDA device(s)" % gpus
                if gpus
                else "this OpenCV build has no CUDA support (cv2.cuda sees no device)"
            )
            device_failure(requested_device, why, available, version, OpenCVNet.engine)
        device = requested_device
    return OpenCVNet(cv2, device), numpy, cv2, version, device


# --- images -----------------------------------------------------------------------------------


def read_gray(path, numpy, cv2):
    """The image as a 2-D uint8 array, or None when it cannot be read."""
    if cv2 is not None:
        return cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    import caffe.io  # pycaffe without OpenCV: scikit-image does the reading

    try:
        image = caffe.io.load_image(path, color=False)
    except Exception:
        return None
    return numpy.round(image[:, :, 0] * 255.0).astype(numpy.uint8)


def network_input(gray, numpy, cv2):
    """28x28 grayscale, inverted and scaled to 0..1 (ink = 1), shaped 1 x 1 x 28 x 28."""
    if gray.shape != (SIDE, SIDE):
        if cv2 is not None:
            shrinking = gray.shape[0] > SIDE or gray.shape[1] > SIDE
            method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            gray = cv2.resize(gray, (SIDE, SIDE), interpolation=method)
        else:
            import caffe.io

            scaled = caffe.io.resize_image(gray[:, :, None] / 255.0, (SIDE, SIDE))
            gray = numpy.round(scaled[:, :, 0] * 255.0).astype(numpy.uint8)
    ink = 1.0 - gray.astype(numpy.float32) / 255.0
    return ink.reshape(1, 1, SIDE, SIDE)


def draw(ink):
    """The 28x28 input as text: 2x2 pixels per cell, two characters per cell."""
    top = len(SHADES) - 1
    lines = []
    for row in range(0, SIDE, 2):
        cells = []
        for column in range(0, SIDE, 2):
            value = float(ink[row : row + 2, column : column + 2].mean())
            cells.append(SHADES[max(0, min(top, round(value * top)))] * 2)
        lines.append("".join(cells).rstrip())
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def main(argv=None):
    """Run the sample; exits through harness.finish()."""
    parser = harness.sample_parser("Caffe LeNet: recognise a handwritten digit.")
    parser.add_argument("image", nargs="?", help="image of one digit (default: bundled digit-7)")
    parser.add_argument(
        "--engine",
        choices=("auto", "caffe", "opencv"),
        default="auto",
        help="caffe: pycaffe; opencv: cv2.dnn; auto: pycaffe if installed, else OpenCV",
    )
    args = parser.parse_args(argv)

    net, numpy, cv2, version, device = open_engine(args.engine, args.device)
    print("engine: %s" % net.engine)
    print("device: %s" % device)
    print("model: %s (lenet.prototxt + lenet.caffemodel)" % MODEL_DIR)
    if os.path.exists(TRAINING_RECORD):
        with open(TRAINING_RECORD) as record_file:
            record = json.load(record_file)
        print(
            "trained by train_lenet.py: %s epochs, seed %s, held-out accuracy %s on %s images"
            % (
                record.get("epochs"),
                record.get("seed"),
                record.get("held_out_accuracy"),
                record.get("held_out_images"),
            )
        )

    image_path = os.path.abspath(args.image) if args.image else DEFAULT_IMAGE
    gray = read_gray(image_path, numpy, cv2) if os.path.isfile(image_path) else None
    if gray is None:
        message = "cannot read an image from %s" % image_path
        print(message, file=sys.stderr)
        harness.finish(
            "fail", version, device, "read image", message, harness.EXIT_FAIL, engine=net.engine
        )
    started = time.perf_counter()
    batch = network_input(gray, numpy, cv2)
    probabilities = net.probabilities(batch)
    seconds = time.perf_counter() - started
    recognised = int(probabilities.argmax())
    truth = label_from_name(image_path)
    print("image: %s (%dx%d)" % (image_path, gray.shape[1], gray.shape[0]))
    print(draw(batch[0, 0]))
    print(
        "The recognised digit is %d (probability %.3f, %.1f ms)%s"
        % (
            recognised,
            float(probabilities[recognised]),
            seconds * 1000,
            "" if truth is None else "; true label %d" % truth,
        )
    )

    bundled = sorted(glob.glob(os.path.join(MODEL_DIR, "digit-*.png")))
    right = 0
    marks = []
    for path in bundled:
        probs = net.probabilities(network_input(read_gray(path, numpy, cv2), numpy, cv2))
        guess = int(probs.argmax())
        right += guess == label_from_name(path)
        marks.append("%d->%d" % (label_from_name(path), guess))
    score = right / len(bundled) if bundled else 0.0
    print("bundled digits: %d/%d right (%s)" % (right, len(bundled), " ".join(marks)))

    image_ok = truth is None or recognised == truth
    passed = image_ok and score >= MIN_BUNDLED_ACCURACY
    label_text = "unknown label" if truth is None else "label %d" % truth
    detail = "%s: recognised %d (%s, p=%.3f); bundled %d/%d" % (
        os.path.basename(image_path),
        recognised,
        label_text,
        float(probabilities[recognised]),
        right,
        len(bundled),
    )
    harness.finish(
        "pass" if passed else "fail",
        version,
        device,
        "LeNet recognises the image's digit (when its name gives the label) and >= %d%% of "
        "the bundled digits" % round(MIN_BUNDLED_ACCURACY * 100),
        detail,
        harness.EXIT_PASS if passed else harness.EXIT_FAIL,
        engine=net.engine,
    )


if __name__ == "__main__":
    harness.run(main)
