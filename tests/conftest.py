"""Shared pytest configuration for the project's own tests."""

pytest_plugins = ["pytester"]
