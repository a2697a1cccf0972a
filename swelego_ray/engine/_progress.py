"""A rich progress bar with counts (or nothing)."""

from __future__ import annotations

from collections.abc import Callable


class Progress:
    """Context manager yielding `advance(ok: bool)`; shows done / failed / total."""

    def __init__(self, enabled: bool, stage: str, total: int, done: int) -> None:
        self.enabled, self.stage, self.total, self.done = enabled, stage, total, done
        self.bar = None
        self.failed = 0

    def __enter__(self) -> Callable[[bool], None]:
        if not self.enabled:
            return lambda ok: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "[red]{task.fields[failed]} failed",
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        task = self.bar.add_task(self.stage, total=self.total, completed=self.done, failed=0)

        def advance(ok: bool) -> None:
            self.failed += not ok
            self.bar.update(task, advance=1, failed=self.failed)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
