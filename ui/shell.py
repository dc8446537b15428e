"""Keeping every page inside the app shell (app.py's `st.navigation` and sidebar).

Streamlit still honours its older multipage mode, in which a `pages/` folder beside the entry
point makes each file a page of its own. Until some session has run `st.navigation`, a fresh
server serves a deep link such as /classification that way: the page runs without app.py, so
without our sidebar and navigation, and the whole server stays in that mode. Each page calls
`ensure_app_shell()` first; in the old mode it switches the process to `st.navigation` and reruns,
and app.py then routes the same URL to the same page.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_shell() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
