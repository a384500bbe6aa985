"""`--drain`'s decision table, with an scontrol stand-in that shows a node and records each call.

The real scontrol and slurmd are in tests/test_health_slurm.py; here every combination of
verdict, Slurm state and current reason is tried, and the failures NHC users report: an scontrol
that hangs (slurmd not registered yet), one that fails, one that is not there.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import psutil
import pytest

from probes.health.slurm import (
    MAX_REASON_CHARS,
    SLURM_BIN_DIRS,
    Scontrol,
    apply_verdict,
    drain_reason,
    find_scontrol,
    parse_show_node,
)

SHOW_NODE = """NodeName=node3 Arch=x86_64 CoresPerSocket=1
   CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=1.23
   NodeAddr=host NodeHostName=host Version=22.05.8
   RealMemory=1000 AllocMem=0 FreeMem=1234 Sockets=2 Boards=1
   State={state} ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=debug
   CfgTRES=cpu=2,mem=1000M,billing=2
{reason}"""


#: What the stand-in does to its node on `update` (as slurmctld does): add or drop DRAIN and
#: set or drop the reason.
APPLY_UPDATE = r"""
if [ "$1" = update ]; then
  case "$3" in
    State=DRAIN)
      grep -q 'State=[^ ]*DRAIN' "$SHOW" || sed -i 's/State=\([^ ]*\)/State=+DRAIN/' "$SHOW"
      sed -i '/^   Reason=/d' "$SHOW"; printf '   %s [root@2026-12-05T05:03:00]
' "$4" >> "$SHOW";;
    State=RESUME) sed -i 's/+DRAIN//; /^   Reason=/d' "$SHOW";;
  esac
