"""All-reduce bus bandwidth across devices with torch.distributed: one worker process per device.

Run as `python perf_allreduce.py --backend nccl --devices cuda:0,cuda:1,... [options]`, or with
`--backend gloo --devices cpu,cpu` (the CPU path the tests run). Standalone on purpose (stdlib +
torch, Python >= 3.8 syntax, no mltui import): mltui runs this launcher in the target
interpreter through its one process runner, so the launcher and its workers share one process
group that is killed whole on cancel or timeout; the launcher itself also stops every worker
when one fails or when `--timeout` passes.

The launcher imports only the standard library. Each worker (started with the "spawn" method,
so no CUDA state is ever forked) joins a TCP rendezvous on a free local port, checks one
all-reduce's result (rank r contributes r + 1, every element must equal n(n+1)/2), warms up,
then times all-reduces of `--bytes` for about `--slice` seconds. Rank 0 prints, as JSON lines:
  {"event": "library", "library": "torch", "status": "ok", "version": "..."}
  {"event": "measure", "device": "cuda:0,1", "kind": "allreduce", "value": <busbw B/s>,
   "unit": "B/s", "size": <bytes>, "seconds": ..., "repeats": ..., "result_ok": true,
   "algbw": <B/s>, "ranks": n, "backend": "nccl"}
  {"event": "done"}
busbw = algbw × 2(n-1)/n (nccl-tests' convention), algbw = bytes / time per all-reduce.
"""

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
import traceback


def emit(event, **fields):
    """Print one JSON event line and flush it."""
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_uuid(torch, device, pinned):
    """Raise when CUDA's `device` is not the GPU mltui pinned this rank to (by UUID)."""
    found = str(getattr(torch.cuda.get_device_properties(device), "uuid", "") or "")
    if not pinned or not found:
        return

    def bare(uuid):
        text = uuid.strip().lower()
        return text.split("-", 1)[1] if text[:4] in ("gpu-", "mig-") else text

    if bare(found) != bare(pinned):
        raise RuntimeError(
            "CUDA's device {} here is {}, not {} that mltui pinned it to".format(
                device, found, pinned
            )
        )


def worker(rank, args, port):
    """One rank: rendezvous, check, time, and (rank 0) report."""
    # The worker's own chatter goes to stderr; rank 0 writes the JSON lines itself.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import datetime

    import torch
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    devices = args.devices
    device = devices[rank]
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
        check_uuid(torch, device, args.uuids[rank] if rank < len(args.uuids) else None)
    dist.init_process_group(
        args.backend,
        rank=rank,
        world_size=len(devices),
        timeout=datetime.timedelta(seconds=max(5.0, args.timeout)),
    )
    count = max(1, args.bytes // 4)
    n = len(devices)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    tensor = torch.full((count,), float(rank + 1), dtype=torch.float32, device=device)
    dist.all_reduce(tensor)
    sync()
    expected = n * (n + 1) / 2.0
    ok = bool(torch.all(tensor == expected).item())
    tensor.zero_()
    for _ in range(3):
        dist.all_reduce(tensor)
    sync()
    dist.barrier()
    started = time.perf_counter()
    dist.all_reduce(tensor)
    sync()
    one = max(time.perf_counter() - started, 1e-6)
    # Every rank must run the same number of all-reduces: rank 0 decides.
    decided = torch.tensor(
        [max(1, min(1000, int(args.slice / one)))],
        dtype=torch.int64,
        device=device if args.backend == "nccl" else "cpu",
    )
    dist.broadcast(decided, 0)
    repeats = int(decided.item())
    dist.barrier()
    sync()
    started = time.perf_counter()
    for _ in range(repeats):
        dist.all_reduce(tensor)
    sync()
    seconds = time.perf_counter() - started
    oks = torch.tensor([1 if ok else 0], dtype=torch.int64, device=decided.device)
    dist.all_reduce(oks, op=dist.ReduceOp.MIN)
    if rank == 0:
        nbytes = count * 4
        algbw = nbytes * repeats / seconds
        busbw = algbw * 2 * (n - 1) / n
        label = (
            "cuda:" + ",".join(d.split(":")[1] for d in devices)
            if all(d.startswith("cuda:") for d in devices)
            else "{}x{}".format(n, devices[0])
        )
        line = {
            "device": label,
            "kind": "allreduce",
            "dtype": None,
            "value": busbw,
            "unit": "B/s",
            "size": nbytes,
            "seconds": round(seconds, 6),
            "repeats": repeats,
            "result_ok": bool(int(oks.item()) == 1),
            "algbw": algbw,
            "ranks": n,
            "backend": args.backend,
            "event": "measure",
        }
        out.write(json.dumps(line) + "\n")
        out.flush()
    dist.destroy_process_group()


def _run_worker(rank, args, port):
    try:
        worker(rank, args, port)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="all-reduce bus bandwidth")
    parser.add_argument("--backend", choices=("nccl", "gloo"), default="nccl")
    parser.add_argument("--devices", required=True)
    parser.add_argument("--bytes", type=int, default=256 << 20)
    parser.add_argument("--slice", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--uuids", default="", help="each rank's GPU UUID (mltui pinned them)")
    args = parser.parse_args(argv)
    args.devices = [d for d in args.devices.split(",") if d]
    args.uuids = [u for u in args.uuids.split(",") if u]
    return args


def main(argv):
    args = parse_args(argv)
    if len(args.devices) < 2:
        emit("error", device=None, kind="allreduce", dtype=None, error="needs two devices or more")
        return 2
    try:
        from importlib import metadata

        version = metadata.version("torch")
    except Exception:
        emit("library", library="torch", status="not_installed", version=None)
        emit("done")
        return 0
    emit("library", library="torch", status="ok", version=version)
    context = multiprocessing.get_context("spawn")
    port = _free_port()
    workers = [
        context.Process(target=_run_worker, args=(rank, args, port), daemon=True)
        for rank in range(len(args.devices))
    ]
    for proc in workers:
        proc.start()
    deadline = time.monotonic() + args.timeout
    failed = None
    while any(p.is_alive() for p in workers):
        for rank, proc in enumerate(workers):
            if proc.exitcode not in (None, 0) and failed is None:
                failed = "rank {} exited with status {}".format(rank, proc.exitcode)
        if failed is not None or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    for rank, proc in enumerate(workers):
        if proc.exitcode not in (None, 0) and failed is None:
            failed = "rank {} exited with status {}".format(rank, proc.exitcode)
    if failed is None and any(p.is_alive() for p in workers):
        failed = "timed out after {:.0f} s".format(args.timeout)
    for proc in workers:
        if proc.is_alive():
            proc.terminate()
    for proc in workers:
        proc.join(timeout=2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=2.0)
    if failed is not None:
        emit("error", device=",".join(args.devices), kind="allreduce", dtype=None, error=failed)
        emit("done")
        return 1
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
