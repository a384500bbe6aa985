"""MLTUI_REPLAY, the target's half: real CPU torch presents the recorded GPUs through torch.cuda.

Every test runs a real interpreter with the environment mltui gives its children
(probes.replay.replay_environment), so the stand-in is loaded exactly as in use: by the
sitecustomize on PYTHONPATH, when the program imports torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from probes.replay import REPLAY_VARIABLE, STANDIN_DIR, STATE_VARIABLE, replay_environment

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
GPUS = ROOT / "tests" / "fixtures" / "gpus"


def _recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GPUS / f"{name}.json").read_text())
    return data


def _run(
    name: str | None, code: str, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "MLTUI_"))}
    base[STATE_VARIABLE] = str(tmp_path / "state")
    if name is not None:
        base[REPLAY_VARIABLE] = str(GPUS / f"{name}.json")
    base.update(env)
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)],
        env=replay_environment(base),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def _answer(name: str | None, code: str, tmp_path: Path, **env: str) -> Any:
    done = _run(name, code, tmp_path, **env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


DEVICES = """
import json, torch
out = {"available": torch.cuda.is_available(), "count": torch.cuda.device_count(),
       "cuda": torch.version.cuda, "devices": []}
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    out["devices"].append({"name": p.name, "uuid": str(p.uuid), "memory": p.total_memory,
                           "cc": [p.major, p.minor], "sms": p.multi_processor_count})
print(json.dumps(out))
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in GPUS.glob("*.json")))
def test_torch_presents_the_recorded_devices(name: str, tmp_path: Path) -> None:
    data = _recording(name)
    answer = _answer(name, DEVICES, tmp_path)
    expected = []
    for device in data["cuda"]["devices"]:
        chosen = device["mig"][:1] if device.get("mig_enabled") else [device]
        expected += chosen
    assert answer["available"] is True
    assert answer["count"] == len(expected)
    assert answer["cuda"] == data["cuda"]["version"]
    shown = sorted(
        (d["uuid"], d["name"], d["memory"], tuple(d["cc"]), d["sms"]) for d in answer["devices"]
    )
    wanted = sorted(
        (
            e["uuid"].split("-", 1)[1],
            e["name"],
            e["total_memory"],
            (e["major"], e["minor"]),
            e["multi_processor_count"],
        )
        for e in expected
    )
    assert shown == wanted


def test_without_replay_the_cpu_torch_is_left_alone(tmp_path: Path) -> None:
    answer = _answer(None, DEVICES, tmp_path, PYTHONPATH=str(ROOT / "probes/scripts/replay_cuda"))
    assert answer == {"available": False, "count": 0, "cuda": None, "devices": []}


COMPUTE = """
import json, torch
a = torch.randn(64, 64, device="cuda:1")
b = torch.randn(64, 64, device=torch.device("cuda", 1))
c = a @ b
ref = a.cpu() @ b.cpu()
out = {"device": str(c.device), "is_cuda": c.is_cuda, "cpu": str(c.cpu().device),
       "err": float((c.cpu() - ref).abs().max()),
       "repr": repr(torch.tensor([1.0], device="cuda:1")),
       "to": str(a.to("cuda:3").device), "get_device": a.get_device()}
try:
    a + torch.ones(64, 64, device="cuda:2")
    out["mixed"] = "no error"
except RuntimeError as e:
    out["mixed"] = str(e)
mixed = {}
for label, step in [
    ("cpu_operand", lambda: a + torch.ones(64, 64)),
    ("cpu_scalar", lambda: a + torch.tensor(2.0)),
    ("cpu_index", lambda: a[torch.tensor([0, 1])]),
    ("copy_from_cpu", lambda: a.copy_(torch.zeros(64, 64))),
    ("unmoved_model", lambda: torch.nn.Linear(64, 2)(a)),
    ("matmul_cpu", lambda: torch.matmul(torch.ones(3, 64), a)),
    ("tensor_from_cpu", lambda: torch.tensor([1.0]).to("cuda:1") * torch.ones(1, device="cuda:1")),
]:
    try:
        step()
        mixed[label] = "ok"
    except RuntimeError as e:
        mixed[label] = str(e)
out["with_cpu"] = mixed
try:
    a.numpy()
except TypeError as e:
    out["numpy"] = str(e)
try:
    torch.ones(1, device="cuda:8")
except RuntimeError as e:
    out["ordinal"] = str(e).splitlines()[0]
model = torch.nn.Linear(8, 4).to("cuda:1")
y = model(torch.randn(2, 8, device="cuda:1"))
y.sum().backward()
out["param"] = str(next(model.parameters()).device)
out["grad"] = str(model.weight.grad.device)
g = torch.Generator(device="cuda:1").manual_seed(0)
out["gen"] = str(torch.randn(2, device="cuda:1", generator=g).device)
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record(); (a @ b).sum().item(); end.record(); end.synchronize()
out["ms"] = start.elapsed_time(end)
try:
    torch.cuda.Event().elapsed_time(torch.cuda.Event())
except RuntimeError as e:
    out["untimed"] = str(e)
with torch.cuda.device(5):
    out["inside"] = torch.cuda.current_device()
    out["default"] = str(torch.empty(1, device="cuda").device)
out["outside"] = torch.cuda.current_device()
out["peer"] = torch.cuda.can_device_access_peer(0, 7)
out["free_total"] = list(torch.cuda.mem_get_info(1))
with torch.autocast("cuda", dtype=torch.bfloat16):
    out["autocast"] = [str((a @ b).dtype), str((a @ b).device)]
with torch.autocast("cuda"):
    out["autocast_default"] = str((a @ b).dtype)
out["after"] = str((a @ b).dtype)
import threading
seen = []
worker = threading.Thread(target=lambda: seen.append(str(torch.ones(1, device="cuda:2").device)))
worker.start(); worker.join()
out["thread"] = seen
print(json.dumps(out))
"""


