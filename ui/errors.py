"""Turning the engine's errors into messages on the page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from engine.core.errors import StudioError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show a `StudioError` as `st.error` and stop this run; other sessions are unaffected."""
    try:
        yield
    except StudioError as error:
        st.error(str(error))
        st.stop()
