"""Malformed and malicious workflow definitions: never a traceback, always ``file: key.path: msg``.

Hypothesis mutates the shipped ``workflows/*.toml``: structurally (drop, duplicate and rename
keys, wrong types, huge numbers, negative weeks, ``after`` cycles, hostile unicode, deep
nesting, long strings and arrays) and as bytes (lines deleted, duplicated and swapped, invalid
UTF-8, NUL, lone CR, UTF-16, truncation, binary garbage). Every result goes through the public
loader (``load_file``, ``check_paths``, ``load_registry``) and ``fbh workflows check``: in
process for every example, and through the installed binary for batches of files at once.
"""

from __future__ import annotations

import math
import re
import shutil
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hostile_input import WORKFLOWS, Cli, is_traceback, write_config
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from engine.domain.definitions import check_paths, load_file, load_registry
from engine.domain.errors import DefinitionError, DefinitionProblem
from engine.domain.workflow import WorkflowDefinition

SHIPPED = {path.name: path.read_bytes() for path in sorted(WORKFLOWS.glob("*.toml"))}
PARSED = {name: tomllib.loads(data.decode("utf-8")) for name, data in SHIPPED.items()}
# What the loader prints as key.path: the root, a TOML syntax position, or a schema path.
KEY_PATH = r"(?:<root>|line \d+(?:, column \d+)?|(?:workflow|milestones)(?:\.[a-z_]+|\[\d+\])*)"
CROSS_FILE = ("workflow.key", "workflow.requires", "workflow.extends")


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# ----- a small TOML writer, so mutated documents can be written back --------------------------


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")  # a lone surrogate stays invalid TOML, on purpose
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


class Big(int):
    """A huge integer that hypothesis can print: ``repr()`` of an int of more than 4300 digits
    raises ValueError."""

    def __repr__(self) -> str:
        return f"Big({self.bit_length()} bits)"

    __str__ = __repr__


HUGE = [Big(2**63), Big(-(2**64)), Big(10**300), Big(-(10**40)), Big(16**4000), Big(16**5000)]


def value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return int.__repr__(item) if item.bit_length() < 4000 else hex(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        return ("inf" if item > 0 else "-inf") if math.isinf(item) else repr(item)
    if isinstance(item, str):
        return _string(item)
    if isinstance(item, datetime | date | time):
        return item.isoformat()
    if isinstance(item, list):
        return "[" + ", ".join(value(v) for v in item) + "]"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{_key(k)} = {value(v)}" for k, v in item.items()) + "}"
    if isinstance(item, Deep):
        return item.toml()
    raise TypeError(item)


def document(data: dict[str, Any], sections: bool) -> str:
    """Write ``data``: top-level tables as ``[table]``/``[[array]]`` sections, or all inline."""
    if not sections:
        return "".join(f"{_key(k)} = {value(v)}\n" for k, v in data.items())
    head, tail = [], []
    for key, item in data.items():
        if isinstance(item, dict):
            tail.append(f"\n[{_key(key)}]\n" + document(item, sections=False))
        elif isinstance(item, list) and item and all(isinstance(v, dict) for v in item):
            tail.extend(f"\n[[{_key(key)}]]\n" + document(v, sections=False) for v in item)
        else:
            head.append(f"{_key(key)} = {value(item)}\n")
    return "".join(head) + "".join(tail)


