"""A CUDA stand-in for a CPU build of torch: MLTUI_REPLAY's recorded GPUs, computed on the CPU.

Loaded by this folder's sitecustomize only in replay mode. When the program imports torch:

- `torch.cuda` (only that namespace) answers from the recording: is_available, device_count,
  get_device_properties (name, total_memory, major/minor, multi_processor_count, uuid),
  get_device_name/capability, current_device/set_device/device, synchronize, Event (timed with a
  monotonic clock), Stream, mem_get_info, can_device_access_peer, get_arch_list. torch.version.cuda
  is the recording's CUDA version.
- CUDA_VISIBLE_DEVICES (indices, GPU-<uuid> and MIG-<uuid>, unique prefixes) and
  CUDA_DEVICE_ORDER (FASTEST_FIRST by default, PCI_BUS_ID) select and order the devices as the
  CUDA runtime does: enumeration stops at the first entry that names no device.
- Tensors on cuda:N are real torch tensors computed by the CPU kernels (real numerics). A
  `TorchFunctionMode` moves every `device="cuda:N"` of a factory to the CPU and marks the
  result; a Tensor subclass carries the mark, so `.device` says cuda:N, `.is_cuda` is True,
  `.cpu()`/`.to()` copy as on a GPU, `.numpy()` refuses a cuda tensor, and mixing two GPUs in
  one operation fails as on a GPU. Nothing else of torch is replaced.
- A process announces the GPU it works on in MLTUI_REPLAY_STATE, so mltui's replayed NVML shows
  it busy (its under-load readings and the process) while it runs.

Standard library and torch only, Python >= 3.8.
"""

import atexit
import contextlib
import json
import os
import re
import runpy
import sys
import threading
import time

_ARMED = False
_HOOK = None
#: The one rule for GPU/MIG UUIDs (probes/scripts/mltui_gpu_uuid.py, read by its path).
_UUIDS = runpy.run_path(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mltui_gpu_uuid.py")
)


# ----------------------------------------------------------------------------- the recording


def _read_recording(path):
    with open(path, "rb") as handle:
        data = json.loads(handle.read(8 * 1024 * 1024).decode("utf-8"))
    cuda = data.get("cuda") or {}
    nvml = data.get("nvml") or {}
    return data, cuda, nvml


def _bus_key(bus_id):
    try:
        domain, bus, rest = str(bus_id).lower().split(":")
        device, function = rest.split(".")
        return (int(domain, 16), int(bus, 16), int(device, 16), int(function, 16))
    except (ValueError, AttributeError):
        return (1 << 32, 0, 0, 0)


class _Device(object):
    """One device CUDA can enumerate: a whole GPU, or a MIG instance of one."""

    def __init__(self, props, parent=None, peers=None):
        self.props = props
        self.parent = parent
        self.uuid = str(props["uuid"])
        self.name = str(props["name"])
        self.peers = peers or {}
        self.mig = parent is not None
        self.used = 0  # bytes NVML recorded in use (by the driver and other processes)

    @property
    def bus_id(self):
        return (self.parent or self).props.get("pci_bus_id") or ""

    @property
    def physical_uuid(self):
        return (self.parent or self).uuid


def _physical_devices(cuda, nvml):
    """The GPUs of the recording as CUDA lists them, with their MIG instances."""
    nvml_devices = nvml.get("devices") or []
    index_of = {}
    for index, device in enumerate(nvml_devices):
        index_of[_UUIDS["uuid_key"](device.get("nvmlDeviceGetUUID"))] = index
    index_of.pop(None, None)
    found = []
    for props in cuda.get("devices") or []:
        device = _Device(props)
        mine = index_of.get(_UUIDS["uuid_key"](device.uuid))
        if mine is not None:
            table = nvml_devices[mine]
            memory = table.get("nvmlDeviceGetMemoryInfo_v2") or table.get("nvmlDeviceGetMemoryInfo")
            used = memory.get("used") if isinstance(memory, dict) else None
            if isinstance(used, int) and not isinstance(used, bool) and used >= 0:
                device.used = used  # a negative reading (no driver gives one) is ignored
            table = (nvml_devices[mine].get("nvmlDeviceGetP2PStatus") or {}).get("by_args") or {}
            for key, status in table.items():
                peer, _, caps = key.partition(",")
                if caps == "0":  # NVML_P2P_CAPS_INDEX_READ: what cudaDeviceCanAccessPeer checks
                    for other, other_index in index_of.items():
                        if str(other_index) == peer:
                            device.peers[other] = status == 0  # keyed by uuid_key
        device.instances = [_Device(m, parent=device) for m in props.get("mig") or []]
        device.mig_enabled = bool(props.get("mig_enabled"))
        found.append(device)
    return found


