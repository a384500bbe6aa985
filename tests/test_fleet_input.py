"""What the fleet reads from outside is bounded and parsed by one reader (issue 17, classes 1
and 5), and the fleet's launchers are one protocol with a registry (issue 21, items 2 and 3).

Nodes are played by a fake `ssh` on PATH (a real program at the one boundary we cannot have
here, a remote login), which prints what each test says: reports among banners, reports too
large, output without end, long non-ASCII errors. Real `mltui fleet` processes, real files.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from probes.fleet import registry
from probes.fleet.launch import (
    MIB,
    FleetError,
    NodeCallback,
    NodeCommand,
    NodeLedger,
    NodeOutput,
    node_from_output,
    parse_check,
)
from probes.fleet.model import NodeResult
from probes.fleet.ray_launch import row_from_event
from probes.fleet.registry import LauncherKind, launcher_kinds, register_launcher
from probes.fleet.run import run_fleet
from probes.fleet.ssh import parse_hosts, read_hosts, ssh_argv
from probes.libraries import PROBE_CACHE_VARIABLE, probe_env, usable_probe_cache
from tests.fleet_reports import local_check_data
from tests.test_fault_matrix import fake_python, marker, mltui
from tests.test_untrusted_json import BAD_VECTORS
from tui.fleet_args import add_fleet_arguments, build_launcher, parse_fleet_words

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["marker"]


@pytest.fixture(scope="module")
def report_text() -> str:
    """This machine's real check as a node prints it (`mltui check --json`, indented)."""
    return json.dumps(local_check_data(), indent=2)


# --------------------------------------------------------------------- finding the report


BANNERS = {
    "motd": "Welcome to gpu7 (Ubuntu 22.04)\n * Documentation: https://help.ubuntu.com\n",
    "braces in the banner": "{ maintenance window: Sat } \n{\n",
    "a JSON-looking line": '{"motd": "hello"}\n',
    "brackets only": "[[[[[[\n",
    "nothing": "",
}
TRAILERS = {
    "logout": "\nlogout\n",
    "connection closed": "\nConnection to gpu7 closed.\n",
    "a stray brace": "\n}\n",
    "a second object": '\n{"more": 1}\n',
    "nothing": "",
}


@pytest.mark.parametrize("banner", list(BANNERS))
@pytest.mark.parametrize("trailer", list(TRAILERS))
def test_the_report_is_found_between_a_banner_and_trailing_text(
    banner: str, trailer: str, report_text: str
) -> None:
    row = node_from_output("n1", BANNERS[banner] + report_text + TRAILERS[trailer], [], 0)
    assert row.check is not None, row.reason
    assert row.state in ("ok", "findings")


def test_a_one_line_report_after_a_banner_is_found(report_text: str) -> None:
    compact = json.dumps(json.loads(report_text))
    row = node_from_output("n1", "Last login: Sat Dec  5\n" + compact + "\nbye\n", [], 0)
    assert row.check is not None, row.reason


JSON_LOG = "".join(f'{{"event": "logout hook", "n": {n}}}\n' for n in range(20))
AROUND_THE_REPORT = {
    "printed twice": lambda report: report + "\n" + report + "\n",
    "then a log of JSON lines": lambda report: report + "\n" + JSON_LOG,
    "a JSON log before and after": lambda report: JSON_LOG + report + "\n" + JSON_LOG,
    "a byte-order mark before it": lambda report: "\ufeff" + report,
    "a colour reset before it": lambda report: "\x1b[0m\x1b[?2004l" + report,
    "a window title before it": lambda report: "\x1b]0;gpu7\x07" + report,
    "CRLF line ends": lambda report: report.replace("\n", "\r\n") + "\r\n",
}


@pytest.mark.parametrize("around", list(AROUND_THE_REPORT))
def test_the_report_is_read_to_its_own_end_whatever_follows_or_precedes_it(
    around: str, report_text: str
) -> None:
    """The bounded decoder says where the report ends, so a second copy, a log of one-line JSON
    objects (more than a few candidate ends) or terminal noise before its brace never spoil it."""
    row = node_from_output("n1", AROUND_THE_REPORT[around](report_text), [], 0)
    assert row.check is not None, row.reason
    assert row.state in ("ok", "findings")


