"""The library samples in content/samples, run for real in subprocesses on the CPU.

Every run the module needs is started once, concurrently, by the `runs` fixture (TensorFlow
alone takes seconds to import), and the tests then read the results.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probes.catalog import LIBRARIES, SAMPLES_DIR

pytestmark = pytest.mark.frameworks

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
CAFFE_DIR = SAMPLES_DIR / "caffe"
TRAIN_SCRIPT = CAFFE_DIR / "train_lenet.py"
RUN_TIMEOUT_S = 400

SAMPLE_OF_LIBRARY = {spec.id: spec.sample for spec in LIBRARIES if spec.sample}
VERDICT_KEYS = {"verdict", "sample", "library", "version", "device", "checked", "detail"}
PARAMETER_LAYERS = {
    "conv1": ("Convolution", [(20, 1, 5, 5), (20,)]),
    "conv2": ("Convolution", [(50, 20, 5, 5), (50,)]),
    "ip1": ("InnerProduct", [(500, 800), (500,)]),
    "ip2": ("InnerProduct", [(10, 500), (10,)]),
}


@dataclass
class Run:
    """One finished subprocess."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def verdict(self) -> dict[str, Any]:
        """The JSON object on the last non-empty stdout line."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no output from {self.argv}; stderr:\n{self.stderr}"
        record = json.loads(lines[-1])
        assert isinstance(record, dict)
        return record

    def explain(self) -> str:
        """Everything printed, for assertion messages."""
        return (
            f"{self.argv} -> {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def run(argv: list[str], cwd: Path) -> Run:
    """Run a command to the end, capturing its output."""
    started = time.perf_counter()
    completed = subprocess.run(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=RUN_TIMEOUT_S,
    )
    return Run(
        argv,
        completed.returncode,
        completed.stdout,
        completed.stderr,
        time.perf_counter() - started,
    )


def sample(library: str, *args: str, python_flags: tuple[str, ...] = ()) -> list[str]:
    """argv running the sample of `library` with the test interpreter."""
    return [PYTHON, *python_flags, str(SAMPLES_DIR / SAMPLE_OF_LIBRARY[library]), *args]


# --- PNG helpers for image-argument tests (the bundled PNGs are plain 8-bit grayscale) --------


def read_gray_png(path: Path) -> list[list[int]]:
    """Decode an 8-bit grayscale, non-interlaced PNG whose rows use filter 0 (ours do)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width, height = 8, b"", 0, 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 0)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    rows = []
    for row in range(height):
        start = row * (width + 1)
        assert raw[start] == 0, "row filter other than None"
        rows.append(list(raw[start + 1 : start + 1 + width]))
    return rows


