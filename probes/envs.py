"""Find the Python environments on this machine and which of the guide's libraries each has.

Looked for: the interpreter running mltui, an active virtualenv (VIRTUAL_ENV) or conda env
(CONDA_PREFIX), conda's own list (~/.conda/environments.txt), the usual conda/mamba install
folders and their envs/, a `.venv` (or `venv`) in the working directory, virtualenvwrapper's
~/.virtualenvs, pyenv versions, and the system Python.

Everything is read from disk (pyvenv.cfg, conda-meta, the lib/pythonX.Y folder, and the
*.dist-info / *.egg-info metadata in site-packages); nothing is run or imported, so discovery
takes milliseconds and cannot hang on a broken environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from probes import catalog
from probes.files import read_text

EnvKind = Literal["current", "active-venv", "active-conda", "conda", "venv", "pyenv", "system"]

#: Conda installs looked for under the home folder.
HOME_CONDA_DIRS = (
    "miniconda3", "miniconda", "anaconda3", "anaconda", "miniforge3", "mambaforge",
    "micromamba", ".conda", ".local/share/mamba", "opt/miniconda3", "opt/anaconda3",
)  # fmt: skip
#: Conda installs and system Pythons looked for outside the home folder.
SYSTEM_DIRS = (
    "/opt/conda", "/opt/miniconda3", "/opt/anaconda3", "/opt/miniforge3", "/opt/mambaforge",
    "/usr/local/miniconda3", "/usr/local/anaconda3", "/usr/local/conda",
    "/opt/homebrew/Caskroom/miniconda/base", "/opt/homebrew/Caskroom/miniforge/base",
)  # fmt: skip
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")

#: Conda package names that carry a catalog library without pip metadata in site-packages.
CONDA_PACKAGES = {
    "pytorch": "torch", "pytorch-cpu": "torch", "pytorch-gpu": "torch",
    "py-opencv": "cv2", "opencv": "cv2", "caffe": "caffe", "caffe-gpu": "caffe",
    "tensorflow": "tensorflow", "tensorflow-base": "tensorflow", "tensorflow-cpu": "tensorflow",
    "tensorflow-gpu": "tensorflow", "scikit-learn": "sklearn", "theano": "theano", "jax": "jax",
    "pytensor": "pytensor",
}  # fmt: skip
#: Shown for a library found as a package folder without any metadata (a source build).
UNKNOWN_VERSION = "?"

_PYTHON_DIR = re.compile(r"^python(\d+)\.(\d+)t?$")
_CONDA_PYTHON = re.compile(r"^python-(\d+\.\d+(?:\.\d+)?)-")


@dataclass
class PythonEnvironment:
    """One Python environment: where it is, what it is, and which catalog libraries it has."""

    python: str
    kind: EnvKind
    name: str
    version: str | None
    prefix: str
    #: Catalog id -> installed version (None: not installed; "?": present, version unknown).
    libraries: dict[str, str | None] = field(default_factory=dict)

    @property
    def installed(self) -> list[str]:
        """Catalog ids of the libraries it has."""
        return [lib for lib, version in self.libraries.items() if version is not None]


# --------------------------------------------------------------------------- metadata on disk


def normalise_name(name: str) -> str:
    """A distribution name in PEP 503 form: lower case, runs of -_. as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted_distributions() -> dict[str, str]:
    wanted: dict[str, str] = {}
    for spec in catalog.LIBRARIES:
        for dist in spec.distributions:
            wanted.setdefault(normalise_name(dist), spec.id)
    return wanted


#: Bytes of a METADATA / PKG-INFO file read (its header is at the top).
MAX_METADATA_BYTES = 256 * 1024
#: Bytes of pyvenv.cfg, patchlevel.h or conda's environments.txt read.
MAX_SMALL_FILE_BYTES = 1024 * 1024


def _read_metadata(path: str) -> tuple[str | None, str | None]:
    """Name and Version from a METADATA / PKG-INFO file (only its header is read)."""
    name = version = None
    try:
        header = read_text(path, MAX_METADATA_BYTES)
    except OSError:  # missing, unreadable, or not a regular file (a FIFO, a device)
        return None, None
    for line in header.splitlines():
        if not line.strip():
            break  # the header ends at the first blank line
        key, _, value = line.partition(":")
        if key == "Name":
            name = value.strip()[:200]
        elif key == "Version":
            version = value.strip()[:200]
        if name and version:
            break
    return name, version


