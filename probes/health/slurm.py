"""Drain or resume this Slurm node by a health verdict, the way NHC's helpers do, without their
known failures.

- Only a verdict acts: `unknown` (a timeout, a probe that did not finish) leaves the node as it is,
  so a loaded node does not flap between drained and resumed.
- A drain carries the reason prefix `mltui:`; a node is resumed only when its current reason
  starts with it, so an administrator's drain ("maintenance") is never lifted, and never
  overwritten either. A node Slurm or an administrator took out otherwise (DOWN, FAIL) is left
  as it is: a RESUME would bring it back up, a DRAIN would replace the reason it carries.
- Every scontrol call has a bounded timeout and runs in its own process group (killed whole): at
  slurmd's start, before the node has registered, scontrol can wait on slurmctld for long.
- slurmd gives its HealthCheckProgram almost no environment (measured: only SLURMD_NODENAME and
  PWD, no PATH and no SLURM_CONF), so scontrol is also looked for in the usual folders, and the
  slurm.conf can be named (SLURM_CONF, or --slurm-conf).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from probes.health.model import HealthVerdict
from probes.process import run_captured

#: Every reason mltui writes starts with this; only such a drain is ever lifted by mltui.
REASON_PREFIX = "mltui:"
#: The most seconds one scontrol call may take.
SCONTROL_TIMEOUT_S = 10.0
#: A call with less time than this left before the run's end is not made.
MIN_CALL_S = 0.5
#: Where scontrol is looked for when PATH does not have it (slurmd passes no PATH).
SLURM_BIN_DIRS = (
    "/usr/bin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/local/sbin",
    "/opt/slurm/bin",
    "/usr/local/slurm/bin",
)
#: The longest reason written (Slurm shows it in sinfo/squeue columns).
MAX_REASON_CHARS = 200

DrainAction = Literal[
    "drained",  # the node was drained now, with an mltui: reason
    "resumed",  # the node was healthy again and its mltui: drain was lifted
    "kept",  # someone else drained the node: left drained, their reason kept
    "none",  # nothing to do (healthy and not drained by mltui, already drained, or no verdict)
    "failed",  # scontrol could not be run or did not answer: the node was left as it is
]


@dataclass
class DrainOutcome:
    """What `--drain` did to the node, and why."""

    action: DrainAction
    detail: str


@dataclass
class SlurmNodeState:
    """A node as scontrol shows it: its state flags and its current reason ("" for none)."""

    state: str
    reason: str

    @property
    def flags(self) -> set[str]:
        """The state's words: "DOWN+DRAIN+NOT_RESPONDING" -> {"DOWN", "DRAIN", "NOT_RESPONDING"}
        (sinfo's suffixes such as `*` and `~` dropped)."""
        return {word.strip("*~#!%$@^-").upper() for word in self.state.split("+")}

    @property
    def drained(self) -> bool:
        """True when the node is drained or draining (for whatever reason)."""
        return "DRAIN" in self.flags

    @property
    def out_of_service(self) -> bool:
        """True when Slurm or an administrator took the node out by other means than a drain
        (DOWN, FAIL): mltui neither adds its drain to that nor lifts it."""
        return bool(self.flags & {"DOWN", "FAIL", "FAILING"})


def find_scontrol(environ: Mapping[str, str] | None = None) -> str | None:
    """The scontrol program: on PATH, else in the usual folders; None when there is none."""
    env = os.environ if environ is None else environ
    found = shutil.which("scontrol", path=env.get("PATH") or None)
    if found is not None:
        return found
    return shutil.which("scontrol", path=os.pathsep.join(SLURM_BIN_DIRS))


def drain_reason(reason: str) -> str:
    """The Slurm reason for a verdict's reason: prefixed, one line, bounded."""
    text = f"{REASON_PREFIX} {reason}"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def parse_show_node(text: str) -> SlurmNodeState | None:
    """The state and reason from `scontrol show node NAME`, or None when there is no State."""
    state: str | None = None
    reason = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Reason="):
            reason = line[len("Reason=") :]
            # scontrol appends who set it and when: "maintenance [root@2026-12-05T04:40:00]"
            if reason.endswith("]") and " [" in reason:
                reason = reason[: reason.rindex(" [")]
            continue
        for word in line.split():
            if word.startswith("State="):
                state = word[len("State=") :]
    if state is None:
        return None
    return SlurmNodeState(state=state, reason=reason)


class Scontrol:
    """scontrol for one node, each call bounded by `timeout` seconds."""

    def __init__(
        self,
        node: str,
        *,
        program: str,
        slurm_conf: str | None = None,
        timeout: float = SCONTROL_TIMEOUT_S,
        end_by: float | None = None,
    ) -> None:
        self.node = node
        self.program = program
        self.timeout = timeout
        #: time.monotonic() by which every call has ended (slurmd kills its health program
        #: at 60 s: the calls share what is left, each one is not given `timeout` afresh).
        self.end_by = end_by
        self.env = dict(os.environ)
        if slurm_conf:
            self.env["SLURM_CONF"] = slurm_conf

    def _run(self, *words: str) -> tuple[bool, str]:
        """(ok, stdout or a one-line reason it failed)."""
        argv = [self.program, *words]
        timeout = self.timeout
        if self.end_by is not None:
            timeout = min(timeout, self.end_by - time.monotonic())
            if timeout < MIN_CALL_S:
                return False, f"no time left for scontrol {words[0]} within the run's deadline"
        try:
            status, out, err = run_captured(argv, timeout=timeout, env=self.env)
        except OSError as exc:
            return False, f"cannot run {self.program}: {exc.strerror or exc}"
        if status is None:
            return False, (
                f"scontrol did not answer within {timeout:.3g} s (slurmctld unreachable, or "
                "slurmd has not registered yet)"
            )
        if status != 0:
            first = (err or out).decode("utf-8", "replace").strip().splitlines()
            return False, f"scontrol {words[0]} failed: {first[0] if first else f'exit {status}'}"
        return True, out.decode("utf-8", "replace")

    def show(self) -> SlurmNodeState | str:
        """The node's state and reason, or why they could not be read."""
        ok, text = self._run("show", "node", self.node)
        if not ok:
            return text
        parsed = parse_show_node(text)
        return parsed if parsed is not None else f"scontrol shows no state for node {self.node}"

    def update(self, *fields: str) -> str | None:
        """`scontrol update NodeName=… fields`; None when it worked, else why not."""
        ok, text = self._run("update", f"NodeName={self.node}", *fields)
        return None if ok else text


def apply_verdict(scontrol: Scontrol, verdict: HealthVerdict, reason: str) -> DrainOutcome:
    """Drain the node on `unhealthy`, resume an mltui drain on `healthy`, nothing on `unknown`."""
    if verdict == "unknown":
        return DrainOutcome("none", "no verdict: the node's Slurm state was left as it is")
    current = scontrol.show()
    if isinstance(current, str):
        return DrainOutcome("failed", f"{current}; the node was left as it is")
    ours = current.reason.startswith(REASON_PREFIX)
    if current.out_of_service:
        # A RESUME would bring a DOWN node back up; a DRAIN would replace the reason whoever set
        # it gave (a DOWN carries one), and the next healthy run would then lift it.
        return DrainOutcome(
            "kept",
            f"the node is {current.state} ({current.reason or 'no reason'}): left as it is",
        )
    if verdict == "healthy":
        if current.drained and ours:
            problem = scontrol.update("State=RESUME")
            if problem is not None:
                return DrainOutcome("failed", problem)
            done = DrainOutcome("resumed", f"resumed (it was drained: {current.reason})")
            return _confirmed(scontrol, done, drained=False)
        return DrainOutcome("none", "healthy")
    wanted = drain_reason(reason)
    if current.reason and not ours:
        return DrainOutcome(
            "kept", f"already drained by someone else ({current.reason or 'no reason'}); kept"
        )
    if current.drained and current.reason == wanted:
        return DrainOutcome("none", "already drained for this reason")
    problem = scontrol.update("State=DRAIN", f"Reason={wanted}")
    if problem is not None:
        return DrainOutcome("failed", problem)
    return _confirmed(scontrol, DrainOutcome("drained", f"drained: {wanted}"), drained=True)


def _confirmed(scontrol: Scontrol, done: DrainOutcome, *, drained: bool) -> DrainOutcome:
    """`done` once scontrol shows the node as it should now be; `failed` when it shows the node
    unchanged (an scontrol that exits 0 and changes nothing, a wrapper, a node name Slurm
    resolves elsewhere): the report never says "drained" of a node that is not."""
    after = scontrol.show()
    if isinstance(after, str):
        return DrainOutcome(done.action, f"{done.detail} (not confirmed: {after})")
    if after.drained != drained:
        return DrainOutcome(
            "failed",
            f"scontrol accepted the update but shows the node {after.state}"
            f" ({after.reason or 'no reason'}): it was left as it is",
        )
    return done
