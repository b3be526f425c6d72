"""The node families that ship with the app."""
