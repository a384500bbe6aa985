"""A fleet of recorded machines: each SSH node is a replayed GPU box running the real mltui.

A stand-in `ssh` on PATH runs the remote command here, with MLTUI_REPLAY naming the recording
of that host (as if the node were that machine); the fleet code, the nodes' `mltui check --json`
and their CUDA stand-in all run for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
GPUS = ROOT / "tests" / "fixtures" / "gpus"

FAKE_SSH = """#!{python}
import os, subprocess, sys
args = sys.argv[1:]
cut = args.index("--")
host, remote = args[cut + 1], " ".join(args[cut + 2:])
machines = dict(pair.split("=", 1) for pair in os.environ["FAKE_SSH_MACHINES"].split(";"))
env = {{k: v for k, v in os.environ.items() if not k.startswith(("MLTUI_", "CUDA_"))}}
env["MLTUI_REPLAY"] = machines[host]
sys.exit(subprocess.call(["sh", "-c", remote], env=env, cwd=os.environ["FAKE_SSH_CWD"],
                         stdin=subprocess.DEVNULL))
"""


def test_fleet_of_replayed_nodes_finds_the_odd_one(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(FAKE_SSH.format(python=sys.executable))
    ssh.chmod(0o755)
    machines = {
        "node1": GPUS / "h100-sxm-8.json",
        "node2": GPUS / "h100-sxm-8.json",
        "node3": GPUS / "a100-mig.json",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTUI_", "CUDA_"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        FAKE_SSH_CWD=str(ROOT),
        FAKE_SSH_MACHINES=";".join(f"{host}={path}" for host, path in machines.items()),
        MLTUI_CACHE_DIR=str(tmp_path / "cache"),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "fleet",
            "--hosts",
            ",".join(machines),
            "--only",
            "torch",
            "--json",
            "--remote-mltui",
            f"{sys.executable} -m tui.cli",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr[-2000:]  # a node differs
    result = json.loads(done.stdout)
    nodes = {node["name"]: node for node in result["nodes"]}
    assert set(nodes) == set(machines)
    for host, path in machines.items():
        recorded = json.loads(path.read_text())["nvml"]["devices"]
        check = nodes[host]["check"]
        assert nodes[host]["state"] in ("ok", "findings"), nodes[host]
        assert [g["uuid"] for g in check["nvml"]["gpus"]] == [
            d["nvmlDeviceGetUUID"] for d in recorded
        ]
        (torch,) = [lib for lib in check["libraries"] if lib["name"] == "torch"]
        assert all(d["computation_ok"] for d in torch["devices"])
    odd = {(item["node"], item["kind"]) for item in result["skew"]}
    assert ("node3", "gpu_count") in odd and ("node3", "gpu_model") in odd
    assert not any(node in ("node1", "node2") for node, _ in odd)
