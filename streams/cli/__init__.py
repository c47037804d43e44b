"""The ``emr-streams`` command line: one module per command, thin handlers over the library."""

from __future__ import annotations