def _fastest_first(devices):
    """CUDA's default order: the fastest device first (SMs x clock), ties in PCI order."""

    def speed(device):
        props = device.props
        clock = props.get("max_clock_mhz") or 1
        return -(int(props.get("multi_processor_count") or 0) * int(clock))

    return sorted(devices, key=lambda d: (speed(d), _bus_key(d.bus_id)))


def visible_devices(physical, environ):
    """The devices a CUDA process sees, in its order, after CUDA_VISIBLE_DEVICES."""
    order = environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST").strip().upper()
    if order == "PCI_BUS_ID":
        ordered = sorted(physical, key=lambda d: _bus_key(d.bus_id))
    else:
        ordered = _fastest_first(physical)
    # A MIG-enabled GPU is not usable whole: CUDA enumerates its instances instead.
    candidates = []
    for device in ordered:
        if getattr(device, "mig_enabled", False):
            candidates.extend(device.instances)
        else:
            candidates.append(device)
    by_uuid = {}
    for device in ordered:
        for one in [device, *getattr(device, "instances", [])]:
            by_uuid.setdefault(one.uuid, one)
    named = [d.uuid for d in candidates] + [
        i.uuid for d in ordered for i in getattr(d, "instances", []) if i not in candidates
    ]

    def legacy(entry):
        found = _resolve_entry(entry, candidates, ordered)
        return found.uuid if found is not None else None

    chosen = [
        by_uuid[u]
        for u in _UUIDS["select_visible"](
            environ.get("CUDA_VISIBLE_DEVICES"), [d.uuid for d in candidates], named, legacy
        )
    ]
    # One MIG instance per process (CUDA uses the first one visible).
    result, seen_mig = [], False
    for device in chosen:
        if device.mig:
            if seen_mig:
                continue
            seen_mig = True
        result.append(device)
    return result


def _resolve_entry(entry, candidates, ordered):
    if not entry:
        return None
    if entry.isdigit():
        index = int(entry)
        return candidates[index] if index < len(candidates) else None
    lowered = entry.lower()
    if lowered.startswith("mig-gpu-"):  # legacy MIG-GPU-<uuid>/<gi>/<ci>
        parts = entry[4:].split("/")
        parent = _by_uuid_prefix(parts[0], ordered)
        if parent is None or len(parts) < 2:
            return None
        instances = getattr(parent, "instances", [])
        return instances[0] if instances else None
    pool = [d for d in candidates] + [i for d in ordered for i in getattr(d, "instances", [])]
    return _by_uuid_prefix(entry, pool)


def _by_uuid_prefix(entry, pool):
    lowered = entry.lower()
    matches = [d for d in pool if d.uuid.lower().startswith(lowered)]
    if len({d.uuid for d in matches}) == 1:
        return matches[0]
    return None


# ----------------------------------------------------------------------------- arming