def write_gray_png(path: Path, rows: list[list[int]]) -> None:
    """Encode rows of 0..255 values as an 8-bit grayscale PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", len(rows[0]), len(rows), 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def enlarged(rows: list[list[int]], factor: int) -> list[list[int]]:
    """Nearest-neighbour enlargement."""
    return [[value for value in row for _ in range(factor)] for row in rows for _ in range(factor)]


# --- protobuf wire-format reader, independent of the writer in train_lenet.py -----------------


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """Decode a varint at `position`; return (value, next position)."""
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def read_fields(data: bytes) -> dict[int, list[int | bytes]]:
    """Field number -> values of one message (varints as int, length-delimited as bytes)."""
    fields: dict[int, list[int | bytes]] = {}
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(data, position)
            fields.setdefault(number, []).append(value)
        elif wire_type == 2:
            length, position = read_varint(data, position)
            fields.setdefault(number, []).append(data[position : position + length])
            position += length
        elif wire_type == 5:
            fields.setdefault(number, []).append(data[position : position + 4])
            position += 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
    assert position == len(data)
    return fields


def as_bytes(value: int | bytes) -> bytes:
    """A length-delimited field value."""
    assert isinstance(value, bytes)
    return value


def decode_caffemodel(
    path: Path,
) -> tuple[str, dict[str, tuple[str, list[tuple[tuple[int, ...], list[float]]]]]]:
    """NetParameter -> (net name, {layer name: (type, [(shape, data)])})."""
    net = read_fields(path.read_bytes())
    layers = {}
    for layer_bytes in net.get(100, []):
        layer = read_fields(as_bytes(layer_bytes))
        blobs = []
        for blob_bytes in layer.get(7, []):
            blob = read_fields(as_bytes(blob_bytes))
            shape_fields = read_fields(as_bytes(blob[7][0]))
            packed = as_bytes(shape_fields[1][0])
            dims, position = [], 0
            while position < len(packed):
                dim, position = read_varint(packed, position)
                dims.append(dim)
            data = as_bytes(blob[5][0])
            floats = list(struct.unpack(f"<{len(data) // 4}f", data))
            blobs.append((tuple(dims), floats))
        name = as_bytes(layer[1][0]).decode()
        layers[name] = (as_bytes(layer[2][0]).decode(), blobs)
    return as_bytes(net[1][0]).decode(), layers


# --- the runs, all started together ------------------------------------------------------------


CV2_LOAD = """
import json, sys, cv2
net = cv2.dnn.readNetFromCaffe(sys.argv[1], sys.argv[2])
print(json.dumps({
    "layers": list(net.getLayerNames()),
    "sums": {name: float(net.getParam(name, 0).sum()) for name in ("conv1", "conv2", "ip1", "ip2")},
}))
"""

# Recompute the held-out accuracy of the shipped model through OpenCV, using the training
# script's own data preparation and split.
HELD_OUT_ACCURACY = """
import importlib.util, json, sys
import cv2
from sklearn.model_selection import train_test_split
spec = importlib.util.spec_from_file_location("train_lenet", sys.argv[1])
train_lenet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_lenet)
record = json.load(open(sys.argv[4]))
images, labels = train_lenet.digits_as_canvases()
_, test_images, _, test_labels = train_test_split(
    images, labels, test_size=train_lenet.HELD_OUT_FRACTION, random_state=record["seed"],
    stratify=labels)