def test_a_report_cut_by_interleaved_stderr_is_invalid_json_not_another_object(
    report_text: str,
) -> None:
    """Half a report, a stderr line, the other half: its inner objects are not taken for it."""
    half = len(report_text) // 2
    row = node_from_output("n1", report_text[:half] + "\nWarning: x\n" + report_text[half:], [], 0)
    assert row.check is None and row.state == "failed"
    assert "not valid JSON" in (row.reason or ""), row.reason


@pytest.mark.parametrize("name", list(BAD_VECTORS))
def test_a_node_report_that_is_bad_json_degrades_only_its_row(name: str) -> None:
    text = BAD_VECTORS[name]
    stdout = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    row = node_from_output("n1", "banner\n" + stdout, [], 0)
    assert row.check is None and row.state == "failed"
    assert row.reason


def test_a_bad_report_does_not_cost_the_healthy_rows(report_text: str) -> None:
    """A report nested 100,000 deep among healthy ones: fleet --json keeps the healthy nodes."""
    deep = "[" * 100_000 + "]" * 100_000
    rows = [
        node_from_output(name, text, [], 0)
        for name, text in (("good1", report_text), ("deep", deep), ("good2", report_text))
    ]
    assert [row.state in ("ok", "findings") for row in rows] == [True, False, True]


# ---------------------------------------------------------------------- bounded output


def test_node_output_stops_keeping_at_its_limit() -> None:
    output = NodeOutput(100)
    assert output.add(["x" * 40, "y" * 40])
    assert not output.add(["z" * 40])
    assert output.over and output.lines == []
    row = node_from_output("n1", output, ["stderr line"], None)
    assert row.state == "failed" and row.reason == "report larger than 9.537e-05 MiB"


def test_node_output_counts_utf8_bytes() -> None:
    output = NodeOutput(100)
    assert not output.add(["ж" * 60])  # 60 characters, 120 bytes


def test_a_report_larger_than_the_limit_says_so(report_text: str) -> None:
    assert len(report_text) > 2048
    assert parse_check(report_text, 2048) == "printed a report larger than 0.001953 MiB"


def _fake_ssh(folder: Path, body: str) -> dict[str, str]:
    """An environment whose `ssh` runs the Python `body` (its argv ignored)."""
    folder.mkdir(parents=True, exist_ok=True)
    ssh = folder / "ssh"
    ssh.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body), encoding="utf-8")
    ssh.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
    }


def _fleet_max_rss(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[Any, int, int]:
    """Run `mltui fleet ARGS --json`; (its report, exit status, the largest RSS in KiB)."""
    probe = textwrap.dedent(
        """
        import resource, subprocess, sys
        done = subprocess.run(sys.argv[1:], stdout=open(sys.argv[0] + ".out", "w"))
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(done.returncode, rss)
        """
    )
    script = Path(env["PATH"].split(os.pathsep)[0]) / "measure.py"
    script.write_text(probe, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), sys.executable, "-m", "tui.cli", "fleet", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status, rss = (int(word) for word in done.stdout.split())
    report = json.loads(Path(str(script) + ".out").read_text(encoding="utf-8"))
    return report, status, rss


#: What a node prints without end, each its own way.
ENDLESS = {
    "lines": "import sys\nwhile True:\n    sys.stdout.write('{\"event\": 1}\\n' * 4096)\n",
    "one line without a newline": "import sys\nwhile True:\n    sys.stdout.write('[' * 65536)\n",
    "non-ASCII lines": "import sys\nwhile True:\n    sys.stdout.write('ж' * 8000 + '\\n')\n",
}


@pytest.mark.parametrize("kind", list(ENDLESS))
def test_a_node_printing_without_end_costs_bounded_memory(kind: str, tmp_path: Path) -> None:
    env = _fake_ssh(tmp_path / "bin", ENDLESS[kind])
    report, status, rss_kib = _fleet_max_rss(
        env, "--hosts", "n1,", "--max-report-mib", "1", "--timeout", "300"
    )
    (row,) = report["nodes"]
    assert row["state"] == "failed" and row["reason"] == "report larger than 1 MiB"
    assert status == 1
    # stopped at the limit, not at the per-host time limit
    assert row["elapsed_s"] < 300
    # mltui itself (Python, Rich, the probes) is ~60 MB; 4 GB was the old figure
    assert rss_kib < 250 * 1024, f"{rss_kib / 1024:.0f} MiB"


def test_a_node_flooding_stderr_costs_bounded_memory(tmp_path: Path) -> None:
    env = _fake_ssh(
        tmp_path / "bin", "import sys\nwhile True:\n    sys.stderr.write('e' * 100000 + '\\n')\n"
    )
    report, status, rss_kib = _fleet_max_rss(env, "--hosts", "n1,", "--timeout", "4")
    (row,) = report["nodes"]
    assert row["state"] == "timed_out" and status == 1
    assert all(len(line) <= 2000 for line in row["stderr_tail"])
    assert rss_kib < 250 * 1024, f"{rss_kib / 1024:.0f} MiB"


def test_a_long_non_ascii_error_arrives_whole_over_ssh(tmp_path: Path) -> None:
    """ensure_ascii makes each character six: a 40,000-character error is a 240 KB line."""
    data = local_check_data()
    error = "Ошибка: устройство недоступно — " * 1250
    data["libraries"][0]["error"] = error
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(data, indent=2), encoding="utf-8")  # ensure_ascii
    env = _fake_ssh(
        tmp_path / "bin",
        f"print('Welcome!')\nprint(open({str(report_file)!r}).read())\nprint('logout')\n",
    )
    report, status, _ = _fleet_max_rss(env, "--hosts", "n1,n2", "--timeout", "60")
    assert [row["state"] in ("ok", "findings") for row in report["nodes"]] == [True, True]
    assert status in (0, 1)  # 1 when this machine's own check has an error finding
    assert report["nodes"][0]["check"]["libraries"][0]["error"] == error


