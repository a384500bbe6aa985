"""The libraries mltui knows: their ids, names, distributions, probe scripts and samples.

One table that the probes, the runner, the knowledge pages and the dashboard all key on.
The libraries the guide has a page for are `GUIDE_LIBRARIES`: the article's five, and JAX.
PyTensor (Theano's successor) and OpenCV's DNN module (how a Caffe model runs without pycaffe)
are probed beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROBE_SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "content" / "samples"


@dataclass(frozen=True)
class LibrarySpec:
    """One library: how it is named, installed, imported, probed and demonstrated."""

    id: str
    display_name: str
    import_name: str
    distributions: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    in_guide: bool = True
    #: The sample that demonstrates it (file name in content/samples), if it has one of its own.
    sample: str | None = None

    @property
    def probe_script(self) -> Path:
        """The standalone probe script run in the target interpreter (it takes the id as argv)."""
        return PROBE_SCRIPTS_DIR / "probe_library.py"


LIBRARIES: tuple[LibrarySpec, ...] = (
    LibrarySpec(
        "sklearn",
        "scikit-learn",
        "sklearn",
        ("scikit-learn",),
        aliases=("scikit-learn", "scikit", "sci-kit", "scikitlearn"),
        sample="sklearn_digits.py",
    ),
    LibrarySpec(
        "theano",
        "Theano",
        "theano",
        ("Theano", "theano"),
        sample="theano_multiply.py",
    ),
    LibrarySpec(
        "pytensor",
        "PyTensor",
        "pytensor",
        ("pytensor",),
        in_guide=False,
        sample="pytensor_multiply.py",
    ),
    LibrarySpec(
        "caffe",
        "Caffe",
        "caffe",
        ("caffe",),
        aliases=("pycaffe",),
        sample="caffe_lenet.py",
    ),
    LibrarySpec(
        "cv2",
        "OpenCV DNN",
        "cv2",
        (
            "opencv-python-headless",
            "opencv-python",
            "opencv-contrib-python",
            "opencv-contrib-python-headless",
        ),
        aliases=("opencv", "opencv-dnn"),
        in_guide=False,
    ),
    LibrarySpec(
        "torch",
        "PyTorch",
        "torch",
        ("torch",),
        aliases=("pytorch",),
        sample="torch_tensors.py",
    ),
    LibrarySpec(
        "tensorflow",
        "TensorFlow",
        "tensorflow",
        ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-macos"),
        aliases=("tf",),
        sample="tensorflow_add.py",
    ),
    LibrarySpec(
        "jax",
        "JAX",
        "jax",
        ("jax",),
        sample="jax_rowsum.py",
    ),
)

_BY_NAME: dict[str, LibrarySpec] = {}
for _spec in LIBRARIES:
    for _name in (_spec.id, *_spec.aliases, _spec.display_name):
        _BY_NAME[_name.lower()] = _spec

GUIDE_LIBRARIES: tuple[LibrarySpec, ...] = tuple(s for s in LIBRARIES if s.in_guide)
LIBRARY_IDS: tuple[str, ...] = tuple(s.id for s in LIBRARIES)


class UnknownLibraryError(ValueError):
    """A library name mltui does not know; str() lists the known ones."""


def get_library(name: str) -> LibrarySpec:
    """Look a library up by id, alias or display name, case-insensitively."""
    spec = _BY_NAME.get(name.strip().lower())
    if spec is None:
        known = ", ".join(LIBRARY_IDS)
        raise UnknownLibraryError(f"unknown library {name!r}; known: {known}")
    return spec


def parse_library_list(text: str) -> list[LibrarySpec]:
    """Parse a comma-separated `--only` value into specs, in the order given, without repeats."""
    specs: list[LibrarySpec] = []
    for part in text.split(","):
        if part.strip():
            spec = get_library(part)
            if spec not in specs:
                specs.append(spec)
    if not specs:
        raise UnknownLibraryError("no library named; known: " + ", ".join(LIBRARY_IDS))
    return specs
