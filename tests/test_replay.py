"""MLTUI_REPLAY, mltui's half: recordings are checked, cite sources, and replay through NVML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pynvml
import pytest

from probes.nvml import NvmlSession
from probes.replay import (
    FORMAT,
    REPLAY_VARIABLE,
    STANDIN_DIR,
    STATE_VARIABLE,
    ReplayedNvml,
    ReplayError,
    load_recording,
    recording_problems,
    replay_environment,
)

ROOT = Path(__file__).resolve().parent.parent
GPUS = ROOT / "tests" / "fixtures" / "gpus"
RECORDINGS = sorted(p.stem for p in GPUS.glob("*.json"))
REQUIRED = {"h200-sxm-1", "h100-sxm-8", "a100-mig", "mixed-l4-a100", "rtx-pro-6000"}


def _data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GPUS / f"{name}.json").read_text())
    return data


def _session(name: str, environ: dict[str, str] | None = None) -> NvmlSession:
    recording = load_recording(GPUS / f"{name}.json")
    return NvmlSession(ReplayedNvml.from_recording(recording))


def test_the_required_machines_are_recorded() -> None:
    assert set(RECORDINGS) >= REQUIRED


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recording_is_valid_and_cites_its_sources(name: str) -> None:
    data = _data(name)
    assert recording_problems(data) == []
    assert data["format"] == FORMAT and data["machine"] == name
    for source in data["sources"]:
        assert source["what"].strip()
        assert (
            source.get("url")
            or (source.get("repo") and source.get("path"))
            or source.get("recorded_on")
        )
    # Hand-made values must say so: every recording states what was derived.
    assert data["derived"] and all(len(line) > 20 for line in data["derived"])


@pytest.mark.parametrize("name", RECORDINGS)
def test_nvml_reads_every_recorded_gpu(name: str) -> None:
    data = _data(name)
    with _session(name) as session:
        report = session.read()
    assert report.status == "ok"
    assert report.driver_version == data["nvml"]["system"]["nvmlSystemGetDriverVersion"]
    recorded = data["nvml"]["devices"]
    assert [g.uuid for g in report.gpus] == [d["nvmlDeviceGetUUID"] for d in recorded]
    assert [g.name for g in report.gpus] == [d["nvmlDeviceGetName"] for d in recorded]
    for gpu in report.gpus:
        assert gpu.state == "ok"
        assert gpu.compute_capability is not None
        assert gpu.memory_total_bytes and gpu.memory_total_bytes > 0


def test_the_h100_box_has_eight_gpus_nvlink_and_a_full_p2p_matrix() -> None:
    with _session("h100-sxm-8") as session:
        report = session.read()
        assert len(report.gpus) == 8
        nvml: Any = session._nvml
        nvml_handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(8)]
        pairs = 0
        for a in range(8):
            for b in range(a + 1, 8):
                status = nvml.nvmlDeviceGetP2PStatus(
                    nvml_handles[a], nvml_handles[b], pynvml.NVML_P2P_CAPS_INDEX_NVLINK
                )
                assert status == pynvml.NVML_P2P_STATUS_OK
                pairs += 1
        assert pairs == 28
        for link in range(18):
            assert session.device_call(3, "nvmlDeviceGetNvLinkState", link) == (True, 1)
        assert session.device_call(3, "nvmlDeviceGetNvLinkState", 18)[0] is False


def test_the_mixed_box_has_no_nvlink_between_its_gpus() -> None:
    with _session("mixed-l4-a100") as session:
        session.read()
        nvml: Any = session._nvml
        h0, h1 = nvml.nvmlDeviceGetHandleByIndex(0), nvml.nvmlDeviceGetHandleByIndex(1)
        status = nvml.nvmlDeviceGetP2PStatus(h0, h1, pynvml.NVML_P2P_CAPS_INDEX_NVLINK)
        assert status != pynvml.NVML_P2P_STATUS_OK
        assert session.device_call(0, "nvmlDeviceGetNvLinkState", 0) == (False, "NotSupported")


def test_mig_instances_and_their_parent() -> None:
    data = _data("a100-mig")
    with _session("a100-mig") as session:
        parent, normal = session.read().gpus
    assert parent.mig_mode is True and normal.mig_mode is False
    cuda_slices = data["cuda"]["devices"][0]["mig"]
    assert [m.uuid for m in parent.mig_devices] == [m["uuid"] for m in cuda_slices]
    assert all(m.uuid and m.uuid.startswith("MIG-") for m in parent.mig_devices)
    assert [m.memory_total_bytes for m in parent.mig_devices] == [19968 << 20] * 3


def test_rtx_pro_6000_is_compute_capability_12() -> None:
    with _session("rtx-pro-6000") as session:
        (gpu,) = session.read().gpus
    assert gpu.name == "NVIDIA RTX PRO 6000 Blackwell Server Edition"
    assert gpu.compute_capability == "12.0"


def _announce(state: Path, pid: int, uuid: str, used: int = 5 << 30) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / f"{pid}.{uuid}.json").write_text(
        json.dumps({"pid": pid, "uuid": uuid, "used_bytes": used})
    )


def test_a_busy_gpu_answers_its_under_load_readings(tmp_path: Path) -> None:
    data = _data("h100-sxm-8")
    fake = ReplayedNvml(data["nvml"], state=str(tmp_path))
    with NvmlSession(fake, process_lookup=lambda pid: ("me", "python load")) as session:
        idle = session.read()
        _announce(tmp_path, os.getpid(), idle.gpus[2].uuid or "")
        busy = session.read()
    load = data["nvml"]["devices"][2]["under_load"]
    assert idle.gpus[2].clock_sm_mhz == 345 and idle.gpus[2].clock_event_reasons == ["idle"]
    assert busy.gpus[2].clock_sm_mhz == load["nvmlDeviceGetClockInfo"]["by_args"]["1"]
    assert 1600 <= (busy.gpus[2].clock_sm_mhz or 0) <= 1800  # power-capped, not 1980 MHz
    assert busy.gpus[2].clock_event_reasons == ["software power cap"]
    assert busy.gpus[2].power_draw_w and busy.gpus[2].power_draw_w > 690
    assert [p.pid for p in busy.gpus[2].processes or []] == [os.getpid()]
    # The other GPUs stay idle.
    assert busy.gpus[1].clock_sm_mhz == 345


def test_a_dead_process_no_longer_makes_a_gpu_busy(tmp_path: Path) -> None:
    data = _data("h200-sxm-1")
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    uuid = data["nvml"]["devices"][0]["nvmlDeviceGetUUID"]
    _announce(tmp_path, int(child.stdout), uuid)
    fake = ReplayedNvml(data["nvml"], state=str(tmp_path))
    with NvmlSession(fake) as session:
        (gpu,) = session.read().gpus
    assert gpu.clock_sm_mhz == 345 and gpu.processes == []
    assert list(tmp_path.iterdir()) == []


def _same_uuid_twice() -> dict[str, Any]:
    data = _data("h100-sxm-8")
    first = data["nvml"]["devices"][0]["nvmlDeviceGetUUID"]
    data["nvml"]["devices"][1]["nvmlDeviceGetUUID"] = first
    data["cuda"]["devices"][1]["uuid"] = first
    return data


def _orphan_mig() -> dict[str, Any]:
    data = _data("a100-mig")
    data["nvml"]["devices"][0]["mig_devices"] = {}
    return data


def _gpus(count: int) -> dict[str, Any]:
    data = _data("h200-sxm-1")
    data["nvml"]["devices"] = data["nvml"]["devices"] * count
    return data


BAD_FILES: list[tuple[str, bytes]] = [
    ("missing", b""),
    ("empty", b""),
    ("not json", b"{nope"),
    ("a list", b"[]"),
    ("old nvml readings", json.dumps({"format": "mltui-nvml-readings/1"}).encode()),
    ("no sources", json.dumps({**_data("h200-sxm-1"), "sources": []}).encode()),
    (
        "source without origin",
        json.dumps({**_data("h200-sxm-1"), "sources": [{"what": "x"}]}).encode(),
    ),
    (
        "cuda uuid unknown",
        json.dumps(
            {
                **_data("h200-sxm-1"),
                "cuda": {
                    "devices": [{**_data("h200-sxm-1")["cuda"]["devices"][0], "uuid": "GPU-0"}]
                },
            }
        ).encode(),
    ),
    (
        "negative memory",
        json.dumps(
            {
                **_data("h200-sxm-1"),
                "cuda": {
                    "devices": [{**_data("h200-sxm-1")["cuda"]["devices"][0], "total_memory": -1}]
                },
            }
        ).encode(),
    ),
    ("nested too deep", b"[" * 5000 + b"]" * 5000),
    ("too big", b" " * (5 << 20) + b"{}"),
    (
        "by_args not an object",
        json.dumps(
            {
                **_data("h200-sxm-1"),
                "nvml": {
                    "system": {},
                    "devices": [
                        {
                            **_data("h200-sxm-1")["nvml"]["devices"][0],
                            "nvmlDeviceGetClockInfo": {"by_args": [1, 2]},
                        }
                    ],
                },
            }
        ).encode(),
    ),
    (
        "mig devices a list",
        json.dumps({**_data("a100-mig"), "nvml": {"devices": [{"mig_devices": [1]}]}}).encode(),
    ),
    ("sources an object", json.dumps({**_data("h200-sxm-1"), "sources": {"what": "x"}}).encode()),
    ("cuda devices missing", json.dumps({**_data("h200-sxm-1"), "cuda": {}}).encode()),
    (
        "format of a newer mltui",
        json.dumps({**_data("h200-sxm-1"), "format": "mltui-gpu-recording/2"}).encode(),
    ),
    ("not utf-8", b"\xff\xfe{"),
    ("duplicate uuids", json.dumps(_same_uuid_twice()).encode()),
    ("mig instance without its nvml device", json.dumps(_orphan_mig()).encode()),
    ("1025 gpus", json.dumps(_gpus(1025)).encode()),
    (
        "terminal sequences in a bad uuid",
        json.dumps(
            {
                **_data("h200-sxm-1"),
                "cuda": {
                    "devices": [
                        {
                            **_data("h200-sxm-1")["cuda"]["devices"][0],
                            "uuid": "GPU-\x1b]0;owned\x07\x1b[2J\nsecond line",
                        }
                    ]
                },
            }
        ).encode(),
    ),
]


@pytest.mark.parametrize(("case", "content"), BAD_FILES, ids=[c for c, _ in BAD_FILES])
def test_a_bad_replay_file_is_one_line_and_exit_2(
    tmp_path: Path, case: str, content: bytes
) -> None:
    path = tmp_path / "recording.json"
    if case != "missing":
        path.write_bytes(content)
    with pytest.raises(ReplayError) as caught:
        load_recording(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    env = {**os.environ, REPLAY_VARIABLE: str(path)}
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "check", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mltui: MLTUI_REPLAY=")
    assert "Traceback" not in done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr


def test_a_folder_a_fifo_or_a_device_as_replay_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo, Path("/dev/zero")):
        with pytest.raises(ReplayError) as caught:
            load_recording(path)
        assert "\n" not in str(caught.value)


def test_children_get_the_standin_only_in_replay_mode() -> None:
    plain = {"PATH": "/bin", "PYTHONPATH": "/x"}
    assert replay_environment(plain) == plain
    replayed = replay_environment({**plain, REPLAY_VARIABLE: "tests/fixtures/gpus/h200-sxm-1.json"})
    assert replayed["PYTHONPATH"].split(os.pathsep) == [STANDIN_DIR, "/x"]
    assert os.path.isabs(replayed[REPLAY_VARIABLE])
    assert replayed[STATE_VARIABLE]
    # Applying it twice does not add the stand-in twice.
    assert replay_environment(replayed)["PYTHONPATH"] == replayed["PYTHONPATH"]


ROUND_TRIP = """
import json, sys
sys.path.insert(0, {fixtures!r})
import record_machine as record
from probes.replay import ReplayedNvml, load_recording, state_dir
recording = load_recording({path!r})
nvml = ReplayedNvml.from_recording(recording)
import torch
record.LOAD_SECONDS, record.SAMPLE_S, record.GEMM_N = 0.6, 0.05, 64
print(json.dumps(record.record_machine("again", nvml, torch)))
"""


@pytest.mark.parametrize("name", ["h100-sxm-8", "a100-mig"])
def test_the_recorder_writes_what_replay_reads(name: str, tmp_path: Path) -> None:
    """record(replay(X)) == X: the recorder of bench/gpu_session.sh, run on a replayed machine
    (replayed NVML, the CUDA stand-in in real torch), writes the recording it replayed."""
    original = _data(name)
    code = ROUND_TRIP.format(fixtures=str(GPUS), path=str(GPUS / f"{name}.json"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUDA_", "MLTUI_"))}
    env.update({REPLAY_VARIABLE: str(GPUS / f"{name}.json"), STATE_VARIABLE: str(tmp_path)})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=replay_environment(env),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads(done.stdout)
    assert recording_problems(again) == []
    for before, after in zip(original["nvml"]["devices"], again["nvml"]["devices"], strict=True):
        shared = (set(before) & set(after)) - {"under_load", "mig_devices"}
        assert {k: after[k] for k in shared} == {k: before[k] for k in shared}
        if "under_load" in before and not before.get("mig_devices"):
            for function, value in after["under_load"].items():
                assert value == before["under_load"].get(function, before.get(function))
    assert [d["uuid"] for d in again["cuda"]["devices"]] == [
        d["uuid"] for d in original["cuda"]["devices"]
    ]
    for before, after in zip(original["cuda"]["devices"], again["cuda"]["devices"], strict=True):
        if not before.get("mig_enabled"):
            for key in ("name", "total_memory", "major", "minor", "multi_processor_count"):
                assert after[key] == before[key]
        else:
            assert [m["uuid"] for m in after["mig"]] == [m["uuid"] for m in before["mig"]]
    assert again["cuda"]["version"] == original["cuda"]["version"]


@pytest.mark.parametrize("name", RECORDINGS)
def test_under_load_readings_look_like_real_cards(name: str) -> None:
    """Issue 18: "under load" is what a working card reads, not its maxima. SXM Hoppers under a
    GEMM sit at their power limit, power-capped at 1.6-1.8 GHz (not 1980 MHz)."""
    for device in _data(name)["nvml"]["devices"]:
        load = device.get("under_load")
        if not load:
            continue
        sm = load["nvmlDeviceGetClockInfo"]["by_args"]["1"]
        sm_max = device["nvmlDeviceGetMaxClockInfo"]["by_args"]["1"]
        limit = device["nvmlDeviceGetEnforcedPowerLimit"]
        power = load["nvmlDeviceGetPowerUsage"]
        assert 0 < sm <= sm_max
        assert 0.9 * limit <= power <= limit
        assert load["nvmlDeviceGetUtilizationRates"]["gpu"] == 100
        assert load["nvmlDeviceGetCurrentClocksEventReasons"] & 0x4  # SW power cap
        idle_sm = device["nvmlDeviceGetClockInfo"]["by_args"]["1"]
        assert sm > idle_sm
        if "H100" in device["nvmlDeviceGetName"] or "H200" in device["nvmlDeviceGetName"]:
            assert 1600 <= sm <= 1800 and sm < sm_max


DUMPS = Path(os.environ.get("MLTUI_GPU_DUMPS", ROOT.parent / "shared" / "gpu-dumps"))


@pytest.mark.skipif(not DUMPS.is_dir(), reason="the public dumps are not on this machine")
@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_committed_recording_is_the_transcription_of_its_dumps(name: str) -> None:
    """The fixtures are what tests/fixtures/gpus/build.py makes of the dumps they cite."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_build", GPUS / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert json.loads(json.dumps(build.MACHINES[name](DUMPS))) == _data(name)
