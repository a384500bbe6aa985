"""Untrusted JSON has exactly one reader (issue 17, class 1): `probes.untrusted_json`.

The decoder first, with many bad vectors (each must end in UntrustedJSONError: never a
RecursionError, a MemoryError or another type), then every path that reads JSON from outside
mltui, each driven with the same vectors: a probe's event line, a sample's verdict line, the
check cache file and the perf cache file. (Fleet node reports, perf events and the probe cache
folder have their own tests beside their code, using `BAD_VECTORS` from here.)
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from probes.cache import check_path, load_check, load_perf, perf_path
from probes.catalog import get_library
from probes.libraries import probe_library
from probes.perf.load import LoadPlan, run_load
from probes.process import CUT_MARK, EventLineReader, LineBatch, parse_event
from probes.runner import SampleRef, parse_verdict, run_sample
from probes.untrusted_json import (
    MAX_JSON_DEPTH,
    UntrustedJSONError,
    parse_json,
    read_json_file,
)
from tests.support import fixed_target

MIB = 1024 * 1024


def _nested_objects_with_bracket_strings(levels: int) -> str:
    """Objects nested `levels` deep, each holding a string full of brackets (which do not count)."""
    text = "0"
    for level in range(levels):
        text = '{"s' + str(level) + '": "]]]}}}[[[{{{\\"[", "v": ' + text + "}"
    return text


#: Texts that must be refused, each for its own reason.
BAD_VECTORS: dict[str, str | bytes] = {
    "5,000 nested brackets": "[" * 5000 + "]" * 5000,
    "100,000 nested brackets": "[" * 100_000 + "]" * 100_000,
    "100,000 opening brackets only": "[" * 100_000,
    "objects 65 deep": '{"a":' * 65 + "1" + "}" * 65,
    "deep objects among bracket strings": _nested_objects_with_bracket_strings(200),
    "deep inside a valid event": '{"event": "report", "build": ' + "[" * 3000 + "]" * 3000 + "}",
    "NaN": '{"event": "report", "x": NaN}',
    "Infinity": '{"event": "report", "x": Infinity}',
    "-Infinity": "[-Infinity]",
    "a float too large": '{"event": "report", "x": 1e999}',
    "a negative float too large": "[-1.5e400]",
    "an integer of 100,000 digits": "[" + "9" * 100_000 + "]",
    "truncated object": '{"event": "report", "status": "o',
    "truncated string then brackets": '{"event": "' + "[" * 10_000,
    "trailing text": '{"event": "report"} and more',
    "two values": '{"event": "a"}{"event": "b"}',
    "empty": "",
    "only spaces": "   \t ",
    "single quotes": "{'event': 'report'}",
    "invalid UTF-8 bytes": b'{"event": "report", "x": "\xff\xfe"}',
    "a UTF-16 text": '{"event": "x"}'.encode("utf-16"),
    "a control character in a string": '{"event": "a\x01b"}',
    "an invalid escape": '{"event": "\\x41"}',
    "a lone backslash at the end": '{"event": "abc\\',
    "many unterminated quotes": '"\\"' * 200_000,
    "4 MiB + 1 byte": '"' + "x" * (4 * MIB - 1) + '"',
    "a million empty objects": "[" + ",".join(["{}"] * 1_000_001) + "]",
}

#: Texts at the edge of what is accepted, with the value each must give.
GOOD_VECTORS: dict[str, tuple[str | bytes, Any]] = {
    "64 levels": ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "depth"),
    "brackets inside strings": (
        '{"s": "[[[[{{{{" , "t": "\\"]]]"}',
        {"s": "[[[[{{{{", "t": '"]]]'},
    ),
    "a byte-order mark first": ('\ufeff{"event": "x"}', {"event": "x"}),
    "a byte-order mark in UTF-8 bytes": (b'\xef\xbb\xbf{"event": "x"}', {"event": "x"}),
    "a valid surrogate pair": ('["\\ud83d\\ude00"]', ["\U0001f600"]),
    "a lone high surrogate": ('{"e\\ud800": ["a\\ud800b"]}', {"e\ufffd": ["a\ufffdb"]}),
    "a lone low surrogate": ('["\\udc00"]', ["\ufffd"]),
    "an escaped backslash before u": ('["\\\\ud800"]', ["\\ud800"]),
    "a large but finite float": ("[1.5e308]", [1.5e308]),
    "a long integer within the limit": ("[" + "7" * 4000 + "]", [int("7" * 4000)]),
    "non-ASCII text": ('{"error": "Ошибка: 设备"}', {"error": "Ошибка: 设备"}),
}


@pytest.mark.parametrize("name", list(BAD_VECTORS))
def test_every_bad_vector_is_one_error_type(name: str) -> None:
    with pytest.raises(UntrustedJSONError) as raised:
        parse_json(BAD_VECTORS[name], max_bytes=4 * MIB)
    assert isinstance(raised.value, ValueError)
    assert str(raised.value)


@pytest.mark.parametrize("name", list(GOOD_VECTORS))
def test_values_at_the_edge_are_accepted(name: str) -> None:
    text, expected = GOOD_VECTORS[name]
    value = parse_json(text)
    if expected == "depth":
        depth = 0
        while isinstance(value, list) and value:
            value, depth = value[0], depth + 1
        assert depth == MAX_JSON_DEPTH - 1 and value == []
    else:
        assert value == expected


def test_limits_are_the_callers() -> None:
    with pytest.raises(UntrustedJSONError, match="larger than 10 bytes"):
        parse_json('["0123456789"]', max_bytes=10)
    with pytest.raises(UntrustedJSONError, match="larger than"):
        parse_json('["' + "é" * 6 + '"]', max_bytes=14)  # 6 characters, 12 bytes of UTF-8
    with pytest.raises(UntrustedJSONError, match="nested deeper than 3"):
        parse_json("[[[[1]]]]", max_depth=3)
    assert parse_json("[[[1]]]", max_depth=3) == [[[1]]]
    with pytest.raises(UntrustedJSONError, match="more than 2 arrays"):
        parse_json("[{}, {}]", max_containers=2)


def test_a_non_text_argument_is_the_same_error() -> None:
    with pytest.raises(UntrustedJSONError):
        parse_json(12)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ files


def test_read_json_file_takes_only_a_bounded_regular_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}', encoding="utf-8")
    assert read_json_file(good) == {"a": [1, 2]}
    big = tmp_path / "big.json"
    big.write_text('"' + "x" * 100 + '"', encoding="utf-8")
    with pytest.raises(UntrustedJSONError, match="larger than"):
        read_json_file(big, max_bytes=50)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    to_zero = tmp_path / "zero"
    to_zero.symlink_to("/dev/zero")
    for path in (fifo, to_zero, tmp_path, Path("/dev/null"), tmp_path / "missing"):
        with pytest.raises(UntrustedJSONError, match=str(path)):
            read_json_file(path)


# ---------------------------------------------------------------------------- every path


def _probe_script(tmp_path: Path, text: str | bytes) -> Path:
    """A probe that prints `text` as one line, then a valid report."""
    payload = tmp_path / "payload"
    payload.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            with open({str(payload)!r}, "rb") as f:
                sys.stdout.buffer.write(f.read().replace(b"\\n", b" ") + b"\\n")
            sys.stdout.flush()
            print(json.dumps({{"event": "report", "status": "import_error", "error": "seen"}}))
            """
        ),
        encoding="utf-8",
    )
    return script


