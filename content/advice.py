"""Install advice that depends on the reader's operating system.

BVLC Caffe has no pip package, and the distributions that packaged it have dropped it, so "how do
I get Caffe" has a different answer on each system. The facts below were checked against the
distributions' package indexes in November 2026 and their support dates in December 2026 (see
content/pages/caffe.md for the sources):

- Debian 10 (buster): `caffe-cpu` and `python3-caffe-cpu`, 1.0.0+git20180821.99bd997-2+b1; out of
  support since 2024-06-30 and moved to archive.debian.org, where apt must be pointed first;
- Debian 11 (bullseye): renamed to `caffe` and `python3-caffe` (CPU only), no `caffe-cpu`; its LTS
  ended 2026-08-31;
- Debian 12 (bookworm) and 13 (trixie): no Caffe package at all;
- Ubuntu 17.04 to 20.04 (focal, 1.0.0+git20180821.99bd997-5build3): the `caffe-cpu` family;
  later Ubuntu releases were not checked, so the advice does not promise a package there.
"""

from __future__ import annotations

import re

#: What works everywhere: the route mltui's own Caffe sample takes.
CAFFE_EVERYWHERE = (
    "run Caffe models through OpenCV 4's importer, as mltui's sample does: "
    "pip install 'opencv-python-headless<5'"
)
#: pycaffe itself, where the system has no package: an older distribution in a container.
CAFFE_CONTAINER = (
    "for pycaffe itself, use an older distribution in a container, e.g. "
    "docker run -it debian:bullseye (out of support since 2026-08-31), then "
    "apt install python3-caffe"
)

_DEBIAN = re.compile(r"\bdebian\b.*?\b(\d+)\b", re.IGNORECASE)
_UBUNTU = re.compile(r"\bubuntu\b\D*(\d+)\.(\d+)", re.IGNORECASE)


def caffe_install_advice(os_name: str) -> str:
    """How to get Caffe on the system `os_name` names (SystemInfo.os, e.g. "Debian GNU/Linux 12
    (bookworm)", "Ubuntu 20.04.6 LTS", "macOS 14.5"): a package where the release has one,
    otherwise OpenCV's importer or a container."""
    debian = _DEBIAN.search(os_name)
    ubuntu = _UBUNTU.search(os_name)
    if debian and int(debian.group(1)) == 10:
        return (
            f"first choice: {CAFFE_EVERYWHERE}. Debian 10 packages pycaffe (python3-caffe-cpu), "
            "but buster is out of support and its suites live on the archive: point "
            "/etc/apt/sources.list at 'deb http://archive.debian.org/debian buster main' "
            "before apt update, then apt install python3-caffe-cpu"
        )
    if debian and int(debian.group(1)) == 11:
        return (
            f"first choice: {CAFFE_EVERYWHERE}. Debian 11 packages pycaffe as python3-caffe "
            "(CPU only; bullseye's LTS ended 2026-08-31): apt install python3-caffe"
        )
    if ubuntu and (17, 4) <= (int(ubuntu.group(1)), int(ubuntu.group(2))) <= (20, 4):
        return (
            f"Ubuntu {ubuntu.group(1)}.{ubuntu.group(2)} packages it (universe): "
            "apt install caffe-cpu"
        )
    where = os_name.strip() or "this system"
    return f"{where} has no Caffe package: {CAFFE_EVERYWHERE}; {CAFFE_CONTAINER}"


#: Library id -> advice by operating system, for the libraries whose install depends on it.
OS_ADVICE = {"caffe": caffe_install_advice}


def install_advice(library: str, install: str, os_name: str | None) -> str:
    """The install line to show for `library` on `os_name` (its page's `install` when the OS is
    unknown or the library installs the same way everywhere)."""
    advise = OS_ADVICE.get(library)
    if advise is None or not os_name:
        return install
    return advise(os_name)
