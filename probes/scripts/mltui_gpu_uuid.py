"""GPU and MIG UUIDs: the ONE rule for comparing a UUID from CUDA with one from NVML.

NVML (and nvidia-smi) write a whole GPU's UUID as `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
and a MIG instance's as `MIG-xxxxxxxx-...`. CUDA's `cudaDeviceProp.uuid` is 16 bare bytes:
torch's `str(get_device_properties(i).uuid)` is the bare hex form with no prefix, whether the
device is a whole GPU or a MIG instance (torch itself matches CUDA_VISIBLE_DEVICES against NVML's
prefixed strings by prefix only, `torch.cuda._transform_uuid_to_ordinals`). A prefix can
therefore never be guessed from CUDA's form: a UUID is compared by `uuid_key` (its 32 hex digits
without prefix, dashes or case) and shown by `uuid_text` (as given; no prefix invented).

Used by mltui (probes.diagnosis, probes.perf) and, by file, by the scripts that run in the
target interpreter (probe_library.py, perf_load.py, the replay CUDA stand-in): standard library
only, Python >= 3.8.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

_PREFIXES = ("gpu-", "mig-")
_HEX = re.compile(r"[0-9a-f]+\Z")


def uuid_key(raw: object) -> str | None:
    """The comparable form of a GPU/MIG UUID from CUDA or NVML, or None when it is not one.

    `GPU-AbCd...`, `MIG-abcd...`, `abcd...` and the 16 bytes of `cudaDeviceProp.uuid` give the
    same key: lower-case hex digits, no prefix, no dashes. Other text keeps its characters
    (lower case, no prefix); nothing at all (empty, a bare prefix) is None, so two unknown UUIDs
    never compare equal.
    """
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) != 16:
            return None
        return bytes(raw).hex()
    text = str(raw).strip().lower()
    if text.startswith(_PREFIXES):
        text = text[4:]
    digits = text.replace("-", "")
    if len(digits) == 32 and _HEX.match(digits):
        return digits
    return text or None


def same_uuid(first: object, second: object) -> bool:
    """True when two UUIDs (any of the forms `uuid_key` reads) name the same device."""
    key = uuid_key(first)
    return key is not None and key == uuid_key(second)


def uuid_text(raw: object) -> str | None:
    """A UUID a library handed back, as text to report: stripped, its own prefix kept, none
    invented (CUDA's form cannot say GPU from MIG). None when there is nothing."""
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def is_mig_uuid(raw: object) -> bool:
    """True for NVML's form of a MIG instance's UUID (`MIG-...`, also the legacy `MIG-GPU-...`)."""
    return raw is not None and str(raw).strip().lower().startswith("mig-")


def visible_entries(value: str | None) -> list[int] | list[str] | None:
    """CUDA_VISIBLE_DEVICES read as the CUDA runtime reads it: ordinals, or UUID prefixes.

    None when the variable is unset (every device). The rules are those torch writes down to
    predict cudaGetDeviceCount without creating a CUDA context (torch/cuda/__init__.py,
    `_parse_visible_devices`, used with PYTORCH_NVML_BASED_CUDA_CHECK=1), after CUDA's own
    documentation (CUDA C++ Programming Guide, "CUDA Environment Variables": enumeration stops
    at the first invalid entry; a unique UUID prefix is enough):

    - a value starting with `GPU-` (or `MIG-`) is a list of UUIDs; it ends at the first entry
      without that prefix (so `GPU-a,3` is only `GPU-a`, and entries are not stripped);
    - otherwise each entry, stripped, is read like C's strtoul (`1gpu2` is 1, `+1` is 1); an
      empty, negative or non-numeric entry ends the list (`""` and `-1` hide every GPU);
    - a repeated entry empties the list (`0,0` is no GPU at all).
    """
    if value is None:
        return None
    for prefix in ("GPU-", "MIG-"):
        if value.startswith(prefix):
            uuids: list[str] = []
            for entry in value.split(","):
                if entry in uuids:
                    return []
                if not entry.startswith(prefix):
                    break
                uuids.append(entry)
            return uuids
    ordinals: list[int] = []
    for entry in value.split(","):
        number = _strtoul(entry.strip())
        if number in ordinals:
            return []
        if number < 0:
            break
        ordinals.append(number)
    return ordinals


def _strtoul(text: str) -> int:
    """The number `text` starts with (an optional sign, then digits), or -1 when none."""
    match = re.match(r"[+-]?\d+", text)
    return int(match.group()) if match else -1


def select_visible(
    value: str | None,
    ordered: Sequence[str],
    named: Sequence[str] | None = None,
    resolve: Callable[[str], str | None] | None = None,
) -> list[str]:
    """The UUIDs a CUDA process sees for CUDA_VISIBLE_DEVICES=`value`, in its order.

    `ordered`: the UUIDs of the devices CUDA enumerates, in CUDA's order (ordinals index it);
    `named`: every UUID an entry may name (default `ordered`; e.g. also all MIG instances);
    `resolve(entry)`: a UUID for an entry no prefix matches (a legacy form), or None.
    An ordinal past the last device, an entry matching no UUID or several, ends the list; two
    entries naming one device empty it (as torch's `_transform_uuid_to_ordinals`).
    """
    entries = visible_entries(value)
    if entries is None:
        return list(ordered)
    pool = list(ordered if named is None else named)
    chosen: list[str] = []
    for entry in entries:
        if isinstance(entry, int):
            if entry >= len(ordered):
                break
            found: str | None = ordered[entry]
        else:
            matches = {u for u in pool if u.startswith(entry)}
            found = matches.pop() if len(matches) == 1 else None
            if found is None and resolve is not None:
                found = resolve(entry)
        if found is None:
            break
        if found in chosen:
            return []
        chosen.append(found)
    return chosen
