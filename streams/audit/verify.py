"""Walk the audit hash chains and report what was changed or removed.

Every hash is recomputed here (``canonical.row_hash``), never by the database's own
function: an intruder who can change rows can change that function too. The rows and the
chain heads are read in one repeatable-read snapshot, streamed through a server-side
cursor, one chain after another in ``chain_seq`` order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, LiteralString

import psycopg
from psycopg.rows import class_row

from streams.audit.canonical import GENESIS, ROW_COLUMNS, AuditRow, row_hash
from streams.audit.errors import AuditChainError
from streams.db.errors import DatabaseUnavailableError

__all__ = ["ChainHead", "Finding", "FindingKind", "VerifyReport", "read_heads", "verify_chains"]

logger = logging.getLogger(__name__)

#: changed: the row's content no longer gives its hash. relinked: its prev_hash is not
#: the previous row's hash (that row was replaced). deleted: rows missing from the chain
#: (a gap in chain_seq, or after the last row according to the head). inserted: a row the
#: trigger did not number (a repeated chain_seq, or beyond the head). head: the head is
#: missing or disagrees with the last row. start: the chain does not begin at 1 / genesis.
#: anchor: the row at a sequence number recorded outside (``--anchor``) has another hash.
FindingKind = Literal["changed", "relinked", "deleted", "inserted", "head", "start", "anchor"]
_ITERSIZE = 2000


@dataclass(frozen=True)
class Finding:
    """One piece of evidence of tampering."""

    kind: FindingKind
    chain_key: str
    chain_seq: int | None
    row_id: str | None
    detail: str

    def __str__(self) -> str:
        seq = f" seq {self.chain_seq}" if self.chain_seq is not None else ""
        row = f" row {self.row_id}" if self.row_id else ""
        return f"{self.kind}: chain {self.chain_key}{seq}{row}: {self.detail}"


@dataclass(frozen=True)
class ChainHead:
    """One row of audit_chain_heads."""

    chain_key: str
    last_seq: int
    last_hash: bytes
    updated_at: datetime


@dataclass
class VerifyReport:
    """What a verification found: counts per chain and the findings."""

    rows: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def rows_checked(self) -> int:
        return sum(self.rows.values())

    def counts(self) -> dict[str, int]:
        """Findings per kind."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out


Conn = psycopg.Connection[Any]


def _connect(url: str) -> Conn:
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot connect to PostgreSQL: {exc}") from exc
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _heads(conn: Conn, chain: str | None) -> dict[str, ChainHead]:
    query: LiteralString = ("SELECT chain_key, last_seq, last_hash, updated_at "
                            "FROM audit_chain_heads WHERE %(chain)s::text IS NULL "
                            "OR chain_key = %(chain)s ORDER BY chain_key")
    with conn.cursor(row_factory=class_row(ChainHead)) as cur:
        return {h.chain_key: h for h in cur.execute(query, {"chain": chain})}


def read_heads(url: str, *, chain: str | None = None) -> list[ChainHead]:
    """The heads of the chains (all, or *chain*), for anchoring them outside the database."""
    try:
        with _connect(url) as conn:
            return list(_heads(conn, chain).values())
    except psycopg.Error as exc:
        raise AuditChainError(f"cannot read the audit chain heads: {exc}") from exc


def _rows(conn: Conn, chain: str | None, since: datetime | None) -> Iterator[AuditRow]:
    """Every row of the chains, in (chain_key, chain_seq) order; with *since*, each chain
    from its first row created at or after it."""
    if since is None:
        query: LiteralString = (f"SELECT {ROW_COLUMNS} FROM audit_logs "
                                "WHERE %(chain)s::text IS NULL OR chain_key = %(chain)s "
                                "ORDER BY chain_key, chain_seq")
    else:
        query = ("WITH starts AS (SELECT chain_key, min(chain_seq) AS start_seq "
                 "FROM audit_logs WHERE created_at >= %(since)s "
                 "AND (%(chain)s::text IS NULL OR chain_key = %(chain)s) GROUP BY chain_key) "
                 f"SELECT {ROW_COLUMNS} FROM audit_logs JOIN starts USING (chain_key) "
                 "WHERE chain_seq >= start_seq ORDER BY chain_key, chain_seq")
    with conn.cursor(name="audit_verify", row_factory=class_row(AuditRow)) as cur:
        cur.itersize = _ITERSIZE
        cur.execute(query, {"chain": chain, "since": since})
        yield from cur


