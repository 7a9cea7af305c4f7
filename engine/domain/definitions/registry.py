"""Stage 6: the rules across files, the registry, and the public loading functions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType

from engine.domain.definitions.build import Analysis, Header, analyse, read_source
from engine.domain.definitions.validate import find_cycles
from engine.domain.errors import DefinitionError, DefinitionProblem, NotFoundError
from engine.domain.workflow import WorkflowDefinition

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Cross-file rules
# ---------------------------------------------------------------------------------------------


def cross_file_problems(headers: Sequence[Header]) -> list[DefinitionProblem]:
    """Duplicate keys, unknown ``requires``/``extends`` targets, ``at_week`` and cycles."""
    out: list[DefinitionProblem] = []
    by_key: dict[str, Header] = {}
    for header in headers:
        if header.key in by_key:
            first = by_key[header.key].source
            out.append(
                DefinitionProblem(
                    header.source,
                    "workflow.key",
                    f"duplicate workflow key {header.key!r} (also in {first})",
                )
            )
        else:
            by_key[header.key] = header
    for header in headers:
        out.extend(_check_references(header, by_key))
    out.extend(_reference_cycles(by_key))
    return out


def _check_references(header: Header, by_key: dict[str, Header]) -> list[DefinitionProblem]:
    known = ", ".join(sorted(by_key)) or "none"
    out = [
        DefinitionProblem(
            header.source, f"workflow.requires[{i}]", f"unknown workflow {key!r} (known: {known})"
        )
        for i, key in enumerate(header.requires)
        if key not in by_key
    ]
    extends = header.extends
    if extends is None:
        return out
    base = by_key.get(extends.workflow)
    if base is None:
        msg = f"unknown workflow {extends.workflow!r} (known: {known})"
        out.append(DefinitionProblem(header.source, "workflow.extends.workflow", msg))
    elif base.weeks is not None and extends.at_week > base.weeks:
        msg = f"week {extends.at_week} is after {base.key!r}'s last week ({base.weeks})"
        out.append(DefinitionProblem(header.source, "workflow.extends.at_week", msg))
    return out


def _reference_cycles(by_key: dict[str, Header]) -> list[DefinitionProblem]:
    """A ``requires`` or ``extends`` cycle makes every workflow in it impossible to start."""
    out: list[DefinitionProblem] = []
    graphs: dict[str, dict[str, Sequence[str]]] = {
        "requires": {h.key: h.requires for h in by_key.values()},
        "extends": {h.key: (h.extends.workflow,) if h.extends else () for h in by_key.values()},
    }
    for relation, graph in graphs.items():
        for cycle in find_cycles(graph):
            path = "workflow.requires" if relation == "requires" else "workflow.extends.workflow"
            msg = f"{relation} cycle: {' -> '.join(cycle)}"
            out.append(DefinitionProblem(by_key[cycle[0]].source, path, msg))
    return out


def run_all(
    analyses: Sequence[Analysis],
) -> tuple[list[DefinitionProblem], list[WorkflowDefinition]]:
    problems = [p for a in analyses for p in a.problems]
    problems += cross_file_problems([a.header for a in analyses if a.header is not None])
    order = {a.source: i for i, a in enumerate(analyses)}
    problems.sort(key=lambda p: order.get(p.file, len(order)))  # stable: by file, then as found
    definitions = [a.definition for a in analyses if a.definition is not None]
    return problems, definitions


# ---------------------------------------------------------------------------------------------
# The registry and the public functions
# ---------------------------------------------------------------------------------------------


class WorkflowRegistry:
    """A read-only set of workflow definitions, by key.

    Iterating yields the definitions in key order; ``in`` and ``get`` take a key. The
    constructor applies the cross-file rules and raises ``DefinitionError`` if they fail.
    """

    __slots__ = ("_definitions",)

    def __init__(self, definitions: Iterable[WorkflowDefinition] = ()) -> None:
        items = list(definitions)
        problems = cross_file_problems([header_of_definition(d) for d in items])
        if problems:
            raise DefinitionError(problems)
        ordered = sorted(items, key=lambda d: d.key)
        self._definitions = MappingProxyType({d.key: d for d in ordered})

    def get(self, key: str) -> WorkflowDefinition:
        """The workflow ``key``, case-insensitively (``--with TILPASSET``)."""
        found = self._definitions.get(key) or self._definitions.get(key.strip().lower())
        if found is None:
            found = next(
                (d for k, d in self._definitions.items() if k.casefold() == key.strip().casefold()),
                None,
            )
        if found is None:
            raise NotFoundError("workflow", key)
        return found

    def keys(self) -> list[str]:
        return list(self._definitions)

    def extensions_of(self, base_key: str) -> list[WorkflowDefinition]:
        """The workflows that can extend ``base_key``, in key order."""
        return [d for d in self if d.extends is not None and d.extends.workflow == base_key]

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        return iter(self._definitions.values())

    def __contains__(self, key: object) -> bool:
        return key in self._definitions

    def __len__(self) -> int:
        return len(self._definitions)

    def __repr__(self) -> str:
        return f"WorkflowRegistry({', '.join(self._definitions)})"


def header_of_definition(definition: WorkflowDefinition) -> Header:
    return Header(
        source=definition.source_path or definition.key,
        key=definition.key,
        weeks=definition.weeks,
        requires=definition.requires,
        extends=definition.extends,
    )


def parse_definition(text: str, source: str) -> WorkflowDefinition:
    """Parse and validate one definition. ``source`` names it in problems (a path, or e.g.
    ``snapshot:socialt-beredskab``). Cross-file rules are not applied.

    Raises ``DefinitionError`` with every problem found.
    """
    analysis = analyse(text, source)
    if analysis.definition is None:
        raise DefinitionError(analysis.problems)
    return analysis.definition


def load_file(path: Path) -> WorkflowDefinition:
    """Read and parse one file (UTF-8). Raises ``DefinitionError``, also if it cannot be read."""
    analysis = read_source(Path(path))
    if analysis.definition is None:
        raise DefinitionError(analysis.problems)
    logger.debug("loaded workflow %s from %s", analysis.definition.version, path)
    return analysis.definition


def _expand(paths: Sequence[Path]) -> tuple[list[Path], list[DefinitionProblem]]:
    """Files to check: each file as given, and each directory's ``*.toml`` (sorted)."""
    files: list[Path] = []
    problems: list[DefinitionProblem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not found:
                problems.append(
                    DefinitionProblem(
                        str(path), "", "no workflow definitions (*.toml) in this directory"
                    )
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(DefinitionProblem(str(path), "", "no such file or directory"))
    unique: dict[Path, Path] = {}  # resolved → as given, so each file is read once
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values()), problems


def check_paths(paths: Sequence[Path]) -> list[DefinitionProblem]:
    """Check files and directories together; return every problem (never raises for them)."""
    files, problems = _expand(paths)
    found, _ = run_all([read_source(f) for f in files])
    return problems + found


def load_registry(directory: Path) -> WorkflowRegistry:
    """Load every ``*.toml`` in ``directory``. Raises ``DefinitionError`` with every problem
    across every file, cross-file rules included."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DefinitionError([DefinitionProblem(str(directory), "", "not a directory")])
    files, problems = _expand([directory])
    found, definitions = run_all([read_source(f) for f in files])
    if problems or found:
        raise DefinitionError(problems + found)
    logger.info("loaded %d workflow(s) from %s", len(definitions), directory)
    return WorkflowRegistry(definitions)