class _TorchHook(object):
    """Finds torch like the other finders do and installs the stand-in once it has loaded."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            original(module)
            _unhook()
            try:
                install(module)
            except Exception as exc:  # a recording the stand-in cannot use: torch as it is
                sys.stderr.write("mltui replay: CUDA stand-in not installed: %s\n" % exc)

        try:
            loader.exec_module = exec_module
        except (AttributeError, TypeError):
            return spec
        return spec


def _unhook():
    if _HOOK is not None and _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def arm():
    """Install the stand-in when torch is imported (at once when it already is)."""
    global _ARMED, _HOOK
    if _ARMED:
        return
    _ARMED = True
    if "torch" in sys.modules:
        install(sys.modules["torch"])
        return
    _HOOK = _TorchHook()
    sys.meta_path.insert(0, _HOOK)


# ----------------------------------------------------------------------------- install


def install(torch, environ=None, recording_path=None):
    """Make `torch` (a CPU build) present the recorded devices through torch.cuda."""
    environ = os.environ if environ is None else environ
    path = recording_path or environ.get("MLTUI_REPLAY")
    if not path:
        return None
    try:
        _, cuda, nvml = _read_recording(path)
    except (OSError, ValueError) as exc:
        sys.stderr.write("mltui replay: cannot read %s: %s\n" % (path, exc))
        return None
    devices = visible_devices(_physical_devices(cuda, nvml), environ)
    standin = _StandIn(torch, devices, cuda, environ.get("MLTUI_REPLAY_STATE"))
    standin.install()
    return standin


class _Uuid(object):
    """torch's _CUuuid: str() is the bare UUID, `bytes` its 16 bytes."""

    def __init__(self, text):
        self._text = text.split("-", 1)[1] if text[:4] in ("GPU-", "MIG-") else text
        self.bytes = bytes.fromhex(self._text.replace("-", "")[:32].ljust(32, "0"))

    def __str__(self):
        return self._text

    def __repr__(self):
        return self._text


class DeviceProperties(object):
    """torch.cuda.get_device_properties' answer for a recorded device."""

    def __init__(self, device):
        props = device.props
        self.name = device.name
        self.major = int(props["major"])
        self.minor = int(props["minor"])
        self.total_memory = int(props["total_memory"])
        self.multi_processor_count = int(props["multi_processor_count"])
        self.uuid = _Uuid(device.uuid)
        self.L2_cache_size = int(props.get("l2_cache_size") or 0)
        self.is_integrated = 0
        self.is_multi_gpu_board = 0
        self.warp_size = 32
        self.max_threads_per_multi_processor = 2048 if self.major < 12 else 1536
        self.gcnArchName = ""
        bus = _bus_key(device.bus_id)
        self.pci_domain_id, self.pci_bus_id, self.pci_device_id = bus[0], bus[1], bus[2]

    def __repr__(self):
        return (
            "_CudaDeviceProperties(name='%s', major=%d, minor=%d, total_memory=%dMB, "
            "multi_processor_count=%d, uuid=%s, L2_cache_size=%dMB)"
            % (
                self.name,
                self.major,
                self.minor,
                self.total_memory // (1024 * 1024),
                self.multi_processor_count,
                self.uuid,
                self.L2_cache_size // (1024 * 1024),
            )
        )


