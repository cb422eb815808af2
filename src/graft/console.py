"""The console every graft command prints through: fit for terminals, pipes and log files.

- Text is printed literally: no rich markup, no emoji codes, so a path with ``[...]`` or an
  install hint like ``pip install 'graft[tensorrt]'`` arrives as written. Style a label with
  :func:`labeled` (or a :class:`rich.text.Text`) instead of markup.
- No line is ever hard-wrapped or cut (``soft_wrap``): in a terminal the terminal wraps long
  lines for display; in a pipe or log a path or message stays one line you can grep and copy.
- In a pipe or file, tables get a wide canvas (rich assumes 80 columns there and would fold or
  cut cells), and rules stay short.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.text import Text

PIPE_WIDTH = 10_000  # columns a table may use when the output is not a terminal
RULE_WIDTH = 80  # a rule in a log: a short separator, not PIPE_WIDTH dashes


class GraftConsole(Console):
    """A :class:`rich.console.Console` with graft's settings (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        self._explicit_width = kwargs.get("width") is not None
        kwargs = {"markup": False, "emoji": False, "soft_wrap": True, **kwargs}
        super().__init__(**kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        """In a pipe, :data:`PIPE_WIDTH` columns unless a width was given: rich would take 80
        (or $COLUMNS, which CI runners and pytest-xdist set) and fit tables into it."""
        size = super().size
        if self.is_terminal or self._explicit_width:
            return size
        return ConsoleDimensions(PIPE_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._explicit_width = True
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def rule(self, title: str | Text = "", **kwargs: Any) -> None:
        """A separator line with a bold title, at most :data:`RULE_WIDTH` wide in a pipe."""
        from rich.rule import Rule

        text = Text(title, style="bold") if isinstance(title, str) else title
        self.print(Rule(text, **kwargs), width=None if self.is_terminal else RULE_WIDTH)


def labeled(label: str, style: str, message: str) -> Text:
    """``label message`` with only the label styled (e.g. ``labeled("error:", "bold red", m)``);
    the message is kept literally."""
    return Text.assemble((label, style), " ", message) if message else Text(label, style)


console = GraftConsole()
err_console = GraftConsole(stderr=True)
