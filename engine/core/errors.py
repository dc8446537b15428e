"""The project's exceptions: each message tells the user what to do next.

Pages catch `StudioError` and show its message with `st.error`; the CLI prints it on one line of
stderr and exits with status 2.
"""


class StudioError(Exception):
    """Base class of every error ConvNet Studio raises on purpose."""


class InvalidMedia(StudioError):
    """The uploaded file is not media we can use (empty, corrupt, wrong type, too large)."""


class InvalidInput(StudioError):
    """A parameter or text given by the user is out of range or malformed."""


class UnknownModel(StudioError):
    """A model name that the registry does not know."""


class ModelUnavailable(StudioError):
    """The model is known but none of its weight sources can be had right now."""


class AssetError(StudioError):
    """An offline asset is missing, cannot be downloaded or fails its checksum."""