# ----- structural mutations -------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]
Path_ = tuple[str | int, ...]

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "Workshop\r\nBcc: evil@example.org",
        "Workshop\nX-Injected: 1",
        "Workshop\u2028Bcc: evil@example.org",
        "Workshop\u0085Bcc: evil@example.org",
        "Workshop\x00\x07\x1b[31m",
        "=?utf-8?q?Bcc=3A_evil=40example=2Eorg?=",
        "<script>alert(1)</script>",
        "{{ 7*7 }}{% raw %}",
        "\u202eesrever",
        "z\u0300\u0301\u0302" * 20,
        "\ufeffBOM",
        "😀" * 50,
        "\ud800",
        "x" * 100_000,
        "ÆØÅ æøå " * 500,
    ]
)
SCALARS = st.one_of(
    st.integers(),
    st.sampled_from([*HUGE, 0, -1]),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
    HOSTILE_TEXT,
    st.sampled_from(["2d", "5h", "1h30m", "09:00", "25:00", "meeting", "task", "tovholder", "-1"]),
    st.datetimes(timezones=st.sampled_from([UTC, None])),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
KEY_VARIANTS = [
    lambda k: k + "s",
    lambda k: k.upper(),
    lambda k: k[:-1],
    lambda k: k.replace("e", "\u0435"),  # Cyrillic e, a lookalike
    lambda k: " " + k,
    lambda k: k + "\u200b",  # zero-width space
    lambda k: "",
    lambda k: k * 200,
    lambda k: "titel" if k == "title" else "kind " + k,
]


def _places(data: Any, at: Path_ = ()) -> list[Path_]:
    """Every path to a value in ``data``."""
    found: list[Path_] = [at] if at else []
    if isinstance(data, dict):
        for key, item in data.items():
            found += _places(item, (*at, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += _places(item, (*at, index))
    return found


def _get(data: Any, at: Path_) -> Any:
    for part in at:
        data = data[part]
    return data


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


class Deep:
    """A value nested ``depth`` arrays or inline tables deep, written without recursion (the
    writer and the mutators would hit Python's recursion limit before tomllib does)."""

    def __init__(self, depth: int, leaf: Any, as_list: bool) -> None:
        self.depth, self.leaf, self.as_list = depth, leaf, as_list

    def toml(self) -> str:
        opening, closing = ("[", "]") if self.as_list else ("{a = ", "}")
        return opening * self.depth + value(self.leaf) + closing * self.depth

    def __repr__(self) -> str:
        return f"Deep({self.depth}, {'array' if self.as_list else 'table'})"


def mutate(data: dict[str, Any], draw: Draw) -> dict[str, Any]:
    """One structural change to a parsed definition."""
    data = _copy(data)
    places = _places(data)
    if not places:  # everything was dropped already
        data[draw(st.text(max_size=10))] = draw(VALUES)
        return data
    at = draw(st.sampled_from(places))
    parent, last = _get(data, at[:-1]), at[-1]
    milestones = data.get("milestones") if isinstance(data.get("milestones"), list) else []
    keyed = [m for m in milestones if isinstance(m, dict) and isinstance(m.get("key"), str)]
    action = draw(
        st.sampled_from(
            [
                "drop",
                "rename",
                "retype",
                "huge",
                "weeks",
                "after",
                "duplicate",
                "text",
                "nest",
                "long",
                "extra",
            ]
        )
    )
    if action == "drop":
        del parent[last]
    elif action == "rename" and isinstance(last, str):
        parent[draw(st.sampled_from(KEY_VARIANTS))(last)] = parent.pop(last)
    elif action == "retype":
        parent[last] = draw(VALUES)
    elif action == "huge":
        parent[last] = draw(st.sampled_from([*HUGE, 1e308, -1e308]))
    elif action == "weeks" and milestones:
        target = draw(st.sampled_from(milestones))
        if isinstance(target, dict):
            target["weeks"] = draw(
                st.one_of(
                    st.integers(-(10**6), -1),
                    st.tuples(st.integers(-300, 300), st.integers(-300, 300)).map(list),
                    st.lists(st.integers(-5, 20), max_size=4),
                    st.just([Big(10**40), 2]),
                )
            )
    elif action == "after" and keyed:
        ring = draw(st.lists(st.sampled_from(keyed), min_size=1, max_size=len(keyed), unique_by=id))
        for here, there in zip(ring, ring[1:] + ring[:1], strict=True):
            here["after"] = [there["key"]]  # a cycle (of one, a self-reference, if alone)
        if draw(st.booleans()):
            ring[0]["after"] = [*ring[0]["after"], "ukendt", ring[0]["after"][0]]
    elif action == "duplicate" and milestones:
        milestones.insert(
            draw(st.integers(0, len(milestones))), _copy(draw(st.sampled_from(milestones)))
        )
    elif action == "text":
        parent[last] = draw(HOSTILE_TEXT)
    elif action == "nest":
        depth = draw(st.sampled_from([2, 30, 300, 400, 3000]))
        parent[last] = Deep(depth, draw(SCALARS), draw(st.booleans()))
    elif action == "long":
        parent[last] = draw(
            st.sampled_from([["consultant"] * 10_000, list(range(5000)), "x" * 200_000])
        )
    else:
        target = draw(st.sampled_from([data, *[m for m in milestones if isinstance(m, dict)]]))
        target[draw(st.text(max_size=10))] = draw(VALUES)
    return data


@st.composite
def structural(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(PARSED)))
    data = PARSED[name]
    for _ in range(draw(st.integers(1, 3))):
        data = mutate(data, draw)
    text = document(data, sections=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


# ----- byte mutations -------------------------------------------------------------------------

NASTY_BYTES = st.sampled_from(
    [
        b"\x00",
        b"\xff",
        b"\xc3",  # a truncated UTF-8 sequence
        b"\xed\xa0\x80",  # an encoded surrogate
        b"\xc0\x80",  # overlong NUL
        b"\r",
        b"\xe2\x80\xa8",
        b"\xef\xbb\xbf",
        b"[",
        b"]]",
        b"=",
        b'"',
        b"'''",
        b"\\",
        b"\n[[milestones]]\n",
        b"\n[workflow]\n",
        b"\nkey = 1\nkey = 2\n",
        b"\n" + b"[" * 5000 + b"\n",
        b"x = " + b"9" * 5000 + b"\n",
    ]
)


@st.composite
def textual(draw: st.DrawFn) -> bytes:
    data = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    lines = data.split(b"\n")
    action = draw(
        st.sampled_from(
            [
                "delete",
                "duplicate",
                "swap",
                "truncate",
                "insert",
                "colon",
                "crlf",
                "cr",
                "utf16",
                "garbage",
            ]
        )
    )
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    if action == "delete":
        del lines[i]
    elif action == "duplicate":
        lines.insert(i, lines[j])
    elif action == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif action == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    elif action == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(NASTY_BYTES) + data[at:]
    elif action == "colon":
        lines[i] = lines[i].replace(b" = ", b": ", 1)
    elif action == "crlf":
        return data.replace(b"\n", b"\r\n")
    elif action == "cr":
        return data.replace(b"\n", b"\r")
    elif action == "utf16":
        return data.decode("utf-8").encode(
            draw(st.sampled_from(["utf-16", "utf-32", "latin-1"])), "replace"
        )
    else:
        return draw(st.binary(max_size=400))
    return b"\n".join(lines)


DEFINITIONS = st.one_of(structural(), textual())


# ----- the checks -----------------------------------------------------------------------------


def problem_line(file: Path) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(str(file))}: (?P<path>{KEY_PATH}): (?P<message>\S.*)$")


def assert_lines(lines: list[str], file: Path) -> None:
    pattern = problem_line(file)
    for line in lines:
        assert len(line.splitlines()) == 1, f"a problem spans several lines: {line!r}"
        assert pattern.match(line), f"not 'file: key.path: message': {line[:300]!r}"


def load_everywhere(path: Path, tally: Any) -> list[DefinitionProblem]:
    """Load ``path`` through every public entry point; return what check_paths reports."""
    tally.inputs(1)
    try:
        loaded: WorkflowDefinition | DefinitionError = load_file(path)
    except DefinitionError as exc:
        loaded = exc
    except Exception:
        tally.tracebacks(1)
        raise
    try:
        problems = check_paths([path])
        registry_dir = path.parent / "registry"
        shutil.rmtree(registry_dir, ignore_errors=True)
        registry_dir.mkdir()
        shutil.copyfile(path, registry_dir / "0-fuzz.toml")
        for name, data in SHIPPED.items():
            (registry_dir / name).write_bytes(data)
        try:
            load_registry(registry_dir)
        except DefinitionError as exc:
            assert len(str(exc).splitlines()) == 1  # how 'fbh plan' etc. would show it
            for problem in exc.problems:
                assert_lines([str(problem)], Path(problem.file))
    except Exception:
        tally.tracebacks(1)
        raise
    assert_lines([str(p) for p in problems], path)
    if isinstance(loaded, DefinitionError):
        assert loaded.problems and problems, "load_file refused it, check_paths found nothing"
        assert [str(p) for p in loaded.problems] == [str(p) for p in problems][
            : len(loaded.problems)
        ]
        assert len(str(loaded).splitlines()) == 1
    else:
        assert all(p.path.startswith(CROSS_FILE) for p in problems), problems
    return problems


@fuzz(200)
@given(data=DEFINITIONS)
@example(
    data=SHIPPED["socialt-beredskab.toml"].replace(b"weeks = 12 ", b"weeks = " + b"9" * 5000 + b" ")
)
@example(
    data=SHIPPED["socialt-beredskab.toml"].replace(
        b"weeks = [9, 11]", b"weeks = [9, 0x" + b"f" * 5000 + b"]"
    )
)
@example(data=SHIPPED["tilpasset.toml"].replace(b"at_week = 6", b"at_week = 0x" + b"f" * 4000))
@example(data=b"")
@example(data=b"\xff\xfe\x00")
def test_fuzzed_definitions_load_or_give_problem_lines(
    tmp_path: Path, tally: Any, data: bytes
) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    load_everywhere(path, tally)


@fuzz(60)
@given(data=DEFINITIONS)
def test_fbh_workflows_check_in_process(tmp_path: Path, tally: Any, data: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    cli = Cli(tmp_path, write_config(tmp_path, tmp_path / "fbh.sqlite3"))
    result = cli("workflows", "check", str(path))
    tally.inputs(1)
    if is_traceback(result):
        tally.tracebacks(1)
        pytest.fail(str(result))
    expected = [str(p) for p in check_paths([path])]
    if expected:
        assert result.code == 2 and result.out == "", result
        assert result.err_lines == expected
        assert_lines(result.err_lines, path)
    else:
        assert result.code == 0 and result.err == "" and result.out == f"ok: {path}\n", result


@settings(fuzz(2), phases=[Phase.explicit, Phase.generate])
@given(batch=st.lists(DEFINITIONS, min_size=20, max_size=20))
def test_the_installed_binary_checks_a_batch(
    tmp_path: Path, tally: Any, batch: list[bytes]
) -> None:
    """One run of the real ``fbh workflows check`` over 20 fuzzed files at once."""
    for old in tmp_path.glob("f*.toml"):
        old.unlink()
    paths = []
    for index, data in enumerate(batch):
        path = tmp_path / f"f{index:02d}.toml"
        path.write_bytes(data)
        paths.append(path)
    cli = Cli(tmp_path, write_config(tmp_path, tmp_path / "fbh.sqlite3"))
    result = cli.binary("workflows", "check", *map(str, paths))
    tally.inputs(len(paths))
    if is_traceback(result):
        tally.tracebacks(1)
        pytest.fail(str(result))
    expected = [str(p) for p in check_paths(paths)]
    if not expected:
        assert result.code == 0, result
        return
    assert result.code == 2 and result.out == "", result
    assert result.err_lines == expected
    for line in result.err_lines:
        file = Path(line.split(": ", 1)[0])
        assert file in paths, line
        assert_lines([line], file)


# ----- named cases: the bugs the fuzzing found, and the shapes the loader promises ------------


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (
            (b"weeks = 12 ", b"weeks = " + b"9" * 5000 + b" "),
            "line 17: TOML syntax error: a number with more than 4300 digits",
        ),
        (
            (b"weeks = [9, 11]", b"weeks = [9, 0x" + b"f" * 5000 + b"]"),
            "milestones[4].weeks: week a number of about 6021 digits is outside 0…260",
        ),
        (
            (b"weeks = 12 ", b"weeks = 0x" + b"f" * 5000 + b" "),
            "workflow.weeks: must be between 0 and 260, got a number of about 6021 digits",
        ),
        (
            (b'key = "afsaet"', b'key = "afsaet"\nafter = ["opfoelgning"]'),
            "milestones[0].after: dependency cycle: afsaet -> opfoelgning -> workshop",
        ),
        ((b"weeks = 0\n", b"weeks = -3\n"), "milestones[0].weeks: weeks cannot be negative"),
        ((b"[workflow]", b"[workflow]\n[workflow]"), "line 9, column 10: TOML syntax error"),
        ((b"socialt", b"socialt\xff"), "line 9: the file is not UTF-8 text (byte 0xff)"),
        ((b'title = "Socialt', b'title = "\\u2028Socialt'), None),  # a line separator is text
    ],
)
def test_named_definitions(
    tmp_path: Path, tally: Any, replace: tuple[bytes, bytes], expected: str | None
) -> None:
    data = SHIPPED["socialt-beredskab.toml"].replace(*replace, 1)
    assert data != SHIPPED["socialt-beredskab.toml"]
    path = tmp_path / "named.toml"
    path.write_bytes(data)
    problems = [str(p) for p in load_everywhere(path, tally)]
    if expected is None:
        assert problems == []
    else:
        assert any(line.startswith(f"{path}: {expected}") for line in problems), problems
