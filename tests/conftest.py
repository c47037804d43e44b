"""Test configuration: fixture modules are registered here, one per concern."""

from __future__ import annotations

import os

# The suite runs on the local stack (or servers given by KAFKA_BOOTSTRAP_SERVERS and
# DATABASE_URL): its processes and commands use the local profile, as under `make test`.
os.environ.setdefault("EMR_STREAMS_PROFILE", "local")

pytest_plugins = [
    "tests.fixtures.clock",  # first: it fixes the run's clock before anything reads it
    "tests.fixtures.phi_watch",  # the other fixture modules import it
    "tests.fixtures.services",
    "tests.fixtures.kafka",
    "tests.fixtures.database",
    "tests.fixtures.processor",
    "tests.fixtures.registry",
    "tests.fixtures.apicurio",
    "tests.fixtures.certificates",
]