def _metadata_file(entry_path: str, entry_name: str) -> str | None:
    if entry_name.endswith(".dist-info"):
        return os.path.join(entry_path, "METADATA")
    if entry_name.endswith(".egg-info"):
        # A folder with PKG-INFO inside, or (distutils) the PKG-INFO itself as a file.
        return entry_path if os.path.isfile(entry_path) else os.path.join(entry_path, "PKG-INFO")
    if entry_name.endswith(".egg"):
        return os.path.join(entry_path, "EGG-INFO", "PKG-INFO")
    return None


def scan_site_packages(folders: Iterable[str]) -> dict[str, str | None]:
    """Which catalog libraries the folders hold, with versions, from package metadata on disk.

    Only metadata whose folder name matches one of the catalog's distributions is opened.
    """
    wanted = _wanted_distributions()
    found: dict[str, str | None] = dict.fromkeys(catalog.LIBRARY_IDS)
    import_names = {spec.import_name: spec.id for spec in catalog.LIBRARIES}
    bare: set[str] = set()
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            stem = entry.name
            metadata = _metadata_file(entry.path, stem)
            if metadata is None:
                if stem in import_names and entry.is_dir():
                    bare.add(import_names[stem])
                continue
            dist_from_dir = stem.rsplit(".", 1)[0].split("-", 1)[0]
            library = wanted.get(normalise_name(dist_from_dir))
            if library is None or found[library] is not None:
                continue
            name, version = _read_metadata(metadata)
            if name is not None and normalise_name(name) not in wanted:
                continue
            if version is None:
                parts = stem.rsplit(".", 1)[0].split("-")
                version = parts[1] if len(parts) > 1 else UNKNOWN_VERSION
            found[library] = version
    for library in bare:
        if found[library] is None:
            found[library] = UNKNOWN_VERSION
    return found


def _conda_packages(prefix: str) -> dict[str, str]:
    """Catalog libraries installed as conda packages (conda-meta/NAME-VERSION-BUILD.json)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(os.path.join(prefix, "conda-meta")):
            if not entry.name.endswith(".json"):
                continue
            parts = entry.name[: -len(".json")].rsplit("-", 2)
            if len(parts) == 3 and parts[0] in CONDA_PACKAGES:
                found.setdefault(CONDA_PACKAGES[parts[0]], parts[1])
    return found


# --------------------------------------------------------------------------- one environment


def _python_dirs(prefix: str) -> list[tuple[int, int]]:
    """The (major, minor) of each lib/pythonX.Y folder in a prefix, newest first."""
    versions = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(os.path.join(prefix, "lib")):
            match = _PYTHON_DIR.match(entry.name)
            if match and entry.is_dir():
                versions.append((int(match.group(1)), int(match.group(2))))
    return sorted(versions, reverse=True)


def _read_pyvenv_cfg(prefix: str) -> dict[str, str]:
    values: dict[str, str] = {}
    path = os.path.join(prefix, "pyvenv.cfg")
    with contextlib.suppress(OSError):
        for line in read_text(path, MAX_SMALL_FILE_BYTES).splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip().lower()] = value.strip()
    return values


def _conda_python_version(prefix: str) -> str | None:
    with contextlib.suppress(OSError):
        for entry in os.scandir(os.path.join(prefix, "conda-meta")):
            match = _CONDA_PYTHON.match(entry.name)
            if match:
                return match.group(1)
    return None


def python_version(prefix: str) -> str | None:
    """The Python version of an environment, from pyvenv.cfg, conda-meta or lib/pythonX.Y."""
    cfg = _read_pyvenv_cfg(prefix)
    for key in ("version", "version_info"):
        value = cfg.get(key)
        if value:
            match = re.match(r"\d+\.\d+(?:\.\d+)?", value)
            if match:
                return match.group(0)
    conda = _conda_python_version(prefix)
    if conda:
        return conda
    dirs = _python_dirs(prefix)
    if dirs:
        major, minor = dirs[0]
        for suffix in ("", "m", "t"):
            include = os.path.join(prefix, "include", f"python{major}.{minor}{suffix}")
            exact = _patchlevel_version(os.path.join(include, "patchlevel.h"))
            if exact:
                return exact
    return f"{dirs[0][0]}.{dirs[0][1]}" if dirs else None


def _patchlevel_version(header: str) -> str | None:
    """PY_VERSION from CPython's patchlevel.h, the exact version of an install with headers."""
    with contextlib.suppress(OSError):
        for line in read_text(header, MAX_SMALL_FILE_BYTES).splitlines():
            match = re.match(r'#define\s+PY_VERSION\s+"(\d+\.\d+\.\d+)', line)
            if match:
                return match.group(1)
    return None