class _StandIn(object):
    def __init__(self, torch, devices, cuda, state):
        self.torch = torch
        self.devices = devices
        self.cuda = cuda
        self.state = state
        self.local = threading.local()
        self.announced = set()
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ devices

    def current(self):
        return getattr(self.local, "index", 0)

    def index_of(self, device=None, optional=False):
        """A device argument (None, int, "cuda:1", torch.device) as an index; errors as CUDA."""
        torch = self.torch
        if device is None:
            index = self.current()
        elif isinstance(device, int) and not isinstance(device, bool):
            index = device
        else:
            if isinstance(device, str):
                device = torch.device(device)
            if not isinstance(device, torch.device):
                raise ValueError("Expected a cuda device, but got: %r" % (device,))
            if device.type != "cuda":
                if optional:
                    return None
                raise ValueError("Expected a cuda device, but got: %s" % device)
            index = self.current() if device.index is None else device.index
        if not self.devices:
            raise RuntimeError("No CUDA GPUs are available")
        if index < 0 or index >= len(self.devices):
            raise RuntimeError(
                "CUDA error: invalid device ordinal\nCUDA kernel errors might be asynchronously "
                "reported at some other API call"
            )
        return index

    def announce(self, index):
        """Tell mltui's replayed NVML that this process works on device `index`."""
        if not self.state or index in self.announced:
            return
        with self.lock:
            if index in self.announced:
                return
            self.announced.add(index)
            device = self.devices[index]
            try:
                os.makedirs(self.state, exist_ok=True)
                path = os.path.join(self.state, "%d.%s.json" % (os.getpid(), device.uuid))
                with open(path, "w") as handle:
                    json.dump(
                        {
                            "pid": os.getpid(),
                            "uuid": device.physical_uuid,
                            "device": device.uuid,
                            "used_bytes": 512 * 1024 * 1024,
                        },
                        handle,
                    )
                atexit.register(_remove, path)
            except OSError:
                pass

    # ------------------------------------------------------------------ install

    def install(self):
        torch = self.torch
        cuda = torch.cuda
        standin = self
        version = self.cuda.get("version")
        if version:
            torch.version.cuda = str(version)
        arch_list = list(self.cuda.get("arch_list") or [])
        cudnn_version = self.cuda.get("cudnn_version")
        if cudnn_version and self.devices:
            backend = torch.backends.cudnn
            backend.version = lambda: int(cudnn_version)
            backend.is_available = lambda: True
        count = len(self.devices)

        def is_available():
            return count > 0

        def device_count():
            return count

        def get_device_properties(device=None):
            return DeviceProperties(standin.devices[standin.index_of(device)])

        def get_device_name(device=None):
            return standin.devices[standin.index_of(device)].name

        def get_device_capability(device=None):
            props = standin.devices[standin.index_of(device)].props
            return (int(props["major"]), int(props["minor"]))

        def current_device():
            standin.index_of(None)
            return standin.current()

        def set_device(device):
            index = standin.index_of(device, optional=True)
            if index is not None:
                standin.local.index = index

        class device(object):
            """Context manager that changes the current device (as torch.cuda.device)."""

            def __init__(self, device):
                self.idx = -1 if device is None else standin.index_of(device, optional=True)
                self.prev_idx = -1

            def __enter__(self):
                self.prev_idx = standin.current()
                if self.idx is not None and self.idx >= 0:
                    standin.local.index = self.idx

            def __exit__(self, *exc):
                standin.local.index = self.prev_idx
                return False

        def synchronize(device=None):
            standin.index_of(device)

        def mem_get_info(device=None):
            chosen = standin.devices[standin.index_of(device)]
            total = int(chosen.props["total_memory"])
            return (max(0, total - int(chosen.used)), total)

        def can_device_access_peer(device, peer_device):
            a = standin.devices[standin.index_of(device)]
            b = standin.devices[standin.index_of(peer_device)]
            if a is b or a.mig or b.mig:
                return False
            return bool(a.peers.get(_UUIDS["uuid_key"](b.uuid)))

        def get_arch_list():
            return list(arch_list)

        def is_bf16_supported(including_emulation=True):
            return count > 0 and get_device_capability()[0] >= 8

        def nothing(*args, **kwargs):
            return None

        def zero(device=None):
            return 0

        class Event(object):
            """A CUDA event timed with the monotonic clock (work runs synchronously here)."""

            def __init__(self, enable_timing=False, blocking=False, interprocess=False):
                self.enable_timing = enable_timing
                self.stamp = None

            def record(self, stream=None):
                self.stamp = time.perf_counter()

            def synchronize(self):
                return None

            def query(self):
                return True

            def wait(self, stream=None):
                return None

            def elapsed_time(self, end_event):
                if not (self.enable_timing and end_event.enable_timing):
                    raise RuntimeError(
                        "Both events must be created with argument 'enable_timing=True'."
                    )
                if self.stamp is None or end_event.stamp is None:
                    raise RuntimeError(
                        "Both events must be recorded before calculating elapsed time."
                    )
                return (end_event.stamp - self.stamp) * 1000.0

        class Stream(object):
            """A CUDA stream: work here is synchronous, so it is always done."""

            def __init__(self, device=None, priority=0, **kwargs):
                self.device_index = standin.index_of(device)
                self.device = torch.device("cuda", self.device_index)

            def synchronize(self):
                return None

            def query(self):
                return True

            def wait_stream(self, stream):
                return None

            def wait_event(self, event):
                return None

            def record_event(self, event=None):
                event = event or Event()
                event.record(self)
                return event

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        def current_stream(device=None):
            return Stream(device)

        class stream(object):
            """Context manager selecting a stream (a no-op: work is synchronous)."""

            def __init__(self, stream):
                self.stream = stream

            def __enter__(self):
                return self.stream

            def __exit__(self, *exc):
                return False

        replacements = {
            "is_available": is_available,
            "device_count": device_count,
            "get_device_properties": get_device_properties,
            "get_device_name": get_device_name,
            "get_device_capability": get_device_capability,
            "current_device": current_device,
            "set_device": set_device,
            "device": device,
            "synchronize": synchronize,
            "mem_get_info": mem_get_info,
            "can_device_access_peer": can_device_access_peer,
            "get_arch_list": get_arch_list,
            "is_bf16_supported": is_bf16_supported,
            "Event": Event,
            "Stream": Stream,
            "current_stream": current_stream,
            "default_stream": current_stream,
            "stream": stream,
            "empty_cache": nothing,
            "ipc_collect": nothing,
            "init": nothing,
            "_lazy_init": nothing,
            "is_initialized": is_available,
            "manual_seed": nothing,
            "manual_seed_all": nothing,
            "seed": nothing,
            "seed_all": nothing,
            "reset_peak_memory_stats": nothing,
            "memory_allocated": zero,
            "max_memory_allocated": zero,
            "memory_reserved": zero,
            "max_memory_reserved": zero,
        }
        for name, value in replacements.items():
            setattr(cuda, name, value)
        _install_tensors(torch, self)