def test_a_host_that_hangs_after_printing_its_report_keeps_its_report(tmp_path: Path) -> None:
    """A daemon started on the node keeps ssh's channel open after the report: the host is
    stopped at its time limit, and its row is the report it printed (saying it did not exit),
    not "no report within N s". A host that prints nothing and hangs is still timed out."""
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(local_check_data(), indent=2), encoding="utf-8")
    env = _fake_ssh(
        tmp_path / "bin",
        f"""
        import sys, threading
        if "silent" not in " ".join(sys.argv):
            print(open({str(report_file)!r}).read(), flush=True)
        threading.Event().wait()  # waits-for: nothing; the host's time limit ends it
        """,
    )
    # 12 s: room for the fake ssh (a Python) to start and print on a loaded machine
    report, _, _ = _fleet_max_rss(env, "--hosts", "talks,silent", "--timeout", "12")
    rows = {row["name"]: row for row in report["nodes"]}  # both end at the limit: any order
    talks, silent = rows["talks"], rows["silent"]
    assert talks["state"] in ("ok", "findings"), talks
    assert talks["check"] is not None
    assert "did not exit within 12 s" in talks["reason"]
    assert silent["state"] == "timed_out" and silent["check"] is None


# --------------------------------------------------------------------------- --hosts


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "symlink to /dev/zero", "folder", "big"])
def test_a_hosts_file_that_is_not_a_bounded_regular_file_is_one_line_and_exit_2(
    kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "hosts"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "/dev/zero":
        path = Path("/dev/zero")
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        with path.open("wb") as sparse:
            sparse.truncate(64 * MIB)
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "fleet", "--hosts", str(path), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_hosts_are_deduplicated_in_linear_time() -> None:
    """Ten times the hosts may cost about ten times as long, not a hundred (ratio, same run)."""

    def cost(count: int) -> float:
        text = "\n".join(f"gpu{i}.cluster # rack {i % 40}" for i in range(count)) + "\ngpu0.cluster"
        best = float("inf")
        for _ in range(3):
            gc.collect()
            gc.disable()  # a collection in one run but not the other is not the code's
            try:
                started = time.process_time()  # CPU seconds: other programs' load not counted
                hosts = parse_hosts(text)
                best = min(best, time.process_time() - started)
            finally:
                gc.enable()
        assert len(hosts) == count
        return best

    small, large = cost(4_000), cost(40_000)
    assert large / small < 30, f"{large / small:.1f}x for 10x the hosts"


def test_a_hosts_list_keeps_order_without_repeats(tmp_path: Path) -> None:
    assert read_hosts("b,a,b,,c,a") == ["b", "a", "c"]
    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"x1\nx2 # c\n\xff\xfe-bad\n")
    with pytest.raises(FleetError):
        read_hosts(str(hosts))


