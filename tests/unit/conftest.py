"""Shared fixtures for unit tests.

``python_workflows`` builds the two shipped workflows (workflows/*.toml) in Python, so
planning can be tested without the TOML files or ``engine.domain.definitions``.
"""

from __future__ import annotations

import pytest
from _defs import socialt_beredskab, tilpasset

from engine.domain.workflow import WorkflowDefinition


@pytest.fixture(scope="session")
def python_workflows() -> dict[str, WorkflowDefinition]:
    """The two campaign workflows, keyed by workflow key, built without TOML."""
    return {wf.key: wf for wf in (socialt_beredskab(), tilpasset())}
