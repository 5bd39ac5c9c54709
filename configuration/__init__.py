"""Interlock's configuration: one settings object read from INTERLOCK_* variables and .env."""

from configuration.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