def test_a_hosts_file_saved_with_a_bom_and_crlf_names_the_same_hosts() -> None:
    """A Windows editor's byte-order mark is not part of the first host, nor CR of any."""
    assert parse_hosts("\ufeffgpu1\r\ngpu2\r\n") == ["gpu1", "gpu2"]


def test_a_host_written_in_two_cases_is_contacted_once() -> None:
    """ssh lowercases host names: Node1, node1 and NODE1 are one host (the first spelling
    kept); user names are case-sensitive, so bob@gpu and Bob@gpu stay two."""
    assert parse_hosts("Node1\nnode1\nNODE1\nbob@gpu\nbob@GPU\nBob@gpu\n") == [
        "Node1",
        "bob@gpu",
        "Bob@gpu",
    ]
    assert read_hosts("a,A,b") == ["a", "b"]


@pytest.mark.parametrize(
    "host",
    [
        "gpu\u200b1",
        "gpu1\u202e",
        "\ufeffgpu1",
        "gpu\x9b1",
        "gpu\ue0001",
        "\U000e0041gpu",
        "h:0",
        "h:70000",
    ],
)
def test_a_host_with_invisible_or_control_characters_or_a_bad_port_is_refused(host: str) -> None:
    """Zero-width, bidi, BOM, C1 control, private-use, tag characters: no host name has them."""
    with pytest.raises(FleetError):
        parse_hosts(f"ok\nx {host}\n{host}\n")


@pytest.mark.parametrize(
    ("host", "destination"),
    [
        ("user@gpu1:2222", "ssh://user@gpu1:2222"),
        ("gpu1:22", "ssh://gpu1:22"),
        ("[::1]:2200", "ssh://[::1]:2200"),
        ("root@[fe80::1]", "ssh://root@[fe80::1]"),
        ("fe80::1", "fe80::1"),
        ("user@gpu1", "user@gpu1"),
        ("ssh://gpu1:22", "ssh://gpu1:22"),
    ],
)
def test_a_host_with_a_port_reaches_ssh_as_a_destination_it_reads(
    host: str, destination: str
) -> None:
    """Plain ssh reads `gpu1:22` as a host name ("Could not resolve hostname gpu1:22"); a
    port goes through ssh's URI form, after the `--` that ends ssh's options."""
    assert parse_hosts(host) == [host]
    argv = ssh_argv(host, "mltui check --json", connect_timeout=5)
    assert argv[-3:] == ["--", destination, "mltui check --json"]


# ------------------------------------------------------------------ the probe cache folder


@pytest.mark.parametrize("kind", ["fifo", "file", "symlink to /dev/zero", "relative"])
def test_a_probe_cache_folder_that_is_not_a_folder_is_not_used(kind: str, tmp_path: Path) -> None:
    folder = tmp_path / "probe"
    if kind == "fifo":
        os.mkfifo(folder)
    elif kind == "file":
        folder.write_text("x", encoding="utf-8")
    elif kind == "symlink to /dev/zero":
        folder.symlink_to("/dev/zero")
    value = "probe" if kind == "relative" else str(folder)
    assert usable_probe_cache(value) == ""
    assert probe_env({PROBE_CACHE_VARIABLE: value})[PROBE_CACHE_VARIABLE] == ""


def test_a_probe_cache_folder_that_is_a_folder_or_not_yet_made_is_used(tmp_path: Path) -> None:
    assert usable_probe_cache(str(tmp_path)) == str(tmp_path)
    assert usable_probe_cache(str(tmp_path / "later")) == str(tmp_path / "later")


def _probe_script_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "probe_library_for_test", ROOT / "probes" / "scripts" / "probe_library.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "kind", ["symlink to /dev/zero", "fifo", "huge", "deep", "NaN", "a list", "not UTF-8"]
)
def test_the_probe_reads_a_remembered_failure_only_from_a_bounded_file(
    kind: str, tmp_path: Path
) -> None:
    script = _probe_script_module()
    path = tmp_path / "theano-c-failed-x.json"
    if kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        path.write_text('{"c_backend_error": "' + "x" * (1024 * 1024) + '"}', encoding="utf-8")
    elif kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    elif kind == "NaN":
        path.write_text('{"c_backend_error": NaN}', encoding="utf-8")
    elif kind == "a list":
        path.write_text('["c_backend_error"]', encoding="utf-8")
    else:
        path.write_bytes(b'{"c_backend_error": "\xff"}')
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert script.read_c_failure(str(path)) is None
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024
    good = tmp_path / "good.json"
    script.remember_c_failure(str(good), "g++: error: no such file")
    assert script.read_c_failure(str(good)) == "g++: error: no such file"


