"""The sandbox's state: one SQLite file that outlives the process.

Documents are stored as the JSON objects the API returns, with a few indexed columns
for ordering and filtering. One connection, guarded by a lock, serves every thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bulksync.private import private_dir, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, email TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS template_tasks (
    template_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (template_id, id));
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, template_id TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_order ON runs (created_at DESC, seq DESC);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (run_id, id));
"""

Doc = dict[str, Any]


def _make_private(path: Path) -> None:
    """A state file bulksync makes is its owner's only (it holds people's data).

    SQLite gives its -wal and -shm files the database file's mode. A folder or file
    that already exists is left as it is, except a ``.bulksync`` folder.
    """
    if path.parent.name == ".bulksync":
        private_dir(path.parent)
    elif not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if not path.exists():
        private_file(path)


def _dump(doc: Doc) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class Store:
    """Templates, runs and tasks of one sandbox team."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            _make_private(Path(self.path))
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, timeout=30.0, isolation_level=None
        )
        self._lock = threading.RLock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: everything in it is applied, or nothing is."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- meta and users -----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def is_empty(self) -> bool:
        with self._lock:
            return bool(self._db.execute("SELECT COUNT(*) FROM templates").fetchone()[0] == 0)

    def clear(self) -> None:
        with self.transaction():
            for table in ("meta", "users", "templates", "template_tasks", "runs", "tasks"):
                self._db.execute(f"DELETE FROM {table}")

    def add_user(self, doc: Doc) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?)", (doc["id"], doc["email"].lower(), _dump(doc))
            )

    def user_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM users")}

    def user_emails(self) -> set[str]:
        """The team members' email addresses, in lower case."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT email FROM users")}

    # -- templates ----------------------------------------------------------------------

    def add_template(self, doc: Doc, tasks: list[Doc]) -> None:
        with self._lock:
            seq = self._db.execute("SELECT COUNT(*) FROM templates").fetchone()[0]
            self._db.execute("INSERT INTO templates VALUES (?, ?, ?)", (doc["id"], seq, _dump(doc)))
            self._db.executemany(
                "INSERT INTO template_tasks VALUES (?, ?, ?, ?)",
                [(doc["id"], t["id"], i, _dump(t)) for i, t in enumerate(tasks)],
            )

    def templates(self) -> list[Doc]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM templates ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]

    def template(self, template_id: str) -> Doc | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM templates WHERE id = ?", (template_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def template_tasks(self, template_id: str) -> list[Doc]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM template_tasks WHERE template_id = ? ORDER BY seq", (template_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- runs and tasks -----------------------------------------------------------------

    def add_run(self, doc: Doc, tasks: list[Doc]) -> None:
        with self._lock:
            seq = self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            self._db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                (doc["id"], seq, doc["template_id"], doc["status"], doc["created_at"], _dump(doc)),
            )
            self._db.executemany(
                "INSERT INTO tasks VALUES (?, ?, ?, ?)",
                [(doc["id"], t["id"], i, _dump(t)) for i, t in enumerate(tasks)],
            )

    def runs(self, template_id: str | None = None, status: str | None = None) -> list[Doc]:
        """Runs, newest first."""
        sql = "SELECT doc FROM runs WHERE 1=1"
        args: list[str] = []
        if template_id is not None:
            sql += " AND template_id = ?"
            args.append(template_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at DESC, seq DESC", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def run(self, run_id: str) -> Doc | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save_run(self, doc: Doc) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status = ?, doc = ? WHERE id = ?",
                (doc["status"], _dump(doc), doc["id"]),
            )

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its tasks, as someone deleting it in NextStep's web app would."""
        with self.transaction():
            self._db.execute("DELETE FROM tasks WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def tasks(self, run_id: str) -> list[Doc]:
        """A run's tasks in their stored order (section order, then task order)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM tasks WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def task(self, run_id: str, task_id: str) -> Doc | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM tasks WHERE run_id = ? AND id = ?", (run_id, task_id)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save_task(self, doc: Doc) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE tasks SET doc = ? WHERE run_id = ? AND id = ?",
                (_dump(doc), doc["instance_id"], doc["id"]),
            )