PATH_VECTORS = [
    "5,000 nested brackets",
    "100,000 nested brackets",
    "deep objects among bracket strings",
    "deep inside a valid event",
    "NaN",
    "a float too large",
    "an integer of 100,000 digits",
    "truncated object",
    "invalid UTF-8 bytes",
    "many unterminated quotes",
    "4 MiB + 1 byte",
]


@pytest.mark.parametrize("name", PATH_VECTORS)
async def test_a_probe_line_that_is_bad_json_does_not_stop_the_probe(
    name: str, tmp_path: Path
) -> None:
    script = _probe_script(tmp_path, BAD_VECTORS[name])
    spec = get_library("torch")
    report = await probe_library(fixed_target(), spec, timeout=60, script=script)
    # The bad line is passed over; the report after it is read.
    assert report.status == "import_error", report.error
    assert "seen" in (report.error or "")


@pytest.mark.parametrize("name", PATH_VECTORS)
def test_a_verdict_line_that_is_bad_json_is_no_verdict(name: str) -> None:
    text = BAD_VECTORS[name]
    line = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    assert parse_verdict(line) is None


@pytest.mark.parametrize("name", [n for n in PATH_VECTORS if isinstance(BAD_VECTORS[n], str)])
async def test_a_sample_whose_verdict_holds_bad_json_does_not_pass(
    name: str, tmp_path: Path
) -> None:
    payload = tmp_path / "payload"
    payload.write_text(
        '{"verdict": "pass", "detail": "x", "extra": ' + str(BAD_VECTORS[name]) + "}",
        encoding="utf-8",
    )
    script = tmp_path / "sample.py"
    script.write_text(
        f"import sys\nsys.stdout.write(open({str(payload)!r}).read() + '\\n')\n",
        encoding="utf-8",
    )
    sample = SampleRef(name="fake", path=str(script), library="torch", display_name="Fake")
    result = await run_sample(fixed_target(), sample, device="cpu", timeout=60)
    assert result.verdict is None
    assert result.status != "pass" and result.returncode == 0


