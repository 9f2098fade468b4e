"""JERP: the small service the PrivateLink kit exposes. ``GET /user/<name>`` greets."""

from jerp.app import VERSION as __version__
from jerp.app import create_app
from jerp.settings import Settings, load_settings

__all__ = ["Settings", "__version__", "create_app", "load_settings"]
