"""Root conftest: shared fixtures for every suite (real broker, emulators)."""

pytest_plugins = ["devstack.pytest_plugin"]
