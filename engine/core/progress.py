"""How long-running engine work reports progress and learns it should stop.

The engine never imports Streamlit: loops take an `on_progress` callback and a `should_stop`
predicate, and the page turns them into `st.progress`, previews and a stop button. The CLI prints.
"""

from __future__ import annotations

from typing import Any, Protocol


class ProgressCallback(Protocol):
    def __call__(self, fraction: float, message: str, preview: Any | None = None) -> None:
        """fraction in [0, 1]; message for people; preview: e.g. an intermediate image or metrics."""


class StopCheck(Protocol):
    def __call__(self) -> bool:
        """True when the user asked to stop; loops finish their current step and return."""


def no_progress(fraction: float, message: str, preview: Any | None = None) -> None:
    """The default callback: report nothing."""


def never_stop() -> bool:
    return False
