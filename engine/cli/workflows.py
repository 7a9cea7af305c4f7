"""CLI: ``fbh workflows`` (check and list the workflow definitions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import (
    JsonOption,
    checked_path,
    emit_json,
    say,
    state,
)
from engine.domain.definitions import check_paths, load_registry

workflows_app = typer.Typer(help="Workflow definitions.", no_args_is_help=True)


@workflows_app.command("check")
def workflows_check(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
) -> None:
    """Validate definitions; print each problem as 'file: key.path: message'."""
    targets = (
        [checked_path(p, "PATHS") for p in paths] if paths else [state(ctx).settings.workflows_dir]
    )
    problems = check_paths(targets)
    for problem in problems:
        say(str(problem), err=True)
    if problems:
        raise typer.Exit(2)
    say(f"ok: {', '.join(str(t) for t in targets)}")


@workflows_app.command("list")
def workflows_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the workflows with their versions."""
    registry = load_registry(state(ctx).settings.workflows_dir)
    rows = [
        {
            "key": d.key,
            "version": d.version,
            "title": d.title,
            "weeks": d.weeks,
            "milestones": len(d.milestones),
            "extends": d.extends.workflow if d.extends else None,
            "requires": list(d.requires),
        }
        for d in registry
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        extra = f"  extends {row['extends']}" if row["extends"] else ""
        say(f"{row['key']:<20} {row['version']:<20} {row['title']}{extra}")