def test_tensors_on_cuda_compute_on_the_cpu_as_on_a_gpu(tmp_path: Path) -> None:
    answer = _answer("h100-sxm-8", COMPUTE, tmp_path)
    assert answer["device"] == "cuda:1" and answer["is_cuda"] is True
    assert answer["cpu"] == "cpu" and answer["err"] == 0.0
    assert answer["repr"] == "tensor([1.], device='cuda:1')"
    assert answer["to"] == "cuda:3" and answer["get_device"] == 1
    assert "cuda:1 and cuda:2" in answer["mixed"]
    with_cpu = answer["with_cpu"]
    for label in ("cpu_operand", "unmoved_model", "matmul_cpu"):
        assert "cuda:1 and cpu!" in with_cpu[label], label
    for label in ("cpu_scalar", "cpu_index", "copy_from_cpu", "tensor_from_cpu"):
        assert with_cpu[label] == "ok", (label, with_cpu[label])
    assert "can't convert cuda:1 device type tensor to numpy" in answer["numpy"]
    assert answer["ordinal"] == "CUDA error: invalid device ordinal"
    assert answer["param"] == "cuda:1" and answer["grad"] == "cuda:1"
    assert answer["gen"] == "cuda:1"
    assert answer["ms"] > 0
    assert "enable_timing" in answer["untimed"]
    assert answer["inside"] == 5 and answer["default"] == "cuda:5" and answer["outside"] == 0
    assert answer["peer"] is True
    assert answer["autocast"] == ["torch.bfloat16", "cuda:1"]  # autocast as on a GPU
    assert answer["autocast_default"] == "torch.float16" and answer["after"] == "torch.float32"
    assert answer["thread"] == ["cuda:2"]  # a thread started later computes on "cuda" too
    free, total = answer["free_total"]
    recorded = _recording("h100-sxm-8")
    assert total == recorded["cuda"]["devices"][1]["total_memory"]
    assert free == total - recorded["nvml"]["devices"][1]["nvmlDeviceGetMemoryInfo_v2"]["used"]


UUIDS = """
import json, torch
print(json.dumps([["GPU-" + str(torch.cuda.get_device_properties(i).uuid),
                   torch.cuda.get_device_name(i)] for i in range(torch.cuda.device_count())]))
"""


def _uuids(name: str) -> list[str]:
    return [d["uuid"] for d in _recording(name)["cuda"]["devices"]]


def _standin_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "mltui_replay_cuda_under_test", Path(STANDIN_DIR) / "mltui_replay_cuda.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STANDIN = _standin_module()


def _visible(name: str, **environ: str) -> list[str]:
    data = _recording(name)
    physical = STANDIN._physical_devices(data["cuda"], data["nvml"])
    return [d.uuid for d in STANDIN.visible_devices(physical, environ)]


