"""Toolkit that renders, builds, lints and publishes Fedora RPMs of Ollama."""

__version__ = "0.1.0"