# ------------------------------------------------------------ one protocol, one registry


@dataclass
class EchoLauncher:
    """A fourth launcher, as a test writes one: each "node" is a local `echo` of a report."""

    nodes: list[str]
    report: str
    name: str = "echo"

    def describe(self) -> str:
        return f"echo: {len(self.nodes)} nodes"

    async def run(
        self,
        command: NodeCommand,
        on_node: NodeCallback,
        env: dict[str, str] | None,
        cancel: asyncio.Event | None,
    ) -> None:
        ledger = NodeLedger(on_node)
        for name in self.nodes[:-1]:  # the last one never answers
            ledger.report(node_from_output(name, self.report, [], 0))
        ledger.fill_missing(self.nodes, lambda name: NodeResult(name, "failed", "no answer"))


def test_a_fourth_launcher_is_one_class_and_one_registration(
    report_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_file = tmp_path / "report.json"
    report_file.write_text(report_text, encoding="utf-8")

    def add(parser: argparse.ArgumentParser, choose: argparse._MutuallyExclusiveGroup) -> None:
        choose.add_argument("--echo", metavar="NODES", help="echo a report per node")

    def build(args: argparse.Namespace) -> EchoLauncher:
        return EchoLauncher(args.echo.split(","), report_file.read_text(encoding="utf-8"))

    monkeypatch.setattr(registry, "_KINDS", {})
    register_launcher(LauncherKind("echo", "echo", "--echo NODES", add, build))
    assert [kind.name for kind in launcher_kinds()][:3] == ["slurm", "ray", "ssh"]
    launcher, command, _ = parse_fleet_words("--echo a,b,c --only sklearn")
    assert isinstance(launcher, EchoLauncher)
    report = asyncio.run(run_fleet(launcher, command))
    assert report.launcher == "echo" and report.target == "echo: 3 nodes"
    assert [(node.name, node.check is not None) for node in report.nodes] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
    with pytest.raises(FleetError, match="--partition is a Slurm option"):
        parse_fleet_words("--echo a -p gpu")
    with pytest.raises(FleetError, match="--hosts FILE or --echo NODES"):
        parse_fleet_words("--only sklearn")


def test_a_launcher_name_cannot_be_taken_twice() -> None:
    kind = launcher_kinds()[0]
    with pytest.raises(ValueError, match="two launchers"):
        register_launcher(LauncherKind(kind.name, "x", "--x", kind.add_arguments, kind.build))


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("--hosts a, -p gpu", "--partition is a Slurm option; it does not go with --hosts"),
        ("--ray --srun-arg=-x", "--srun-arg is a Slurm option; it does not go with --ray"),
        ("--slurm --ssh-config x", "--ssh-config is an SSH option; it does not go with --slurm"),
        ("--slurm --ray", "not allowed with argument"),
        ("--hosts a, --max-report-mib 0", "must be above zero"),
        ("--hosts", "expected one argument"),
        ("--help", "unrecognized arguments: --help"),
        ("--hosts 'a,", "cannot split"),
    ],
)
def test_the_panes_words_are_the_clis_words(words: str, message: str) -> None:
    with pytest.raises(FleetError, match=message):
        parse_fleet_words(words)


def test_the_words_build_each_launcher() -> None:
    parser = argparse.ArgumentParser()
    add_fleet_arguments(parser)
    names = {
        "--slurm -p gpu -N 2": "slurm",
        "--ray": "ray",
        "--ray 10.0.0.1:6379": "ray",
        "--hosts a,b": "ssh",
    }
    for words, name in names.items():
        launcher = build_launcher(parser.parse_args(words.split()))
        assert launcher.name == name
    _, command, _ = parse_fleet_words("--hosts a, --max-report-mib 0.5")
    assert command.max_report_bytes == MIB // 2


