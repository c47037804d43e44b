"""Tamper evidence for the audit trail: the canonical row hash and the chain verifier."""

from __future__ import annotations

from streams.audit.canonical import GENESIS, AuditRow, chain_key_for, row_hash
from streams.audit.errors import AuditChainError
from streams.audit.verify import ChainHead, Finding, VerifyReport, read_heads, verify_chains

__all__ = ["GENESIS", "AuditChainError", "AuditRow", "ChainHead", "Finding", "VerifyReport",
           "chain_key_for", "read_heads", "row_hash", "verify_chains"]
