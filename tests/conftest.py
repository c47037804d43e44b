"""Test configuration: fixture modules are registered here, one per concern."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.phi_watch",  # first: the other fixture modules import it
    "tests.fixtures.services",
    "tests.fixtures.kafka",
    "tests.fixtures.database",
    "tests.fixtures.processor",
    "tests.fixtures.registry",
    "tests.fixtures.certificates",
]