def find_python(prefix: str) -> str | None:
    """The interpreter of an environment folder (POSIX bin/ or Windows layouts)."""
    for sub in ("bin/python3", "bin/python", "python.exe", "Scripts/python.exe"):
        candidate = os.path.join(prefix, sub)
        if os.path.isfile(candidate):
            return candidate
    return None


def _major_minor(version: str | None) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def site_packages_dirs(
    prefix: str, home: str | None = None, version: str | None = None
) -> list[str]:
    """The folders an environment installs packages into (that exist).

    With several lib/pythonX.Y folders (the system prefix, an upgraded env) only the one of
    `version` counts, or the newest when the version is unknown.
    """
    dirs = _python_dirs(prefix)
    chosen = _major_minor(version)
    if chosen not in dirs:
        chosen = dirs[0] if dirs else None
    folders: list[str] = []
    if chosen is not None:
        major, minor = chosen
        for sub in ("site-packages", "dist-packages"):
            folders.append(os.path.join(prefix, "lib", f"python{major}.{minor}", sub))
        folders.append(os.path.join(prefix, "lib", f"python{major}.{minor}t", "site-packages"))
        folders.append(
            os.path.join(prefix, "local", "lib", f"python{major}.{minor}", "dist-packages")
        )
    folders += [
        os.path.join(prefix, "lib/python3/dist-packages"),
        os.path.join(prefix, "Lib/site-packages"),
    ]
    cfg = _read_pyvenv_cfg(prefix)
    if cfg.get("include-system-site-packages", "").lower() == "true" and cfg.get("home"):
        base = os.path.dirname(cfg["home"].rstrip("/\\"))
        if os.path.realpath(base) != os.path.realpath(prefix):
            folders += site_packages_dirs(base, version=version)
    if home and chosen is not None and not cfg:
        # Interpreters outside a venv also read the user's site-packages for their X.Y.
        major, minor = chosen
        folders.append(os.path.join(home, f".local/lib/python{major}.{minor}/site-packages"))
    return [f for f in dict.fromkeys(folders) if os.path.isdir(f)]


def describe_prefix(
    prefix: str,
    kind: EnvKind,
    name: str | None = None,
    *,
    python: str | None = None,
    version: str | None = None,
    home: str | None = None,
) -> PythonEnvironment | None:
    """An environment from its folder, or None when no Python is in it."""
    python = python or find_python(prefix)
    if python is None:
        return None
    version = version or python_version(prefix)
    libraries = scan_site_packages(site_packages_dirs(prefix, home, version))
    for library, conda_version in _conda_packages(prefix).items():
        if libraries.get(library) in (None, UNKNOWN_VERSION):
            libraries[library] = conda_version
    return PythonEnvironment(
        python=python,
        kind=kind,
        name=name or _env_name(prefix),
        version=version,
        prefix=prefix,
        libraries=libraries,
    )


def _current_environment() -> PythonEnvironment:
    folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    libraries = scan_site_packages(f for f in folders if os.path.isdir(f))
    return PythonEnvironment(
        python=sys.executable,
        kind="current",
        name=_env_name(sys.prefix),
        version=platform.python_version(),
        prefix=sys.prefix,
        libraries=libraries,
    )


# --------------------------------------------------------------------------- discovery


def _is_conda_root(prefix: str) -> bool:
    return os.path.isdir(os.path.join(prefix, "conda-meta")) and (
        os.path.isdir(os.path.join(prefix, "condabin"))
        or os.path.isdir(os.path.join(prefix, "envs"))
    )


def _conda_name(prefix: str) -> str:
    if _is_conda_root(prefix):
        return "base"
    return os.path.basename(os.path.normpath(prefix))


def _natural_key(path: str) -> list[tuple[int, int | str]]:
    """Sort 3.9.18 before 3.10.13: numbers compare as numbers."""
    parts = re.split(r"(\d+)", os.path.basename(path))
    return [(1, int(p)) if p.isdigit() else (0, p) for p in parts if p]


def _subdirs(folder: str) -> list[str]:
    try:
        return sorted((e.path for e in os.scandir(folder) if e.is_dir()), key=_natural_key)
    except OSError:
        return []