fi
"""


def stub(
    tmp_path: Path, state: str, reason: str, behaviour: str = "", *, applies: bool = True
) -> tuple[Scontrol, Path]:
    """An scontrol that prints the node as given, applies an update to it (unless `applies` is
    False: one that exits 0 and changes nothing) and logs its arguments, one call a line."""
    shown = SHOW_NODE.format(
        state=state, reason=f"   Reason={reason} [root@2026-12-05T05:02:00]" if reason else ""
    )
    (tmp_path / "show.txt").write_text(shown)
    calls = tmp_path / "calls.log"
    script = tmp_path / "scontrol"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {shlex.quote(str(calls))}\n'
        f"{behaviour}\n"
        f"SHOW={shlex.quote(str(tmp_path / 'show.txt'))}\n"
        f"{APPLY_UPDATE if applies else ''}\n"
        '[ "$1" = show ] && cat "$SHOW"\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return Scontrol("node3", program=str(script), timeout=2.0), calls


def calls_of(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


CASES = [
    # verdict, state, current reason, action, the update it makes (None: no update)
    ("unknown", "IDLE+DRAIN", "mltui: driver 1 where the baseline has 2", "none", None),
    ("unknown", "IDLE", "", "none", None),
    ("healthy", "IDLE+DRAIN", "mltui: driver 1 where the baseline has 2", "resumed", "RESUME"),
    ("healthy", "MIXED+DRAIN", "mltui: GPU count 7", "resumed", "RESUME"),
    ("healthy", "IDLE+DRAIN", "maintenance", "none", None),
    ("healthy", "IDLE+DRAIN", "mltuix: not ours", "none", None),
    ("healthy", "IDLE+DRAIN", "Mltui: not ours either", "none", None),
    ("healthy", "IDLE+DRAIN", "NHC: check_fs_mount failed", "none", None),
    ("healthy", "IDLE", "", "none", None),
    ("unhealthy", "IDLE", "", "drained", "DRAIN"),
    ("unhealthy", "ALLOCATED", "", "drained", "DRAIN"),
    ("unhealthy", "IDLE+DRAIN", "maintenance", "kept", None),
    ("unhealthy", "ALLOCATED+DRAIN", "Prolog error", "kept", None),
    ("unhealthy", "IDLE+DRAIN", "mltui: GPU count 7 where the baseline has 8", "none", None),
    ("unhealthy", "IDLE+DRAIN", "mltui: an older reason", "drained", "DRAIN"),
    # Out of service by other means than a drain: never drained over, never brought back up.
    ("unhealthy", "DOWN", "disk replaced, wait for vendor", "kept", None),
    ("unhealthy", "DOWN+NOT_RESPONDING", "Not responding", "kept", None),
    ("unhealthy", "IDLE+FAIL", "fan failing", "kept", None),
    ("healthy", "DOWN+DRAIN", "mltui: GPU count 7", "kept", None),
    ("healthy", "DOWN*+DRAIN", "mltui: GPU count 7", "kept", None),
    ("healthy", "IDLE+DRAIN+FAIL", "mltui: GPU count 7", "kept", None),
    ("healthy", "DOWN", "admin: rack power", "kept", None),
    # A reason someone else set on a node that is not (or no longer) drained is theirs too.
    ("unhealthy", "IDLE+REBOOT_REQUESTED", "reboot for firmware", "kept", None),
]


@pytest.mark.parametrize(("verdict", "state", "reason", "action", "update"), CASES)
def test_drain_decisions(
    tmp_path: Path, verdict: str, state: str, reason: str, action: str, update: str | None
) -> None:
    scontrol, calls = stub(tmp_path, state, reason)
    outcome = apply_verdict(scontrol, verdict, "GPU count 7 where the baseline has 8")  # type: ignore[arg-type]
    assert outcome.action == action, outcome.detail
    made = [c for c in calls_of(calls) if c.startswith("update")]
    if verdict == "unknown":
        assert calls_of(calls) == []  # no verdict: scontrol is not even asked
    if update is None:
        assert made == []
    elif update == "RESUME":
        assert made == ["update NodeName=node3 State=RESUME"]
    else:
        assert made == [
            "update NodeName=node3 State=DRAIN Reason=mltui: GPU count 7 where the baseline has 8"
        ]


def test_a_hanging_scontrol_leaves_the_node_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "hung.pid"
    scontrol, _ = stub(tmp_path, "IDLE", "", behaviour=f"echo $$ > {pid_file}; exec sleep 60")
    outcome = apply_verdict(scontrol, "unhealthy", "driver differs")
    assert outcome.action == "failed"
    assert "did not answer within 2 s" in outcome.detail and "left as it is" in outcome.detail
    assert not psutil.pid_exists(int(pid_file.read_text())), "the hung scontrol outlived its call"


def test_a_failing_scontrol_says_why(tmp_path: Path) -> None:
    scontrol, _ = stub(
        tmp_path,
        "IDLE",
        "",
        behaviour='echo "slurm_load_node error: Unable to contact slurm controller" >&2; exit 1',
    )
    outcome = apply_verdict(scontrol, "healthy", "healthy")
    assert outcome.action == "failed"
    assert "Unable to contact slurm controller" in outcome.detail


def test_no_scontrol_program(tmp_path: Path) -> None:
    scontrol = Scontrol("node3", program=str(tmp_path / "nonexistent"))
    assert apply_verdict(scontrol, "unhealthy", "x").action == "failed"


def test_scontrol_is_found_without_a_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/sh\n")
    (bin_dir / "scontrol").chmod(0o755)
    assert find_scontrol({"PATH": str(bin_dir)}) == str(bin_dir / "scontrol")
    found = find_scontrol({})  # slurmd passes no PATH: the usual folders are searched
    assert found is None or os.path.dirname(found) in SLURM_BIN_DIRS


def test_reason_is_prefixed_and_bounded() -> None:
    assert drain_reason("x") == "mltui: x"
    assert len(drain_reason("y" * 1000)) == MAX_REASON_CHARS


def test_show_node_parsing() -> None:
    parsed = parse_show_node(
        SHOW_NODE.format(state="IDLE+DRAIN", reason="   Reason=a [b] c [root@2026-12-05T05:02:00]")
    )
    assert parsed is not None and parsed.drained and parsed.reason == "a [b] c"
    assert parse_show_node("Node node9 not found") is None
    idle = parse_show_node(SHOW_NODE.format(state="IDLE", reason=""))
    assert idle is not None and not idle.drained and idle.reason == ""


def test_the_scontrol_calls_share_one_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each call got the full --scontrol-timeout afresh: a slow `show` (9.9 s) then a hanging
    `update` took 40 s of check + 19.9 s, past slurmd's kill at 60 s. The calls now end by one
    moment, and a call with no time left is not made."""
    import probes.health.slurm as slurm

    clock = [100.0]
    given: list[float] = []
    shown = SHOW_NODE.format(state="IDLE", reason="").encode()

    def slow_scontrol(argv: list[str], *, timeout: float, env: object) -> tuple:
        given.append(timeout)
        clock[0] += min(timeout, 9.9)  # slurmctld is slow to answer, or does not at all
        if argv[1] == "show":
            return 0, shown, b""
        return None, b"", b""  # the update did not answer within its timeout

    monkeypatch.setattr(slurm, "run_captured", slow_scontrol)
    monkeypatch.setattr(slurm.time, "monotonic", lambda: clock[0])
    scontrol = Scontrol("node3", program="scontrol", timeout=10.0, end_by=110.0)
    outcome = apply_verdict(scontrol, "unhealthy", "GPU count 7")
    assert outcome.action == "failed"
    assert given == [10.0]  # 0.1 s left for the update: under MIN_CALL_S, not made
    assert clock[0] <= 110.0
    spent = Scontrol("node3", program="scontrol", timeout=10.0, end_by=clock[0] + 0.2)
    before = len(given)
    assert apply_verdict(spent, "unhealthy", "x").action == "failed"
    assert len(given) == before  # no time left: scontrol is not started at all


@pytest.mark.parametrize(
    ("verdict", "state", "reason"),
    [("unhealthy", "IDLE", ""), ("healthy", "IDLE+DRAIN", "mltui: GPU count 7")],
)
def test_an_update_that_changes_nothing_is_not_reported_done(
    tmp_path: Path, verdict: str, state: str, reason: str
) -> None:
    """scontrol exits 0 and the node is as it was (a wrapper, a name Slurm resolves elsewhere):
    the report said "drained"/"resumed" of a node that was not."""
    scontrol, calls = stub(tmp_path, state, reason, applies=False)
    outcome = apply_verdict(scontrol, verdict, "GPU count 7")  # type: ignore[arg-type]
    assert outcome.action == "failed", outcome.detail
    assert f"shows the node {state}" in outcome.detail
    assert calls_of(calls)[-1] == "show node node3"  # looked again after the update