def _remove(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


# ----------------------------------------------------------------------------- tensors


def _install_tensors(torch, standin):
    from torch.overrides import TorchFunctionMode

    Tensor = torch.Tensor
    disable_subclass = torch._C.DisableTorchFunctionSubclass
    disable_all = torch._C.DisableTorchFunction

    class CudaTensor(Tensor):
        """A CPU tensor that is on cuda:N as far as the program can tell."""

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return dispatch(func, args, kwargs or {})

    CudaTensor.__module__ = "torch"
    CPU = "cpu"

    def index_of(tensor):
        return getattr(tensor, "_mltui_cuda", None) if isinstance(tensor, CudaTensor) else None

    def wrap(value, index):
        if isinstance(value, Tensor):
            if isinstance(value, CudaTensor) and index_of(value) == index:
                return value
            with disable_all():
                wrapped = value.as_subclass(CudaTensor)
            wrapped._mltui_cuda = index
            return wrapped
        if isinstance(value, tuple):
            items = [wrap(v, index) for v in value]
            try:
                return type(value)(items)
            except TypeError:
                return type(value)(*items)
        if isinstance(value, list):
            return [wrap(v, index) for v in value]
        return value

    def plain(value):
        """A CPU copy (as .cpu() of a GPU tensor gives), without the mark."""
        with disable_all():
            return value.as_subclass(Tensor).clone()

    def target(device):
        """None (not a device), CPU, or a cuda index, for a device argument."""
        if device is None:
            return None
        if isinstance(device, int) and not isinstance(device, bool):
            return standin.index_of(device)
        if isinstance(device, str):
            device = torch.device(device)
        if isinstance(device, torch.device):
            if device.type == "cuda":
                return standin.index_of(device)
            if device.type == "cpu":
                return CPU
        return None

    def inputs(args, kwargs):
        """The cuda indices of the tensors an operation takes, and whether a CPU tensor that
        is not a scalar is among them."""
        found = []
        cpu = []

        def visit(value):
            if isinstance(value, CudaTensor):
                found.append(index_of(value))
            elif isinstance(value, Tensor):
                with disable_all():
                    if value.dim() > 0 and value.device.type == "cpu":
                        cpu.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, (Tensor, list, tuple)):
                        visit(item)

        visit(args)
        visit(list(kwargs.values()))
        return found, bool(cpu)

    def same_device(func, found, with_cpu):
        """Refuse, as CUDA does, an operation on tensors of two devices."""
        name = getattr(func, "__name__", "")
        if func in CROSS_DEVICE or (name.startswith("_") and not name.endswith("__")):
            return  # copies, indexing, and torch's private helpers (module conversion...)
        devices = ["cuda:%d" % index for index in sorted(set(found))]
        if devices and with_cpu:
            devices.append("cpu")
        if len(devices) > 1:
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two "
                "devices, %s and %s!" % (devices[0], devices[1])
            )

    def getter_device(self):
        index = index_of(self)
        if index is not None:
            return torch.device("cuda", index)
        with disable_all():
            return Tensor.device.__get__(self)

    def to(func, args, kwargs):
        self = args[0]
        rest = list(args[1:])
        goal = None
        if "device" in kwargs:
            goal = target(kwargs["device"])
            kwargs["device"] = "cpu" if goal is not None else kwargs["device"]
        for position, value in enumerate(rest):
            if isinstance(value, (str, torch.device)) or (
                isinstance(value, int) and not isinstance(value, bool)
            ):
                goal = target(value)
                rest[position] = "cpu"
            elif isinstance(value, Tensor):
                goal = index_of(value) if isinstance(value, CudaTensor) else CPU
                rest[position] = value.dtype
        with disable_subclass():
            out = func(self, *rest, **kwargs)
        mine = index_of(self)
        if goal is None:
            return wrap(out, mine) if mine is not None else out
        if goal == CPU:
            if mine is None:
                return out
            return plain(out) if out is self else out.as_subclass(Tensor)
        standin.announce(goal)
        if out is self and mine != goal:
            with disable_all():
                out = Tensor.clone(self)
        return wrap(out, goal)

    def cuda_method(func, args, kwargs):
        self = args[0]
        device = args[1] if len(args) > 1 else kwargs.pop("device", None)
        goal = standin.index_of(device)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        return to(Tensor.to, (self, torch.device("cuda", goal)), {})

    def cpu_method(func, args, kwargs):
        self = args[0]
        if isinstance(self, CudaTensor):
            return plain(self)
        with disable_subclass():
            return func(*args, **kwargs)

    def numpy_method(func, args, kwargs):
        self = args[0]
        if isinstance(self, CudaTensor):
            raise TypeError(
                "can't convert cuda:%d device type tensor to numpy. Use Tensor.cpu() to copy "
                "the tensor to host memory first." % index_of(self)
            )
        with disable_subclass():
            return func(*args, **kwargs)

    def pin_memory(func, args, kwargs):
        self = args[0]
        if isinstance(self, CudaTensor):
            raise RuntimeError(
                "cannot pin 'torch.cuda.FloatTensor' only dense CPU tensors can be pinned"
            )
        with disable_all():
            out = Tensor.clone(self)
        out._mltui_pinned = True
        return out

    def is_pinned(func, args, kwargs):
        return bool(getattr(args[0], "_mltui_pinned", False))

    def get_device(func, args, kwargs):
        index = index_of(args[0])
        return -1 if index is None else index

    def tensor_type(func, args, kwargs):
        self = args[0]
        with disable_subclass():
            out = func(*args, **kwargs)
        if isinstance(self, CudaTensor) and isinstance(out, str) and out.startswith("torch."):
            return "torch.cuda." + out[len("torch.") :]
        return out

    suffix = re.compile(r", (?:size|dtype|layout|grad_fn|requires_grad|names)=")

    def tensor_repr(func, args, kwargs):
        self = args[0]
        with disable_all():
            text = Tensor.__repr__(self.as_subclass(Tensor), **kwargs)
        index = index_of(self)
        if index is None:
            return text
        device = ", device='cuda:%d'" % index
        found = suffix.search(text)
        at = found.start() if found else text.rstrip().rfind(")")
        return text[:at] + device + text[at:]

    GETTERS = {
        Tensor.device.__get__: lambda self: getter_device(self),
        Tensor.is_cuda.__get__: lambda self: (
            index_of(self) is not None or (Tensor.is_cuda.__get__(self) if False else False)
        ),
        Tensor.is_cpu.__get__: lambda self: index_of(self) is None,
    }
    METHODS = {
        Tensor.to: to,
        Tensor.cuda: cuda_method,
        Tensor.cpu: cpu_method,
        Tensor.numpy: numpy_method,
        Tensor.pin_memory: pin_memory,
        Tensor.is_pinned: is_pinned,
        Tensor.get_device: get_device,
        Tensor.type: tensor_type,
        Tensor.__repr__: tensor_repr,
    }
    # What CUDA lets mix devices: copies, and indexing with CPU indices.
    CROSS_DEVICE = {
        Tensor.copy_,
        Tensor.to,
        Tensor.__getitem__,
        Tensor.__setitem__,
        Tensor.index_put_,
        Tensor.index_put,
        Tensor.set_,
        Tensor.__repr__,
        Tensor.__format__,
    }

    def dispatch(func, args, kwargs):
        try:
            getter = GETTERS.get(func)
            method = METHODS.get(func)
        except TypeError:
            getter = method = None
        if getter is not None:
            return getter(args[0])
        if method is not None:
            return method(func, args, kwargs)
        goal = None
        if "device" in kwargs:
            goal = target(kwargs["device"])
            if goal is not None:
                kwargs["device"] = "cpu"
        pinned = bool(kwargs.pop("pin_memory", False))
        found, with_cpu = inputs(args, kwargs)
        if goal is None:  # a factory given a device takes its data from anywhere
            same_device(func, found, with_cpu)
        with disable_subclass():
            out = func(*args, **kwargs)
        if pinned and isinstance(out, Tensor):
            out._mltui_pinned = True
        if goal is None:
            goal = found[0] if found else None
        if goal is None or goal == CPU:
            return out
        standin.announce(goal)
        return wrap(out, goal)

    class CudaMode(TorchFunctionMode):
        """Moves device="cuda:N" of every torch call to the CPU and marks what it made."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            return dispatch(func, args, dict(kwargs or {}))

    class Generator(torch.Generator):
        """torch.Generator that accepts a cuda device (it draws on the CPU)."""

        def __new__(cls, device="cpu"):
            index = target(device)
            generator = torch._C.Generator.__new__(cls, "cpu")
            generator._mltui_cuda = None if index in (None, CPU) else index
            return generator

        def __init__(self, device="cpu"):
            pass

        @property
        def device(self):
            index = getattr(self, "_mltui_cuda", None)
            return torch.device("cuda", index) if index is not None else torch.device("cpu")

    Generator.__module__ = "torch"
    torch.Generator = Generator

    base_autocast = torch.amp.autocast

    class autocast(base_autocast):
        """torch.autocast: "cuda" autocasts the CPU kernels that compute the cuda tensors."""

        def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
            if device_type == "cuda":
                device_type = "cpu"
                dtype = torch.float16 if dtype is None else dtype  # CUDA autocast's default
            super().__init__(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    class cuda_autocast(autocast):
        """torch.cuda.amp.autocast(...) is torch.autocast("cuda", ...)."""

        def __init__(self, enabled=True, dtype=torch.float16, cache_enabled=True):
            super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    autocast.__module__ = "torch.amp.autocast_mode"
    torch.autocast = torch.amp.autocast = autocast
    if hasattr(torch.cuda, "amp"):
        torch.cuda.amp.autocast = cuda_autocast
    # nn.Module.to("cuda") keeps each parameter object and swaps in the moved tensor (torch's
    # own mechanism for tensor subclasses), so parameters say cuda:N like on a GPU.
    future = getattr(torch, "__future__", None)
    if future is not None and hasattr(future, "set_swap_module_params_on_conversion"):
        future.set_swap_module_params_on_conversion(True)
    mode = CudaMode()
    mode.__enter__()  # for the rest of the process (the main thread)
    standin.mode = mode

    # Torch function modes are per thread: threads started from now on enter one for their
    # whole run and leave it before they end (a mode left in a dying thread's state aborts).
    bootstrap = getattr(threading.Thread, "_bootstrap_inner", None)
    if bootstrap is not None:

        def bootstrap_inner(thread):
            thread_mode = CudaMode()
            thread_mode.__enter__()
            try:
                bootstrap(thread)
            finally:
                with contextlib.suppress(Exception):
                    thread_mode.__exit__(None, None, None)

        threading.Thread._bootstrap_inner = bootstrap_inner

    def leave_main_mode():
        with contextlib.suppress(Exception):
            mode.__exit__(None, None, None)

    atexit.register(leave_main_mode)
    standin.CudaTensor = CudaTensor
