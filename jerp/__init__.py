"""JERP: the small service the PrivateLink kit exposes. ``GET /user/<name>`` greets."""

from jerp.app import create_app
from jerp.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]
__version__ = "0.1.0"