net = cv2.dnn.readNetFromCaffe(sys.argv[2], sys.argv[3])
net.setInput(test_images[:, None, :, :].astype("float32"), "data")
predicted = net.forward("prob").argmax(axis=1)
print(json.dumps({"accuracy": float((predicted == test_labels).mean()), "n": len(test_labels)}))
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder that holds test images and training output."""
    folder = tmp_path_factory.mktemp("samples")
    digit_four = read_gray_png(CAFFE_DIR / "digit-4.png")
    write_gray_png(folder / "scan-digit-4.png", enlarged(digit_four, 4))
    write_gray_png(folder / "unlabelled.png", digit_four)
    # A correct image under a wrong name: the verdict must turn to fail.
    write_gray_png(folder / "digit-9.png", digit_four)
    (folder / "not-an-image.png").write_text("hello")
    return folder


@pytest.fixture(scope="module")
def runs(workdir: Path) -> Iterator[dict[str, Run]]:
    """Start every run the tests read, a few at a time, and wait for all of them."""
    plan: dict[str, list[str]] = {}
    for library in SAMPLE_OF_LIBRARY:
        plan[f"cpu:{library}"] = sample(library, "--device", "cpu")
        plan[f"cuda:{library}"] = sample(library, "--device", "cuda")
        plan[f"missing:{library}"] = sample(library, python_flags=("-S",))
    plan["sklearn-ascii"] = sample("sklearn", "--ascii")
    plan["theano-python"] = sample("theano", "--engine", "python")
    plan["pytensor-python"] = sample("pytensor", "--engine", "python")
    plan["caffe-bad-device"] = sample("caffe", "--device", "tpu")
    plan["jax-tpu"] = sample("jax", "--device", "tpu")
    for name in ("scan-digit-4.png", "unlabelled.png", "digit-9.png", "not-an-image.png"):
        plan[f"caffe-image:{name}"] = sample("caffe", str(workdir / name), "--device", "cpu")
    plan["train-a"] = [PYTHON, str(TRAIN_SCRIPT), "--epochs", "1", "--out", str(workdir / "a")]
    plan["train-b"] = [
        PYTHON,
        str(TRAIN_SCRIPT),
        "--epochs",
        "1",
        "--out",
        str(workdir / "b"),
        "--no-images",
    ]
    plan["held-out"] = [
        PYTHON,
        "-c",
        HELD_OUT_ACCURACY,
        str(TRAIN_SCRIPT),
        str(CAFFE_DIR / "lenet.prototxt"),
        str(CAFFE_DIR / "lenet.caffemodel"),
        str(CAFFE_DIR / "lenet-training.json"),
    ]
    plan["cv2-load-shipped"] = [
        PYTHON,
        "-c",
        CV2_LOAD,
        str(CAFFE_DIR / "lenet.prototxt"),
        str(CAFFE_DIR / "lenet.caffemodel"),
    ]
    # The slow ones first, so that they overlap with the many short ones.
    order = sorted(
        plan, key=lambda key: not key.startswith(("cpu:tensorflow", "cuda:tensorflow", "train"))
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(run, plan[key], workdir) for key in order}
        results = {key: future.result() for key, future in futures.items()}
    yield results


# --- every sample -------------------------------------------------------------------------------


@pytest.mark.parametrize("library", sorted(SAMPLE_OF_LIBRARY))
def test_sample_passes_on_the_cpu(runs: dict[str, Run], library: str) -> None:
    """Each sample runs, checks its own result, passes, and reports in the agreed JSON line."""
    result = runs[f"cpu:{library}"]
    assert result.returncode == 0, result.explain()
    verdict = result.verdict
    assert verdict.keys() >= VERDICT_KEYS
    assert verdict["verdict"] == "pass"
    assert verdict["sample"] == Path(SAMPLE_OF_LIBRARY[library]).stem
    assert verdict["library"] == library
    assert verdict["device"] == "cpu"
    assert verdict["version"] and verdict["checked"] and verdict["detail"]
    assert "library:" in result.stdout and "device:" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("library", sorted(SAMPLE_OF_LIBRARY))
def test_missing_cuda_device_fails_clearly(runs: dict[str, Run], library: str) -> None:
    """No GPU here: --device cuda exits 2 with one line naming what exists, and a fail verdict."""
    result = runs[f"cuda:{library}"]
    assert result.returncode == 2, result.explain()
    assert result.verdict["verdict"] == "fail"
    assert result.verdict["device"] == "cuda:0"
    explanation = [line for line in result.stderr.splitlines() if "available: cpu" in line]
    assert len(explanation) == 1, result.explain()
    assert "cuda:0" in explanation[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("library", sorted(SAMPLE_OF_LIBRARY))
def test_missing_library_is_one_line_and_exit_3(runs: dict[str, Run], library: str) -> None:
    """Without site-packages (python -S) the library is absent: a sentence, not a traceback."""
    result = runs[f"missing:{library}"]
    assert result.returncode == 3, result.explain()
    assert result.verdict["verdict"] == "fail"
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.explain()
    assert "install" in result.stderr.lower() or "needed" in result.stderr.lower()


def test_bad_device_name_is_a_usage_error(runs: dict[str, Run]) -> None:
    """An unknown device name is refused by the command line, still with a JSON verdict."""
    result = runs["caffe-bad-device"]
    assert result.returncode == 2
    assert result.verdict["verdict"] == "fail"
    assert "tpu" in result.stderr and "Traceback" not in result.stderr


# --- per sample ---------------------------------------------------------------------------------


def test_sklearn_predicts_the_last_digit_and_draws_it(runs: dict[str, Run]) -> None:
    """The held-out last image (an 8) is predicted, and drawn with blocks or plain ASCII."""
    blocks, plain = runs["cpu:sklearn"], runs["sklearn-ascii"]
    assert "predicted 8, true label 8" in blocks.stdout
    assert "held-out accuracy" in blocks.stdout
    assert "█" in blocks.stdout
    assert plain.returncode == 0, plain.explain()
    drawing = plain.stdout.split("last image (never trained on):")[1].split("predicted")[0]
    assert drawing.strip() and drawing.isascii()
    assert "@" in drawing


def test_theano_runs_and_says_which_engine(runs: dict[str, Run]) -> None:
    """Theano runs in C when its backend compiles, else says so and runs pure Python."""
    result = runs["cpu:theano"]
    engine = result.verdict["engine"]
    assert engine in ("c", "python")
    if engine == "python":
        assert "C backend does not compile here" in result.stdout
        assert "cxx=" in result.stdout
    forced = runs["theano-python"]
    assert forced.returncode == 0, forced.explain()
    assert forced.verdict["engine"] == "python"
    assert "f(1.5, 2.5) = 3.75" in forced.stdout


def test_pytensor_engines(runs: dict[str, Run]) -> None:
    """PyTensor reports the linker it used; the pure-Python linker can be forced."""
    assert runs["cpu:pytensor"].verdict["engine"] in ("numba", "c", "python", "jax", "pytorch")
    forced = runs["pytensor-python"]
    assert forced.returncode == 0, forced.explain()
    assert forced.verdict["engine"] == "python"


def test_torch_sums_the_rows(runs: dict[str, Run]) -> None:
    """The sum of the rows [1,2,3] and [4,5,6] is printed and checked."""
    result = runs["cpu:torch"]
    assert "[5.0, 7.0, 9.0]" in result.verdict["detail"]
    assert "tensor([5., 7., 9.])" in result.stdout


def test_tensorflow_adds_in_a_session_and_eagerly(runs: dict[str, Run]) -> None:
    """2 + 3 in a v1 session graph and eagerly, both placed on the CPU."""
    result = runs["cpu:tensorflow"]
    assert "tf.compat.v1.Session" in result.stdout
    assert result.verdict["detail"] == "graph: 5 on device:CPU:0; eager: 5 on device:CPU:0"


def test_jax_sums_the_rows_with_a_jit_compiled_function(runs: dict[str, Run]) -> None:
    """The jit-compiled row sum gives [5, 7, 9] on the CPU; a TPU it does not have is refused."""
    result = runs["cpu:jax"]
    assert result.verdict["detail"] == "cpu [5.0, 7.0, 9.0]"
    assert "jit-compiled" in result.verdict["checked"]
    assert "cpu: [5. 7. 9.]" in result.stdout
    assert "devices JAX lists: cpu" in result.stdout
    tpu = runs["jax-tpu"]
    assert tpu.returncode == 2, tpu.explain()
    assert tpu.verdict["device"] == "tpu:0"
    assert "tpu:0 is unavailable" in tpu.stderr and "available: cpu" in tpu.stderr


def test_caffe_runs_through_opencv_without_pycaffe(runs: dict[str, Run]) -> None:
    """No pycaffe in the test interpreter: OpenCV's importer runs the model; digit-7 is a 7."""
    result = runs["cpu:caffe"]
    assert result.verdict["engine"] == "opencv-dnn"
    assert "The recognised digit is 7" in result.stdout
    assert "bundled digits: 10/10" in result.stdout


