-- One row per export a person imports (upload or `lifeboat import`): what the progress
-- display and the result page read. The items, posts and files themselves go through the
-- usual stage tables, counted in the import's sync log.
CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id INTEGER REFERENCES connections(id) ON DELETE SET NULL,
    sync_log_id   INTEGER REFERENCES sync_logs(id) ON DELETE SET NULL,
    -- The file name as the person gave it (never used as a path).
    file_name     TEXT    NOT NULL,
    platform      TEXT,
    status        TEXT    NOT NULL DEFAULT 'uploading'
                  CHECK (status IN ('uploading', 'reading', 'processing', 'completed', 'failed')),
    -- The process working on it (see src/owner.rs), while not finished.
    claimed_by    TEXT,
    bytes_total   INTEGER NOT NULL DEFAULT 0,
    bytes_done    INTEGER NOT NULL DEFAULT 0,
    items         INTEGER NOT NULL DEFAULT 0,
    media_files   INTEGER NOT NULL DEFAULT 0,
    -- JSON list of {"what": ..., "reason": ...}: entries not imported, and why.
    skipped       TEXT    NOT NULL DEFAULT '[]',
    error         TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX imports_by_user ON imports(user_id, id DESC);
