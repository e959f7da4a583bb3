"""A SQLite catalog of the images in a folder: fingerprints and quality facts.

``update(root)`` reads only new or changed files (by size and modification
time), forgets files that are gone, and commits after every file, so an
interrupted run loses nothing it had already written.  A file that cannot be
read is reported and skipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .fingerprint import METHODS, perceptual_hashes
from .imaging import ImageLoadError, load
from .imaging.io import find_images

DB_NAME = ".pixrescue.db"
SCHEMA_VERSION = "1"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT,
    jpeg_quality INTEGER,
    frames INTEGER NOT NULL,
    rotations INTEGER NOT NULL,
    {", ".join(f"{name} BLOB NOT NULL" for name in METHODS)}
);
"""


@dataclass(frozen=True)
class Record:
    """One indexed image.  ``hashes[method]`` holds 1 hash, or 8 with rotations."""

    path: Path
    size: int
    width: int
    height: int
    format: str | None
    jpeg_quality: int | None
    hashes: dict[str, list[int]]

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def quality_key(self) -> tuple[int, int, int]:
        """Larger is better: resolution, then compression (lossless beats any JPEG), then file size."""
        return self.pixels, 101 if self.jpeg_quality is None else self.jpeg_quality, self.size


@dataclass
class UpdateReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _pack(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(8, "big") for v in values)


def _unpack(blob: bytes) -> list[int]:
    return [int.from_bytes(blob[i : i + 8], "big") for i in range(0, len(blob), 8)]


def connect(db_path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.executescript(_SCHEMA)
    version = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if version is None:
        connection.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        connection.commit()
    elif version[0] != SCHEMA_VERSION:
        raise ValueError(f"{db_path} was written by another version of pixrescue (schema {version[0]})")
    return connection


def default_db(root: Path) -> Path:
    return root / DB_NAME


def update(
    root: Path,
    db_path: Path | None = None,
    rotations: bool = False,
    recursive: bool = True,
    on_file: Callable[[Path], None] | None = None,
    on_error: Callable[[Path, str], None] | None = None,
) -> UpdateReport:
    """Bring the catalog of ``root`` up to date with the files on disk."""
    root = root.resolve()
    db_path = db_path or default_db(root)
    report = UpdateReport()
    with connect(db_path) as connection:
        known = {
            row[0]: (row[1], row[2], row[3])
            for row in connection.execute("SELECT path, size, mtime_ns, rotations FROM images")
        }
        seen: set[str] = set()
        for path in find_images([root], recursive=recursive):
            key = str(path.resolve())
            seen.add(key)
            if on_file:
                on_file(path)
            try:
                stat = path.stat()
            except OSError as exc:
                report.failed.append((path, exc.strerror or str(exc)))
                continue
            if known.get(key) == (stat.st_size, stat.st_mtime_ns, int(rotations)):
                report.unchanged += 1
                continue
            try:
                picture = load(path)
            except ImageLoadError as exc:
                report.failed.append((path, str(exc)))
                if on_error:
                    on_error(path, str(exc))
                continue
            hashes = perceptual_hashes(picture.image, rotations=rotations)
            width, height = picture.size
            connection.execute(
                f"INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {', '.join('?' * len(METHODS))})",
                (key, stat.st_size, stat.st_mtime_ns, width, height, picture.format,
                 picture.jpeg.quality if picture.jpeg else None, len(picture.frames), int(rotations),
                 *(_pack(hashes[name]) for name in METHODS)),
            )
            connection.commit()
            if key in known:
                report.updated += 1
            else:
                report.added += 1
        prefix = str(root) + "/"
        gone = [p for p in known if p.startswith(prefix) and p not in seen]
        connection.executemany("DELETE FROM images WHERE path = ?", [(p,) for p in gone])
        connection.commit()
        report.removed = len(gone)
    connection.close()
    return report


def records(db_path: Path) -> Iterator[Record]:
    connection = connect(db_path)
    try:
        columns = ", ".join(METHODS)
        for row in connection.execute(
            f"SELECT path, size, width, height, format, jpeg_quality, {columns} FROM images ORDER BY path"
        ):
            yield Record(Path(row[0]), row[1], row[2], row[3], row[4], row[5],
                         {name: _unpack(blob) for name, blob in zip(METHODS, row[6:])})
    finally:
        connection.close()


def forget(db_path: Path, paths: list[Path]) -> None:
    with connect(db_path) as connection:
        connection.executemany("DELETE FROM images WHERE path = ?", [(str(p),) for p in paths])
    connection.close()
