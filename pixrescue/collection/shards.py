"""Catalogue rows computed by many workers at once, gathered by one step.

A worker never writes the catalogue: it writes the rows it computed into a
shard of its own, a small SQLite file with the catalogue's ``images`` table,
built in memory and written with ``atomic.write_atomically`` under a name no
other worker uses, so a shard is either whole or absent.  ``merge`` copies
each complete shard into the catalogue in one transaction (``INSERT OR
REPLACE`` keyed by path: no row twice, a shard merged again changes nothing)
and deletes it after the commit.  A run killed at any point loses at most the
rows of shards not yet written; the next ``merge`` takes what is there.  The
shard folder (``CATALOGUE.shards`` beside the catalogue) must be one that
every worker and the merging process see, like the images themselves.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from pathlib import Path

from ..atomic import write_atomically
from . import catalog

SUFFIX = ".shard"


def folder_of(db_path: Path) -> Path:
    """Where the workers filling ``db_path`` put their shards."""
    return db_path.with_name(db_path.name + ".shards")


def write(folder: Path, rows: list[tuple]) -> Path | None:
    """Write ``rows`` (``catalog.row_of`` tuples) as a new shard in ``folder``;
    None when there are no rows."""
    if not rows:
        return None
    memory = sqlite3.connect(":memory:")
    try:
        for statement in catalog._SCHEMA:
            memory.execute(statement)
        memory.executemany(catalog.INSERT, rows)
        memory.commit()
        image = memory.serialize()
    finally:
        memory.close()
    name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}{SUFFIX}"
    return write_atomically(folder / name, lambda stream: stream.write(image))


def merge(db_path: Path, folder: Path | None = None) -> int:
    """Move the rows of every complete shard in ``folder`` (default: the
    catalogue's) into the catalogue ``db_path``; the number of rows merged."""
    folder = folder_of(db_path) if folder is None else folder
    shards = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    merged = 0
    with catalog._guard(db_path):
        connection = catalog.connect(db_path, rebuild=True)
        try:
            for shard in shards:
                connection.execute("ATTACH DATABASE ? AS shard", (str(shard),))
                try:
                    with connection:  # one transaction: the shard's rows all in, or none
                        merged += connection.execute("INSERT OR REPLACE INTO main.images SELECT * FROM shard.images"
                                                     ).rowcount
                finally:
                    connection.execute("DETACH DATABASE shard")
                shard.unlink()
        finally:
            connection.close()
    return merged
