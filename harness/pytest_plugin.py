"""pytest plugin: fixtures for the fake world (being built)."""