class _Walk:
    """The state of one chain's walk."""

    def __init__(self, key: str, report: VerifyReport, *, anchored: bool,
                 anchor: tuple[int, bytes] | None = None) -> None:
        self.key = key
        self.report = report
        self.anchor = anchor
        self.first_seq: int | None = None
        self.expected_seq: int | None = None if anchored else 1
        self.prev_hash: bytes | None = None if anchored else GENESIS
        self.last: AuditRow | None = None
        report.rows[key] = 0

    def _add(self, kind: FindingKind, row: AuditRow | None, detail: str,
             seq: int | None = None) -> None:
        self.report.findings.append(Finding(
            kind, self.key, seq if seq is not None else (row.chain_seq if row else None),
            str(row.id) if row else None, detail))

    def step(self, row: AuditRow) -> None:
        self.report.rows[self.key] += 1
        contiguous = True
        if self.expected_seq is not None and row.chain_seq != self.expected_seq:
            contiguous = False
            if row.chain_seq < self.expected_seq:
                self._add("inserted", row, f"chain_seq {row.chain_seq} is used twice")
            elif self.last is None:
                self._add("start", row, f"the chain begins at {row.chain_seq}, not 1: rows "
                          f"1..{row.chain_seq - 1} are missing (deleted, or dropped by "
                          "retention: verify with --since)")
            else:
                self._add("deleted", row, f"rows {self.expected_seq}..{row.chain_seq - 1} "
                          f"are missing before this row (after row {self.last.id})")
        if contiguous and self.prev_hash is not None and row.prev_hash != self.prev_hash:
            previous = f"row {self.last.id}" if self.last else "the genesis hash"
            self._add("relinked", row, f"prev_hash does not match {previous}: the previous "
                      "row was replaced or removed")
        if row_hash(row.prev_hash, row) != row.row_hash:
            self._add("changed", row, "the row's content does not give its row_hash")
        if self.anchor is not None and row.chain_seq == self.anchor[0]:
            if row.row_hash != self.anchor[1]:
                self._add("anchor", row, "row_hash differs from the anchored hash: the chain "
                          "was rewritten since the anchor was taken")
            self.anchor = None
        if self.first_seq is None:
            self.first_seq = row.chain_seq
        if row.chain_seq >= (self.expected_seq or 0):
            self.expected_seq = row.chain_seq + 1
        self.prev_hash = row.row_hash
        self.last = row

    def finish(self, head: ChainHead | None) -> None:
        last = self.last
        if self.anchor is not None and (self.first_seq is None
                                        or self.anchor[0] >= self.first_seq):
            self._add("anchor", None, f"the anchored row {self.anchor[0]} is missing",
                      seq=self.anchor[0])
        if head is None:
            self._add("head", last, "the chain has no head in audit_chain_heads")
            return
        if last is None:
            self._add("deleted", None, f"the head says {head.last_seq} rows, none is left",
                      seq=head.last_seq)
            return
        if head.last_seq > last.chain_seq:
            self._add("deleted", last, f"rows {last.chain_seq + 1}..{head.last_seq} after "
                      "this row are missing (the head is further on)", seq=head.last_seq)
        elif head.last_seq < last.chain_seq:
            self._add("inserted", last, f"row beyond the head (head at {head.last_seq})")
        elif head.last_hash != last.row_hash:
            self._add("head", last, "the head's last_hash is not the last row's row_hash")


def _last_row(conn: Conn, key: str) -> AuditRow | None:
    query: LiteralString = (f"SELECT {ROW_COLUMNS} FROM audit_logs WHERE chain_key = %s "
                            "ORDER BY chain_seq DESC LIMIT 1")
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        return cur.execute(query, (key,)).fetchone()


def verify_chains(url: str, *, chain: str | None = None, since: datetime | None = None,
                  anchors: Mapping[str, tuple[int, bytes]] | None = None) -> VerifyReport:
    """Recompute and walk every chain (or *chain*) of the database at *url*.

    With *since* (timezone-aware), each chain is checked from its first row created at or
    after it, whose ``prev_hash`` is taken as given: use it once retention has dropped a
    chain's oldest rows. Raises DatabaseUnavailableError or AuditChainError when the chain
    cannot be read; tampering is reported, never raised.

    *anchors* maps chain keys to a (chain_seq, row_hash) recorded earlier outside the
    database (``emr-streams audit heads``): the row there must still have that hash, which
    catches even a chain rewritten consistently from its start.
    """
    report = VerifyReport()
    anchors = {k: v for k, v in (anchors or {}).items() if chain is None or k == chain}
    try:
        with _connect(url) as conn:
            heads = _heads(conn, chain)
            walk: _Walk | None = None
            for row in _rows(conn, chain, since):
                if walk is None or walk.key != row.chain_key:
                    if walk is not None:
                        walk.finish(heads.get(walk.key))
                    walk = _Walk(row.chain_key, report, anchored=since is not None,
                                 anchor=anchors.get(row.chain_key))
                walk.step(row)
            if walk is not None:
                walk.finish(heads.get(walk.key))
            for key, head in heads.items():
                if key in report.rows:
                    continue
                # No row walked: all deleted, or (with since) none recent enough.
                # With since, an anchor before the window cannot be checked.
                quiet = _Walk(key, report, anchored=True,
                              anchor=anchors.get(key) if since is None else None)
                last = _last_row(conn, key) if since is not None else None
                if last is not None:
                    quiet.last = last
                    del report.rows[key]
                quiet.finish(head)
            for key in sorted(set(anchors) - set(report.rows) - set(heads)):
                _Walk(key, report, anchored=True, anchor=anchors[key]).finish(None)
    except psycopg.Error as exc:
        raise AuditChainError(f"cannot verify the audit chain: {exc}") from exc
    logger.info("audit chains verified: %d rows in %d chains, %d findings",
                report.rows_checked, len(report.rows), len(report.findings),
                extra={"event": "audit.verified"})
    return report