def _envelope(result_text: str) -> str:
    target = fixed_target()
    identity = json.dumps(
        f"{os.path.realpath(target.prefix or '')}\0{os.path.realpath(target.executable)}"
    )
    return (
        '{"cache_format": 1, "interpreter": '
        + identity
        + ', "saved_at": 1.0, "result": '
        + (result_text + "}")
    )


@pytest.mark.parametrize("name", PATH_VECTORS)
@pytest.mark.parametrize("kind", ["check", "perf"])
def test_a_cache_file_that_is_bad_json_is_absent(name: str, kind: str, cache_in_tmp: Path) -> None:
    target = fixed_target()
    path = check_path(target) if kind == "check" else perf_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = BAD_VECTORS[name]
    payload = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    before, after = _envelope("@").encode().split(b"@")
    path.write_bytes(before + payload + after)
    loaded = load_check(target) if kind == "check" else load_perf(target)
    assert loaded is None


def test_nothing_but_the_decoder_calls_json_loads() -> None:
    root = Path(__file__).resolve().parent.parent
    callers = []
    for folder in ("probes", "tui", "content"):
        for path in (root / folder).rglob("*.py"):
            if "scripts" in path.relative_to(root).parts or "samples" in path.parts:
                continue
            if path.name == "untrusted_json.py":
                continue
            text = path.read_text(encoding="utf-8")
            if "json.loads(" in text or "json.load(" in text:
                callers.append(str(path.relative_to(root)))
    assert callers == []


def test_running_under_a_tiny_recursion_limit_still_refuses_cleanly() -> None:
    """The scan does not recurse: even a low limit leaves room for the allowed depth."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        with pytest.raises(UntrustedJSONError):
            parse_json("[" * 50_000)
        value = parse_json("[" * 40 + "]" * 40, max_depth=40)
        assert json.dumps(value) == "[" * 40 + "]" * 40
    finally:
        sys.setrecursionlimit(old)


# ------------------------------------------------------------------- the event-line reader


TEXT_VECTORS = [name for name, text in BAD_VECTORS.items() if isinstance(text, str)]


@pytest.mark.parametrize("name", TEXT_VECTORS)
def test_the_event_line_reader_passes_over_every_bad_vector(name: str) -> None:
    """(Lines arrive decoded: process.py replaces invalid UTF-8 before any reader sees it.)"""
    events: list[dict[str, Any]] = []
    reader = EventLineReader(events.append, max_line_chars=4 * MIB)
    line = str(BAD_VECTORS[name])
    reader(LineBatch("stdout", [line, '{"event": "done", "n": 1}']))
    assert events == [{"event": "done", "n": 1}]
    if line.strip():
        assert reader.bad_line is not None


def test_the_event_line_reader_keeps_stderr_and_says_a_line_was_cut() -> None:
    events: list[dict[str, Any]] = []
    reader = EventLineReader(events.append, max_line_chars=10, stderr_lines=2, stderr_chars=5)
    reader(LineBatch("stderr", ["first", "10%", "20% done"], frozenset({2})))
    assert list(reader.stderr) == ["first", "20% d"]
    reader(LineBatch("stdout", ['{"event": "x"}', "0123456789" + CUT_MARK, "not json"]))
    assert events == [{"event": "x"}]
    assert reader.bad_line is not None and "more than 10 characters (cut)" in reader.bad_line
    assert parse_event('{"no": "event key"}') is None and parse_event("[1]") is None


# ------------------------------------------------------------------------------ perf events


@pytest.mark.parametrize("name", PATH_VECTORS)
async def test_a_perf_event_that_is_bad_json_is_passed_over(name: str, tmp_path: Path) -> None:
    """A load script printing the vector among real events: the real events still count."""
    payload = tmp_path / "payload"
    text = BAD_VECTORS[name]
    payload.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    events = [
        {"event": "library", "status": "ok", "version": "1.0"},
        {"event": "ready"},
        {
            "event": "measure",
            "kind": "gemm",
            "device": "cpu",
            "dtype": "float32",
            "value": 1e9,
            "seconds": 0.1,
            "repeats": 3,
        },
        {"event": "done"},
    ]
    script = tmp_path / "load.py"
    script.write_text(
        "import json, sys\n"
        f"bad = open({str(payload)!r}, 'rb').read().replace(b'\\n', b' ')\n"
        f"for event in {events!r}:\n"
        "    sys.stdout.buffer.write(bad + b'\\n')\n"
        "    print(json.dumps(event), flush=True)\n",
        encoding="utf-8",
    )
    plan = LoadPlan(library="torch", devices=["cpu"], dtypes=["float32"])
    run, measurements, _ = await run_load(fixed_target(), plan, timeout=60, script=script)
    assert run.status == "ok", run.error
    assert [m.value for m in measurements] == [1e9]
