"""SQLite storage for interview sessions: users, sessions, turns and mastery.

One file (Settings.db_path) in WAL mode with foreign keys on. Every change is one transaction
committed before the call returns, so a process killed mid-session loses nothing it has shown.
One connection guarded by a lock serves every thread of a process (the app's users share it);
other processes (the CLI next to the app) meet through SQLite's own file locks. The schema is
versioned: MIGRATIONS[n] takes version n to n+1, applied in order on open. Parameterised SQL
only; grades are JSON text. Any SQLite failure becomes a StorageError that says what to do.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from coach.errors import InputError, StorageError
from coach.interview.model import ACTIVE, FINISHED, Session, Turn, grade_from_json, grade_to_json
from coach.interview.schedule import MasteryRecord

BUSY_TIMEOUT_S = 10.0

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 0 -> 1
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL)""",
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            topics TEXT NOT NULL,
            difficulty TEXT NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard', 'any')),
            planned_length INTEGER CHECK (planned_length IS NULL OR planned_length > 0),
            status TEXT NOT NULL CHECK (status IN ('active', 'finished')),
            created TEXT NOT NULL,
            updated TEXT NOT NULL)""",
        "CREATE INDEX sessions_by_user ON sessions(user_id, status, updated)",
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL CHECK (position > 0),
            question_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('main', 'follow-up')),
            question_text TEXT NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            difficulty TEXT NOT NULL DEFAULT '',
            focus TEXT NOT NULL DEFAULT '',
            answer TEXT,
            grade TEXT,
            created TEXT NOT NULL,
            answered TEXT,
            UNIQUE (session_id, position))""",
        """CREATE TABLE mastery (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            question_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            ease REAL NOT NULL,
            interval_days REAL NOT NULL,
            due TEXT,
            last_score REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            repetitions INTEGER NOT NULL DEFAULT 0,
            estimate REAL,
            updated TEXT,
            PRIMARY KEY (user_id, question_id))""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def storage_error(exc: BaseException, path: Path) -> StorageError:
    """A StorageError for an sqlite3 or OS failure, naming the fix."""
    message = str(exc).lower()
    where = "point data_dir (COACH_DATA_DIR) at a writable folder"
    if "readonly" in message or "read-only" in message or "permission denied" in message:
        text = f"The interview database {path} is read-only. Make it and its folder writable, or {where}."
    elif "full" in message or "no space" in message:
        text = (
            f"The disk holding the interview database {path} is full. Free some space and try again; "
            "everything answered before this was saved."
        )
    elif "not a database" in message or "malformed" in message or "corrupt" in message:
        text = (
            f"The interview database {path} is corrupt. Move it aside (a new empty one is created "
            "on the next start) or restore a backup."
        )
    elif "locked" in message or "busy" in message:
        text = f"The interview database {path} is locked by another coach process. Try again in a moment."
    elif "unable to open" in message or "i/o" in message or isinstance(exc, OSError):
        text = f"Cannot open the interview database {path} ({exc}). Check the folder exists and is writable, or {where}."
    else:
        text = f"The interview database {path} cannot be used: {exc}."
    return StorageError(text)


def _check_writable(path: Path) -> None:
    """Fail early, and say why, when the database or its folder cannot be written: SQLite itself
    only reports "unable to open database file" (it needs its -wal and -shm files beside it)."""
    where = "point data_dir (COACH_DATA_DIR) at a writable folder"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Cannot create the data folder {path.parent} ({exc.strerror}); {where}.") from None
    if path.is_dir():
        raise StorageError(f"The interview database path {path} is a folder, not a file; {where}.")
    try:
        if path.exists():
            with path.open("r+b"):
                pass
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StorageError(
                f"The interview database {path} or its folder is read-only. Make both writable, or {where}."
            ) from None
        raise storage_error(exc, path) from None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class InterviewDB:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.RLock()
        _check_writable(self.path)
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from None
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = FULL")  # a committed turn survives a power cut too
            row = self._conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({row[0] if row else 'no result'})")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError("attempt to write a readonly database (cannot switch to WAL)")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise storage_error(exc, self.path) from None

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on exit; any SQLite failure is a StorageError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise storage_error(exc, self.path) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left to roll back (SQLite already did)

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cursor = self._conn.execute(sql, params)
                return cursor.fetchall()
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from None

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"The interview database {self.path} was written by a newer version of coach "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}). Upgrade coach or use another data_dir."
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    @property
    def schema_version(self) -> int:
        return int(self._read("SELECT version FROM schema_version")[0][0])

    # -- users and sessions ---------------------------------------------------------------

    @staticmethod
    def _user_id(conn: sqlite3.Connection, user: str, now: datetime) -> int:
        conn.execute("INSERT OR IGNORE INTO users (name, created) VALUES (?, ?)", (user, _iso(now)))
        return int(conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()[0])

    def create_session(self, session: Session, first_turn: Turn) -> None:
        """The session and its first question, in one transaction."""
        with self._write() as conn:
            user_id = self._user_id(conn, session.user, session.created)
            conn.execute(
                "INSERT INTO sessions (id, user_id, topics, difficulty, planned_length, status, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session.id, user_id, json.dumps(list(session.topics)), session.difficulty, session.length,
                 session.status, _iso(session.created), _iso(session.updated)),
            )
            self._insert_turn(conn, first_turn)

    @staticmethod
    def _insert_turn(conn: sqlite3.Connection, turn: Turn) -> None:
        conn.execute(
            "INSERT INTO turns (session_id, position, question_id, kind, question_text, topic, difficulty, focus, "
            "answer, grade, created, answered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (turn.session_id, turn.position, turn.question_id, turn.kind, turn.question_text, turn.topic,
             turn.difficulty, turn.focus, turn.answer,
             None if turn.grade is None else json.dumps(grade_to_json(turn.grade), ensure_ascii=False),
             _iso(turn.created), _iso(turn.answered)),
        )

    def record_answer(
        self,
        answered: Turn,
        mastery: list[MasteryRecord],
        user: str,
        next_turn: Turn | None,
        finish: bool,
        now: datetime,
    ) -> None:
        """The answer and grade of a pending turn, the mastery it changed, and the next question
        (or the end of the session), all in one transaction."""
        assert answered.grade is not None and answered.answer is not None
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE turns SET answer = ?, grade = ?, answered = ? "
                "WHERE session_id = ? AND position = ? AND answer IS NULL",
                (answered.answer, json.dumps(grade_to_json(answered.grade), ensure_ascii=False),
                 _iso(answered.answered), answered.session_id, answered.position),
            )
            if cursor.rowcount != 1:
                raise InputError("That question was already answered (in another window?). Reload the session.")
            user_id = self._user_id(conn, user, now)
            for record in mastery:
                conn.execute(
                    "INSERT INTO mastery (user_id, question_id, topic, ease, interval_days, due, last_score, attempts, "
                    "repetitions, estimate, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (user_id, question_id) DO UPDATE SET topic = excluded.topic, ease = excluded.ease, "
                    "interval_days = excluded.interval_days, due = excluded.due, last_score = excluded.last_score, "
                    "attempts = excluded.attempts, repetitions = excluded.repetitions, estimate = excluded.estimate, "
                    "updated = excluded.updated",
                    (user_id, record.question_id, record.topic, record.ease, record.interval, _iso(record.due),
                     record.last_score, record.attempts, record.repetitions, record.estimate, _iso(record.updated)),
                )
            if next_turn is not None:
                self._insert_turn(conn, next_turn)
            conn.execute(
                "UPDATE sessions SET status = ?, updated = ? WHERE id = ?",
                (FINISHED if finish else ACTIVE, _iso(now), answered.session_id),
            )

    def finish_session(self, session_id: str, now: datetime) -> None:
        with self._write() as conn:
            conn.execute("UPDATE sessions SET status = ?, updated = ? WHERE id = ?", (FINISHED, _iso(now), session_id))

    # -- reading --------------------------------------------------------------------------

    _SESSION_SQL = (
        "SELECT s.id, u.name, s.topics, s.difficulty, s.planned_length, s.status, s.created, s.updated "
        "FROM sessions s JOIN users u ON u.id = s.user_id "
    )

    def _turns(self, session_id: str) -> tuple[Turn, ...]:
        rows = self._read(
            "SELECT session_id, position, question_id, kind, question_text, topic, difficulty, focus, answer, grade, "
            "created, answered FROM turns WHERE session_id = ? ORDER BY position",
            (session_id,),
        )
        turns = []
        for row in rows:
            try:
                grade = None if row[9] is None else grade_from_json(json.loads(row[9]))
            except (ValueError, KeyError, TypeError) as exc:
                raise StorageError(
                    f"A stored grade in {self.path} (session {session_id}, turn {row[1]}) cannot be read ({exc}). "
                    "The database is damaged; move it aside or restore a backup."
                ) from None
            turns.append(
                Turn(session_id=row[0], position=row[1], question_id=row[2], kind=row[3], question_text=row[4],
                     topic=row[5], difficulty=row[6], focus=row[7], answer=row[8], grade=grade,
                     created=_time(row[10]), answered=_time(row[11]))  # type: ignore[arg-type]
            )
        return tuple(turns)

    def _session(self, row: sqlite3.Row) -> Session:
        return Session(
            id=row[0], user=row[1], topics=tuple(json.loads(row[2])), difficulty=row[3], length=row[4],
            status=row[5], created=_time(row[6]), updated=_time(row[7]), turns=self._turns(row[0]),  # type: ignore[arg-type]
        )

    def load_session(self, session_id: str) -> Session | None:
        rows = self._read(self._SESSION_SQL + "WHERE s.id = ?", (session_id,))
        return self._session(rows[0]) if rows else None

    def latest_active(self, user: str) -> Session | None:
        rows = self._read(
            self._SESSION_SQL + "WHERE u.name = ? AND s.status = ? ORDER BY s.updated DESC, s.rowid DESC LIMIT 1",
            (user, ACTIVE),
        )
        return self._session(rows[0]) if rows else None

    def sessions(self, user: str) -> list[Session]:
        rows = self._read(self._SESSION_SQL + "WHERE u.name = ? ORDER BY s.created, s.rowid", (user,))
        return [self._session(row) for row in rows]

    def mastery(self, user: str) -> dict[str, MasteryRecord]:
        rows = self._read(
            "SELECT m.question_id, m.topic, m.ease, m.interval_days, m.due, m.last_score, m.attempts, m.repetitions, "
            "m.estimate, m.updated FROM mastery m JOIN users u ON u.id = m.user_id WHERE u.name = ?",
            (user,),
        )
        return {
            row[0]: MasteryRecord(
                question_id=row[0], topic=row[1], ease=row[2], interval=row[3], due=_time(row[4]),
                last_score=row[5], attempts=row[6], repetitions=row[7], estimate=row[8], updated=_time(row[9]),
            )
            for row in rows
        }


__all__ = ["InterviewDB", "SCHEMA_VERSION", "MIGRATIONS", "storage_error"]
