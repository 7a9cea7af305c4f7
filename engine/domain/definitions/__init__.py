"""Load workflow definitions: TOML text → validated, frozen ``WorkflowDefinition``.

Loading goes in stages, and every stage collects *all* of its problems before giving up:

1. **text**: the bytes must be UTF-8 and the text must not be empty (:mod:`.parse`);
2. **syntax**: ``tomllib`` parses the text (a syntax error names its line and column);
3. **schema**: strict, frozen pydantic tables (:mod:`.schema`, value types in :mod:`.values`)
   check every table: unknown keys (listing the allowed ones), missing keys, types and the
   small value syntaxes (keys, roles, times, offsets, amounts);
4. **semantics** (:mod:`.validate`): rules that span keys and milestones: windows inside the
   programme, the keys that only meetings or only tasks may have, ``after`` references, cycles
   and order;
5. **build** (:mod:`.build`): the frozen ``engine.domain.workflow`` model, versioned by the
   text's sha256.

Cross-file rules (duplicate keys, ``requires``/``extends`` naming a known workflow, the week an
extension attaches at) run over a set of files (:mod:`.registry`): a directory
(``load_registry``) or the paths given to ``check_paths``. Each problem is a
``DefinitionProblem`` that prints as ``file: key.path: message``. The format is documented in
``docs/workflows.md``.
"""

from engine.domain.definitions.registry import (
    WorkflowRegistry,
    check_paths,
    load_file,
    load_registry,
    parse_definition,
)

__all__ = [
    "WorkflowRegistry",
    "check_paths",
    "load_file",
    "load_registry",
    "parse_definition",
]
