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
