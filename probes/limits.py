"""Named default time and size limits shared by the probes, the CLI and the dashboard.

One value, one place: a timeout written as a bare number in two modules drifts apart the first
time one of them changes. Import the name; do not write the number.
"""

from __future__ import annotations

PROBE_TIMEOUT_S = 120.0
"""Time one library probe (one script in the target interpreter) may take before it is killed."""

RUN_TIMEOUT_S = 600.0
"""Time a whole fleet run (Slurm job or Ray driver) may take before it is stopped."""

SSH_HOST_TIMEOUT_S = 180.0
"""Time each host of an ssh fleet run may take (connection, check and reply together)."""
