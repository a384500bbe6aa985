"""Values that may be missing, put into sentences: the ONE place a finding's words get them.

A finding or a skew line is built from facts a machine may not have given (no driver version,
a tie with no majority, a library without a version). Written straight into an f-string such a
fact reads "the driver None", "where  are expected" or "GPU None". Every message of the
diagnosis (probes/diagnosis.py) and the fleet's skew (probes/fleet/aggregate.py) puts a value
that may be missing through `shown`, and words that only make sense with the value through
`phrase`.
"""

from __future__ import annotations

#: What a missing value reads as.
UNKNOWN = "unknown"


def is_missing(value: object) -> bool:
    """True for None and for text that is empty or only white space."""
    return value is None or (isinstance(value, str) and not value.strip())


def shown(value: object, missing: str = UNKNOWN) -> str:
    """`value` as text, or `missing` ("unknown" unless said) when there is none."""
    return missing if is_missing(value) else str(value)


def phrase(template: str, value: object, missing: str = "") -> str:
    """`template` with `value` in its `{}`, or `missing` (default: nothing) when there is none.

    `phrase(" ({})", lib.version)` is " (2.5.1)" or "", never " (None)".
    """
    return missing if is_missing(value) else template.format(value)