def test_caffe_with_an_image_argument(runs: dict[str, Run]) -> None:
    """A larger image is resized; labels come from names; wrong names and bad files fail."""
    scan = runs["caffe-image:scan-digit-4.png"]
    assert scan.returncode == 0, scan.explain()
    assert "(112x112)" in scan.stdout and "The recognised digit is 4" in scan.stdout
    assert "label 4" in scan.verdict["detail"]

    unlabelled = runs["caffe-image:unlabelled.png"]
    assert unlabelled.returncode == 0, unlabelled.explain()
    assert "unknown label" in unlabelled.verdict["detail"]

    misnamed = runs["caffe-image:digit-9.png"]
    assert misnamed.returncode == 1, misnamed.explain()
    assert misnamed.verdict["verdict"] == "fail"
    assert "recognised 4 (label 9" in misnamed.verdict["detail"]

    broken = runs["caffe-image:not-an-image.png"]
    assert broken.returncode == 1
    assert "cannot read an image" in broken.stderr and "Traceback" not in broken.stderr


# --- the Caffe model files ----------------------------------------------------------------------


def test_caffemodel_decodes_as_a_caffe_netparameter() -> None:
    """The shipped weights parse back from the wire format with the right layers and shapes."""
    net_name, layers = decode_caffemodel(CAFFE_DIR / "lenet.caffemodel")
    assert net_name == "LeNet"
    assert set(layers) == set(PARAMETER_LAYERS)
    for name, (layer_type, shapes) in PARAMETER_LAYERS.items():
        decoded_type, blobs = layers[name]
        assert decoded_type == layer_type
        assert [shape for shape, _ in blobs] == shapes
        for shape, data in blobs:
            assert len(data) == math.prod(shape)
            assert all(math.isfinite(value) for value in data)
        assert any(value != 0.0 for value in blobs[0][1]), "untrained (all-zero) weights"