def test_the_fleet_pane_does_not_import_the_cli() -> None:
    """The circle app -> panes -> fleet_pane -> cli -> dashboard -> app is gone."""
    code = (
        "import sys, tui.widgets.fleet_pane\n"
        "print(sorted(m for m in sys.modules if m.startswith('tui.cli')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "bad",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"nvml": {"a": ' + "[" * 5000 + "]" * 5000 + '}, "system": {}}',
        '{"nvml": NaN, "system": 1e999}',
        "\n".join(["{"] * 50_000),
    ],
    ids=["100,000 deep", "deep inside a report", "NaN and 1e999", "50,000 opening lines"],
)
def test_fleet_json_keeps_the_healthy_nodes_beside_a_hostile_one(bad: str, tmp_path: Path) -> None:
    """One node prints a hostile report; `fleet --json` still has the other nodes' reports."""
    data = local_check_data()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(data, indent=2), encoding="utf-8")
    hostile = tmp_path / "bad.json"
    hostile.write_text(bad, encoding="utf-8")
    env = _fake_ssh(
        tmp_path / "bin",
        f"import sys\nhost = sys.argv[-2]\n"
        f"print(open({str(hostile)!r} if host == 'evil' else {str(good)!r}).read())\n",
    )
    report, status, _ = _fleet_max_rss(env, "--hosts", "a,evil,b", "--timeout", "60")
    states = {row["name"]: row["state"] for row in report["nodes"]}
    assert states["evil"] == "failed" and status == 1
    assert states["a"] in ("ok", "findings") and states["b"] in ("ok", "findings")
    (evil,) = [row for row in report["nodes"] if row["name"] == "evil"]
    assert "Traceback" not in json.dumps(evil) and evil["reason"]


def test_check_json_writes_non_ascii_text_as_utf8(tmp_path: Path, marker: str) -> None:
    """The node side: `mltui check --json` keeps a long non-ASCII error one character per
    character (ensure_ascii would make a 40,000-character error a 240 KB line)."""
    error = "Ошибка: устройство недоступно — " * 1250
    body = (
        "import json\n"
        f"print(json.dumps({{'event': 'report', 'status': 'import_error', 'error': {error!r}}}))\n"
    )
    python = fake_python(tmp_path, marker, body)
    done = mltui(
        "check", "--python", str(python), "--only", "sklearn", "--json",
        cache=tmp_path / "cache", marker=marker, env={"PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "Ошибка" in done.stdout and "\\u041e" not in done.stdout
    longest = max(len(line.encode("utf-8")) for line in done.stdout.splitlines())
    assert longest < 2 * len(error.encode("utf-8"))
    assert json.loads(done.stdout)["libraries"][0]["error"].startswith(error[:200])


@pytest.mark.parametrize("name", [n for n, text in BAD_VECTORS.items() if isinstance(text, str)])
def test_a_ray_node_whose_check_is_bad_json_is_a_failed_row(name: str) -> None:
    row = row_from_event({"event": "node", "name": "n1", "check": BAD_VECTORS[name]})
    assert row.name == "n1" and row.state == "failed" and row.check is None


def test_a_ray_node_whose_check_is_over_the_limit_says_so(report_text: str) -> None:
    event = {"event": "node", "name": "n1", "check": report_text, "elapsed_s": 2.0}
    assert row_from_event(event, 1024).reason == "report larger than 0.0009766 MiB"
    assert row_from_event(event).check is not None


@pytest.mark.parametrize("mib", ["1e308", "4097", "1e20"])
def test_a_report_limit_too_large_to_hold_is_a_usage_error(mib: str, tmp_path: Path) -> None:
    """`--max-report-mib 1e308` became an infinite byte count: an OverflowError traceback."""
    with pytest.raises(FleetError, match="at most 4096 MiB"):
        parse_fleet_words(f"--hosts a, --max-report-mib {mib}")
    ran = mltui("fleet", "--hosts", "a,", "--max-report-mib", mib, cache=tmp_path, marker="x")
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr


def test_a_baseline_path_under_an_unknown_home_is_an_oserror_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MLTUI_BASELINE='~nosuchuser/b.json': pathlib raised RuntimeError, which the Hardware
    pane's baseline line and the Fleet pane's `b` (both catching OSError) let through, ending
    the dashboard. One expansion (probes.files.expand_user) makes it an OSError naming it."""
    from probes.health.model import default_baseline_path
    from tui.baseline_view import BaselineView

    monkeypatch.setenv("MLTUI_BASELINE", "~nosuchuser-mltui/b.json")
    with pytest.raises(OSError, match=r"MLTUI_BASELINE=~nosuchuser-mltui/b\.json"):
        default_baseline_path()
    assert BaselineView().words(None) is None
