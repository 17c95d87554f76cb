"""Show a build's progress: a live panel on a terminal, plain lines elsewhere.

The live panel uses python3-rich when it is installed; without it, or where
hostenv.live_display says no (CI, TERM=dumb, stdout not a terminal), each step
prints one line and CMake progress prints at every 10%, so logs stay short and
deterministic.
"""

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ollama_rpm import hostenv

if TYPE_CHECKING:
    from ollama_rpm.builders.buildlog import Tracker


class Display(Protocol):
    """What a build reports its progress to (PlainDisplay, RichDisplay)."""

    def start(self, target: str, detail: str = "") -> None: ...
    def update(self, tracker: "Tracker") -> None: ...
    def finish(self, ok: bool, summary: str) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """One line per step; CMake progress at each 10% step."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.target = ""
        self._printed: dict[int, int | None] = {}      # step index -> last printed decile

    def start(self, target: str, detail: str = "") -> None:
        self.target = target
        self._printed = {}
        self._print(f"building{': ' + detail if detail else ''}")

    def update(self, tracker: "Tracker") -> None:
        for index, step in enumerate(tracker.steps):
            if index not in self._printed:
                self._printed[index] = None
                self._print(step.label)
            if step.percent is not None:
                decile = step.percent // 10 * 10
                if decile != self._printed[index] and decile > 0:
                    self._printed[index] = decile
                    self._print(f"{step.label} {decile}%")

    def finish(self, ok: bool, summary: str) -> None:
        self._print(f"{'done' if ok else 'FAILED'}: {summary}")

    def close(self) -> None:
        pass

    def _print(self, text: str) -> None:
        print(f"[{self.target}] {text}", file=self.stream, flush=True)


class RichDisplay:
    """A live list of steps with a spinner on the running one and CMake percentages."""

    def __init__(self, rich_modules: tuple[ModuleType, ...], stream: TextIO | None = None) -> None:
        self.console_mod, self.live_mod, self.table_mod, self.spinner_mod, markup = rich_modules
        self.escape = markup.escape   # log text may hold [brackets] that rich reads as markup
        self.console = self.console_mod.Console(file=stream or sys.stdout)
        self.live: Any = None
        self.target = ""
        self.tracker: Tracker | None = None

    def _render(self) -> Any:
        table = self.table_mod.Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column()
        table.add_column(justify="right")
        table.add_row("", f"[bold]{self.escape(self.target)}[/bold]", "")
        steps = self.tracker.steps if self.tracker else []
        for step in steps:
            mark = "[green]✓[/green]" if step.done else self.spinner_mod.Spinner("dots")
            percent = f"{step.percent:3d}%" if step.percent is not None else ""
            table.add_row(mark, self.escape(step.label), percent)
        return table

    def start(self, target: str, detail: str = "") -> None:
        self.target, self.tracker = target, None
        self.console.print(f"[bold]{self.escape(target)}[/bold]: building{': ' + self.escape(detail) if detail else ''}",
                           highlight=False)
        self.live = self.live_mod.Live(self._render(), console=self.console, refresh_per_second=4,
                                       transient=True)
        self.live.start()

    def update(self, tracker: "Tracker") -> None:
        self.tracker = tracker
        if self.live:
            self.live.update(self._render())

    def finish(self, ok: bool, summary: str) -> None:
        if self.live:
            self.live.stop()
            self.live = None
        for step in (self.tracker.steps if self.tracker else []):
            self.console.print(f"  {'✓' if step.done or ok else '✗'} {self.escape(step.label)}", highlight=False)
        colour = "green" if ok else "red"
        self.console.print(f"[{colour}]{'done' if ok else 'FAILED'}[/{colour}]: {self.escape(summary)}", highlight=False)

    def close(self) -> None:
        if self.live:
            self.live.stop()
            self.live = None


def make_display(stream: TextIO | None = None) -> PlainDisplay | RichDisplay:
    stream = stream or sys.stdout
    if hostenv.live_display(stream):
        try:
            from rich import console, live, markup, spinner, table
        except ImportError:
            return PlainDisplay(stream)
        return RichDisplay((console, live, table, spinner, markup), stream)
    return PlainDisplay(stream)