def test_opencv_reads_the_same_weights(runs: dict[str, Run]) -> None:
    """OpenCV's Caffe importer loads the model, names its layers, and sees our numbers."""
    result = runs["cv2-load-shipped"]
    assert result.returncode == 0, result.explain()
    loaded = result.verdict
    assert loaded["layers"] == ["conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "prob"]
    _, layers = decode_caffemodel(CAFFE_DIR / "lenet.caffemodel")
    for name, total in loaded["sums"].items():
        assert total == pytest.approx(math.fsum(layers[name][1][0][1]), rel=1e-4, abs=1e-3)


def test_recorded_accuracy_is_what_the_shipped_model_scores(runs: dict[str, Run]) -> None:
    """lenet-training.json's held-out accuracy is reproduced by the .caffemodel via OpenCV."""
    record = json.loads((CAFFE_DIR / "lenet-training.json").read_text())
    assert record["held_out_accuracy"] >= 0.95
    assert {"seed", "epochs", "date", "held_out_images"} <= record.keys()
    result = runs["held-out"]
    assert result.returncode == 0, result.explain()
    measured = result.verdict
    assert measured["n"] == record["held_out_images"]
    # One borderline image may tip between torch and OpenCV arithmetic, not more.
    assert abs(measured["accuracy"] - record["held_out_accuracy"]) <= 1.5 / measured["n"]
    assert sorted(record["test_images"]) == [f"digit-{n}.png" for n in range(10)]
    for name in record["test_images"]:
        assert (CAFFE_DIR / name).is_file()


def test_training_is_reproducible_and_its_output_loads(runs: dict[str, Run], workdir: Path) -> None:
    """Two one-epoch trainings with the same seed give the same bytes, and OpenCV loads them."""
    for key in ("train-a", "train-b"):
        assert runs[key].returncode == 0, runs[key].explain()
    model_a = (workdir / "a" / "lenet.caffemodel").read_bytes()
    model_b = (workdir / "b" / "lenet.caffemodel").read_bytes()
    assert model_a == model_b
    assert model_a != (CAFFE_DIR / "lenet.caffemodel").read_bytes()
    record = json.loads((workdir / "a" / "lenet-training.json").read_text())
    assert record["epochs"] == 1 and record["seed"] == 0
    assert sorted(p.name for p in (workdir / "a").glob("digit-*.png")) == record["test_images"]
    assert not list((workdir / "b").glob("digit-*.png"))
    shutil.copy(CAFFE_DIR / "lenet.prototxt", workdir / "a")
    loaded = run(
        [
            PYTHON,
            "-c",
            CV2_LOAD,
            str(workdir / "a" / "lenet.prototxt"),
            str(workdir / "a" / "lenet.caffemodel"),
        ],
        workdir,
    )
    assert loaded.returncode == 0, loaded.explain()
    assert "ip2" in loaded.verdict["layers"]


def test_samples_are_standalone() -> None:
    """Samples import no mltui code and keep to Python 3.8 syntax (no `match`, no `X | Y`)."""
    for path in sorted(SAMPLES_DIR.glob("*.py")):
        text = path.read_text()
        assert "import probes" not in text and "import tui" not in text and "from tui" not in text
        assert "from probes" not in text
        ast.parse(text, filename=str(path), feature_version=(3, 8))
    assert os.access(TRAIN_SCRIPT, os.R_OK)


@pytest.mark.parametrize(
    "sample", sorted(p.name for p in SAMPLES_DIR.glob("*.py") if p.name != "sample_harness.py")
)
def test_a_sample_finds_its_harness_under_safe_path_and_from_any_folder(
    sample: str, tmp_path: Path
) -> None:
    """With python -P (PYTHONSAFEPATH) the script's folder is not on sys.path; the sample still
    imports its harness (it puts its own folder there), from any working folder. Copied alone,
    it ends with one JSON verdict line and exit 1, not a traceback."""
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    probe = "--help"  # parses the command line only: the harness is imported, no library runs
    ran = subprocess.run(
        [sys.executable, "-P", str(SAMPLES_DIR / sample), probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0 and "--device" in ran.stdout, ran.stderr
    alone = tmp_path / sample
    shutil.copy(SAMPLES_DIR / sample, alone)
    ran = subprocess.run(
        [sys.executable, str(alone)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    last = json.loads(ran.stdout.strip().splitlines()[-1])
    assert last["verdict"] == "fail" and "sample_harness.py" in last["detail"]


def _harness() -> Any:
    """content/samples/sample_harness.py as a module (it is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "sample_harness", SAMPLES_DIR / "sample_harness.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("typed", "device"),
    [("cuda:007", "cuda:7"), (" CUDA:07 ", "cuda:7"), ("cuda", "cuda:0"), ("tpu:0010", "tpu:10")],
)
def test_a_device_index_is_normalised_to_the_name_libraries_list(typed: str, device: str) -> None:
    """Samples compare the device with the names the library lists (cuda:7): cuda:007 was
    'unavailable' on a machine that has cuda:7."""
    harness = _harness()
    harness.identify("s", "l", devices=("cuda:N", "tpu:N"))
    assert harness.device_spec(typed) == device


@pytest.mark.parametrize(
    "typed", ["cuda:", "cuda:-1", "cuda:1e3", "cuda:\u0663", "cuda:99999999999999999999", "", "tpu"]
)
def test_a_device_that_names_no_index_a_device_can_have_is_refused(typed: str) -> None:
    import argparse

    harness = _harness()
    harness.identify("s", "l", devices=("cuda:N",))
    with pytest.raises(argparse.ArgumentTypeError):
        harness.device_spec(typed)


def test_the_verdict_is_read_after_output_that_left_its_line_open(tmp_path: Path) -> None:
    """A lesson (or a library's C code) that prints without a final newline: the verdict line
    still stands alone, so mltui's runner reads it."""
    from probes.runner import parse_verdict

    script = tmp_path / "open_line.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(SAMPLES_DIR)!r})\n"
        "import sample_harness as harness\n"
        "harness.identify('open_line', 'none')\n"
        "print('progress 50%', end='')\n"
        "sys.stdout.flush()\n"
        "os.write(1, b'from C, no newline')\n"
        "harness.finish('pass', '1', 'cpu', 'x', 'y', harness.EXIT_PASS)\n",
        encoding="utf-8",
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    last = [line for line in ran.stdout.splitlines() if line.strip()][-1]
    verdict = parse_verdict(last)
    assert verdict is not None and verdict["verdict"] == "pass", ran.stdout
