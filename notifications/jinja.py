"""fbh's Jinja2 environment class (:func:`notifications.render.environment` makes the shared
one). A module of its own so that importing :mod:`notifications.render` does not import
Jinja: the daemon is ready before it renders anything (docs/benchmarks.md, "Start-up")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Expr

_DICT_ATTRIBUTES = frozenset(dir(dict))


class FbhCodeGenerator(CodeGenerator):
    """Jinja's code generator, writing ``{{ … }}`` in autoescaped templates through
    :func:`escape_output` instead of ``markupsafe.escape`` (the same text). Templates with
    ``{% autoescape %}`` blocks (a "volatile" escaping context) keep Jinja's own code."""

    def _output_child_pre(self, node: Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
            self.write("environment.escape_output(")
            if finalize.src is not None:
                self.write(finalize.src)
            return
        super()._output_child_pre(node, frame, finalize)


class FbhEnvironment(Environment):
    """Jinja's environment, reading a context's keys without the generic lookup (a digest
    reads thousands per mail), and escaping output with :func:`escape_output`. The result is
    Jinja's own: an attribute of dict (``items``) still comes first, and a missing key is
    undefined."""

    code_generator_class = FbhCodeGenerator

    def __init__(
        self,
        *,
        escape_output: Callable[[Any], str],
        plain_dicts: tuple[type, ...],
        **options: Any,
    ) -> None:
        """``escape_output`` and the ``plain_dicts`` come from :mod:`notifications.render`
        (this module does not import it: it imports this one)."""
        super().__init__(**options)
        self.escape_output = escape_output
        self.plain_dicts = plain_dicts

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in self.plain_dicts and attribute not in _DICT_ATTRIBUTES:
            try:
                return dict.__getitem__(obj, attribute)
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)