def _conda_candidates(home: str, system_dirs: Sequence[str]) -> Iterator[str]:
    listing = os.path.join(home, ".conda", "environments.txt")
    lines: list[str] = []
    with contextlib.suppress(OSError):
        lines = read_text(listing, MAX_SMALL_FILE_BYTES).splitlines()
    for line in lines:
        if line.strip() and not line.startswith("#"):
            yield os.path.expanduser(line.strip())
    roots = [os.path.join(home, d) for d in HOME_CONDA_DIRS] + list(system_dirs)
    for root in roots:
        if not os.path.isdir(root):
            continue
        if os.path.isdir(os.path.join(root, "conda-meta")):
            yield root
        yield from _subdirs(os.path.join(root, "envs"))


def discover_environments(
    *,
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | None = None,
    system_dirs: Sequence[str] | None = None,
    system_pythons: Sequence[str] | None = None,
    include_current: bool = True,
) -> list[PythonEnvironment]:
    """Every Python environment found, the current one first, each folder once (by realpath).

    The keyword arguments default to this process's working directory, environment and home,
    and to the standard system locations (tests point them at fake trees).
    """
    cwd = os.getcwd() if cwd is None else cwd
    environ = os.environ if environ is None else environ
    home = os.path.expanduser("~") if home is None else home
    system_dirs = SYSTEM_DIRS if system_dirs is None else system_dirs
    system_pythons = SYSTEM_PYTHONS if system_pythons is None else system_pythons

    found: list[PythonEnvironment] = []
    seen: set[str] = set()

    def add(env: PythonEnvironment | None) -> None:
        if env is None:
            return
        key = os.path.realpath(env.prefix)
        if key not in seen:
            seen.add(key)
            found.append(env)

    def add_prefix(
        prefix: str, kind: EnvKind, name: str | None = None, version: str | None = None
    ) -> None:
        if os.path.realpath(prefix) not in seen and os.path.isdir(prefix):
            add(describe_prefix(prefix, kind, name, version=version, home=home))

    if include_current:
        add(_current_environment())
    if environ.get("VIRTUAL_ENV"):
        add_prefix(environ["VIRTUAL_ENV"], "active-venv")
    if environ.get("CONDA_PREFIX"):
        prefix = environ["CONDA_PREFIX"]
        add_prefix(prefix, "active-conda", environ.get("CONDA_DEFAULT_ENV") or _conda_name(prefix))
    for name in (".venv", "venv"):
        prefix = os.path.join(cwd, name)
        if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")):
            add_prefix(prefix, "venv")
    for prefix in _conda_candidates(home, system_dirs):
        add_prefix(prefix, "conda", _conda_name(prefix))
    workon = environ.get("WORKON_HOME") or os.path.join(home, ".virtualenvs")
    for prefix in _subdirs(workon):
        if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")):
            add_prefix(prefix, "venv")
    pyenv_root = environ.get("PYENV_ROOT") or os.path.join(home, ".pyenv")
    for prefix in _subdirs(os.path.join(pyenv_root, "versions")):
        # pyenv names a version's folder by its exact version (3.11.7); a virtualenv otherwise.
        folder = os.path.basename(prefix)
        exact = folder if re.fullmatch(r"\d+\.\d+\.\d+", folder) else None
        add_prefix(prefix, "pyenv", version=exact)
        for env_prefix in _subdirs(os.path.join(prefix, "envs")):
            add_prefix(env_prefix, "pyenv")
    for python in system_pythons:
        if os.path.realpath(os.path.dirname(os.path.dirname(os.path.realpath(python)))) not in seen:
            add(_system_environment(python, home))
    return found


def _env_name(prefix: str) -> str:
    """A folder's name; a project's `.venv` is named with its project: 'mltui/.venv'."""
    path = os.path.normpath(prefix)
    base = os.path.basename(path)
    if base in (".venv", "venv", "env", ".env"):
        parent = os.path.basename(os.path.dirname(path))
        return f"{parent}/{base}" if parent else base
    return base or path


def _system_environment(python: str, home: str) -> PythonEnvironment | None:
    """A system interpreter such as /usr/bin/python3: its prefix is the folder above bin/."""
    if not os.path.isfile(python):
        return None
    real = os.path.realpath(python)
    prefix = os.path.dirname(os.path.dirname(real))
    # /usr holds several lib/pythonX.Y folders; the interpreter's own name says which is its.
    match = re.search(r"python(\d+\.\d+)$", real)
    version = match.group(1) if match else None
    return describe_prefix(prefix, "system", "system", python=python, version=version, home=home)


def environments_json(envs: Sequence[PythonEnvironment]) -> str:
    """The environments as a JSON array (for `mltui envs --json`)."""
    from probes.model import to_dict

    return json.dumps([to_dict(env) for env in envs], indent=2)
