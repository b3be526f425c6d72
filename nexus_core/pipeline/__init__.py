"""Pipelines: node graphs (Qt-free) with a typed node registry, validation, a caching executor and a file format."""