@pytest.mark.parametrize(
    ("setting", "picked"),
    [
        (None, [0, 1, 2, 3, 4, 5, 6, 7]),
        ("3", [3]),
        ("5,1", [5, 1]),
        (" 5 , 1 ", [5, 1]),
        ("0,1,9,2", [0, 1]),  # enumeration stops at the first invalid entry
        ("", []),
        (",", []),
        (
            "2,2",
            [],
        ),  # a repeated entry empties the list (torch: "Repeated ordinal results in empty set")
        ("0,1,0", []),
        ("1gpu2,2ampere", [1, 2]),  # read like strtoul
        ("+3", [3]),
        (",".join(str(i) for i in range(100)), [0, 1, 2, 3, 4, 5, 6, 7]),  # stops at 8
        ("-1,3", []),
        ("8", []),
        ("{4}", [4]),
        ("{6},{0}", [6, 0]),
        ("{6},3", [6]),  # a UUID list ends at the first entry without the prefix
        ("{2},{2:prefix}", []),  # two entries naming one GPU
        (" {2}", []),  # UUID entries are not stripped: a leading space is no UUID
        ("{7:bare}", []),  # the UUID without its GPU- prefix names no device
        ("{2:prefix}", [2]),  # a unique prefix is enough
        ("GPU-", []),  # a prefix of every GPU names none
        ("{3:lower}", []),  # the prefix is GPU-, as nvidia-smi writes it
        ("MIG-{1:bare}", []),
        ("nonsense,0", []),
    ],
)
def test_cuda_visible_devices_by_index_and_uuid(setting: str | None, picked: list[int]) -> None:
    uuids = _uuids("h100-sxm-8")

    def form(index: int, how: str) -> str:
        if how == "bare":
            return uuids[index][4:]
        if how == "prefix":
            return uuids[index][:13]
        if how == "lower":
            return uuids[index].lower()
        return uuids[index]

    environ = {}
    if setting is not None:
        value = setting
        for index in range(8):
            for how in ("bare", "prefix", "lower", ""):
                key = f"{{{index}:{how}}}" if how else f"{{{index}}}"
                value = value.replace(key, form(index, how))
        environ["CUDA_VISIBLE_DEVICES"] = value
    assert _visible("h100-sxm-8", **environ) == [uuids[i] for i in picked]


def test_uuid_prefix_pins_a_gpu_and_properties_report_its_uuid(tmp_path: Path) -> None:
    """Item 2.3: a load pinned with CUDA_VISIBLE_DEVICES=GPU-<uuid> sees that GPU as cuda:0."""
    uuids = _uuids("h100-sxm-8")
    for wanted in (uuids[6], uuids[6][:12]):
        answer = _answer("h100-sxm-8", UUIDS, tmp_path, CUDA_VISIBLE_DEVICES=wanted)
        assert [u for u, _ in answer] == [uuids[6]]


def test_device_order_fastest_first_and_pci_bus_id() -> None:
    """The mixed box: the L4 is first on the bus, the A100 (108 SMs) is CUDA's fastest."""
    l4, a100 = _uuids("mixed-l4-a100")
    assert _visible("mixed-l4-a100") == [a100, l4]
    assert _visible("mixed-l4-a100", CUDA_DEVICE_ORDER="FASTEST_FIRST") == [a100, l4]
    assert _visible("mixed-l4-a100", CUDA_DEVICE_ORDER="PCI_BUS_ID") == [l4, a100]
    assert _visible("mixed-l4-a100", CUDA_DEVICE_ORDER="PCI_BUS_ID", CUDA_VISIBLE_DEVICES="1") == [
        a100
    ]
    assert _visible("mixed-l4-a100", CUDA_VISIBLE_DEVICES="1") == [l4]


def test_mig_instances_are_the_devices_of_a_mig_gpu() -> None:
    data = _recording("a100-mig")
    parent, normal = data["cuda"]["devices"]
    slices = [m["uuid"] for m in parent["mig"]]
    # CUDA enumerates one MIG instance of the MIG GPU (never the parent), and the normal GPU.
    assert _visible("a100-mig", CUDA_DEVICE_ORDER="PCI_BUS_ID") == [slices[0], normal["uuid"]]
    assert _visible("a100-mig", CUDA_VISIBLE_DEVICES=slices[1]) == [slices[1]]
    # Only one MIG instance per process: the second one named is dropped.
    assert _visible("a100-mig", CUDA_VISIBLE_DEVICES=f"{slices[2]},{slices[0]}") == [slices[2]]
    # A MIG- list ends at the first entry without that prefix (torch's reading of the variable).
    assert _visible("a100-mig", CUDA_VISIBLE_DEVICES=f"{slices[2]},{normal['uuid']}") == [slices[2]]
    # The parent of MIG instances is no CUDA device.
    assert _visible("a100-mig", CUDA_VISIBLE_DEVICES=parent["uuid"]) == []
    # The legacy form MIG-GPU-<parent uuid>/<gi>/<ci> names an instance of that GPU.
    assert _visible("a100-mig", CUDA_VISIBLE_DEVICES=f"MIG-{parent['uuid']}/1/0") == [slices[0]]


def test_a_mig_instance_through_torch(tmp_path: Path) -> None:
    slices = [m["uuid"] for m in _recording("a100-mig")["cuda"]["devices"][0]["mig"]]
    answer = _answer("a100-mig", UUIDS, tmp_path, CUDA_VISIBLE_DEVICES=slices[1])
    assert [(u[4:], n) for u, n in answer] == [(slices[1][4:], "NVIDIA A100-SXM4-80GB MIG 2g.20gb")]


