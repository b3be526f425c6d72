"""Nexus Studio's engine: everything the app does, usable headless. Never imports Qt."""

__version__ = "0.1.0"