def test_a_working_process_shows_on_the_replayed_nvml(tmp_path: Path) -> None:
    code = """
    import json, os, sys, torch
    x = torch.ones(4, device="cuda:0")
    print(json.dumps(sorted(os.listdir(os.environ["MLTUI_REPLAY_STATE"]))))
    """
    answer = _answer("h200-sxm-1", code, tmp_path)
    assert len(answer) == 1 and answer[0].endswith(_uuids("h200-sxm-1")[0] + ".json")
    # The announcement is removed when the process ends.
    assert list((tmp_path / "state").iterdir()) == []


def test_jax_and_tensorflow_stay_cpu_only(tmp_path: Path) -> None:
    code = """
    import json, torch
    import jax
    print(json.dumps([torch.cuda.device_count(), [d.platform for d in jax.devices()]]))
    """
    assert _answer("h100-sxm-8", code, tmp_path) == [8, ["cpu"]]


@pytest.mark.parametrize(
    "content",
    [b"{nope", b"[]", json.dumps({"cuda": {"devices": [{"uuid": 5, "mig": "x"}]}}).encode()],
)
def test_an_unusable_recording_leaves_torch_as_installed(content: bytes, tmp_path: Path) -> None:
    """A program run by hand with a broken MLTUI_REPLAY still runs (mltui itself refuses it)."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    done = _run(None, DEVICES, tmp_path, MLTUI_REPLAY=str(bad))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["available"] is False
    lines = [line for line in done.stderr.splitlines() if line.startswith("mltui replay:")]
    assert len(lines) == 1


#: CUDA_VISIBLE_DEVICES forms a user may write, each tried on the stand-in and on torch's own
#: reading of the variable (torch/cuda/__init__.py `_parse_visible_devices` and
#: `_transform_uuid_to_ordinals`, which torch uses to predict CUDA's device count from NVML).
VISIBLE_FORMS = [
    "",
    "-1",
    "0,0",
    "1,0",
    " 1 , 0 ",
    "GPU-",
    "MIG-bad",
    "3,9,1",
    "1gpu2,2ampere",
    ",".join(str(i) for i in range(100)),
    "{5}",
    "{5},{1}",
    "{5},{5}",
    "{4:prefix},2",
    "{0},{1},{2},{3},{4},{5},{6},{7}",
    "0,{1}",
]

TORCH_READS = """
import json, os, sys
import torch.cuda as tc
uuids, forms = json.loads(sys.stdin.read())
out = []
for form in forms:
    os.environ["CUDA_VISIBLE_DEVICES"] = form
    entries = tc._parse_visible_devices()
    if entries and isinstance(entries[0], str):
        picked = tc._transform_uuid_to_ordinals(entries, uuids)
    else:
        picked = []
        for n in entries:
            if n >= len(uuids):
                break
            picked.append(n)
    out.append([uuids[i] for i in picked])
print(json.dumps(out))
"""


def test_cuda_visible_devices_as_torch_reads_it() -> None:
    """Every form gives the stand-in's devices exactly the ones torch's reading gives (the
    recording's 8 H100s are all alike, so CUDA's order is the bus order)."""
    uuids = _uuids("h100-sxm-8")
    forms = []
    for form in VISIBLE_FORMS:
        for index in range(8):
            form = form.replace(f"{{{index}:prefix}}", uuids[index][:13])
            form = form.replace(f"{{{index}}}", uuids[index])
        forms.append(form)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "MLTUI_"))}
    done = subprocess.run(
        [sys.executable, "-c", TORCH_READS],
        input=json.dumps([uuids, forms]),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    torch_reads = json.loads(done.stdout.strip().splitlines()[-1])
    for form, expected in zip(forms, torch_reads, strict=True):
        assert _visible("h100-sxm-8", CUDA_VISIBLE_DEVICES=form) == expected, form


def test_negative_recorded_memory_never_gives_more_free_than_total(tmp_path: Path) -> None:
    data = _recording("h200-sxm-1")
    device = data["nvml"]["devices"][0]
    for name in ("nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo_v2"):
        if isinstance(device.get(name), dict):
            device[name] = {**device[name], "used": -(1 << 40)}
    path = tmp_path / "negative.json"
    path.write_text(json.dumps(data))
    code = """
    import json, torch
    print(json.dumps(list(torch.cuda.mem_get_info(0))))
    """
    free, total = _answer("h200-sxm-1", code, tmp_path, **{REPLAY_VARIABLE: str(path)})
    assert total == data["cuda"]["devices"][0]["total_memory"]
    assert 0 <= free <= total
