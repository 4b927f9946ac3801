-- The whole data model of DESIGN.md. Every timestamp is INTEGER unix seconds (UTC):
-- cheap to compare and sort, and the scheduler does arithmetic on them.
-- Stage tables (ingested_items, ingested_posts, media) double as durable queues:
-- pending -> processing -> completed, or failed (retried after next_attempt_at) and,
-- after 3 attempts, dead_letter, where they wait for a person (retry, or discard: the row
-- stays, since raw data is never thrown away, but leaves the queue).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    -- sha256 of the cookie value: a copy of the database does not yield live sessions.
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
-- Logging a user out everywhere and deleting a user look sessions up by user.
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label        TEXT    NOT NULL,
    -- Only the sha256 of the key is kept; the key itself is printed once.
    key_hash     TEXT    NOT NULL UNIQUE,
    key_prefix   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);

-- One row per platform Lifeboat knows; rows are upserted from the code's platform list at start.
CREATE TABLE platforms (
    id                 TEXT    PRIMARY KEY,
    name               TEXT    NOT NULL,
    health_score       INTEGER CHECK (health_score BETWEEN 0 AND 100),
    status             TEXT    NOT NULL DEFAULT 'unknown'
                       CHECK (status IN ('unknown', 'healthy', 'watch', 'at_risk', 'dying', 'dead')),
    shutdown_date      INTEGER,
    emergency          INTEGER NOT NULL DEFAULT 0,
    emergency_deadline INTEGER,
    emergency_started_at INTEGER,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE connections (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform           TEXT    NOT NULL REFERENCES platforms(id),
    kind               TEXT    NOT NULL CHECK (kind IN ('api', 'feed', 'import')),
    label              TEXT    NOT NULL,
    url                TEXT,
    handle             TEXT,
    -- Vault ciphertext (version || nonce || ciphertext+tag); never plaintext.
    credentials        BLOB,
    backup_frequency   TEXT    NOT NULL DEFAULT 'daily'
                       CHECK (backup_frequency IN ('hourly', 'daily', 'weekly', 'monthly')),
    sync_enabled       INTEGER NOT NULL DEFAULT 1,
    -- The connector's own position (JSON): newest item seen, ETag, paging token.
    cursor             TEXT,
    status             TEXT    NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'syncing', 'error', 'reconnect')),
    -- The process running its sync (see src/owner.rs), while status is 'syncing'.
    sync_owner         TEXT,
    last_sync_at       INTEGER,
    next_sync_at       INTEGER,
    last_error         TEXT,
    error_count        INTEGER NOT NULL DEFAULT 0,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    -- Secret path segment for platform webhooks; NULL until a webhook is set up.
    webhook_token      TEXT    UNIQUE,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- Every page lists the requesting user's connections.
CREATE INDEX connections_by_user ON connections(user_id, platform);
-- The scheduler asks for due connections.
CREATE INDEX connections_due ON connections(sync_enabled, next_sync_at);

CREATE TABLE sync_logs (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id    INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    trigger          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'completed', 'failed')),
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    items_fetched    INTEGER NOT NULL DEFAULT 0,
    posts_fetched    INTEGER NOT NULL DEFAULT 0,
    posts_created    INTEGER NOT NULL DEFAULT 0,
    posts_updated    INTEGER NOT NULL DEFAULT 0,
    posts_deleted    INTEGER NOT NULL DEFAULT 0,
    media_downloaded INTEGER NOT NULL DEFAULT 0,
    media_failed     INTEGER NOT NULL DEFAULT 0,
    duration_ms      INTEGER,
    message          TEXT,
    error            TEXT
);
-- The sync-history page of one connection, newest first.
CREATE INDEX sync_logs_by_connection ON sync_logs(connection_id, id DESC);

-- Stage 1: a raw payload exactly as the platform, webhook or export gave it. Kept forever.
CREATE TABLE ingested_items (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id   INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    sync_log_id     INTEGER REFERENCES sync_logs(id) ON DELETE SET NULL,
    source          TEXT    NOT NULL CHECK (source IN ('sync', 'backfill', 'webhook', 'import')),
    -- Identity of the payload within its connection (a hash of its bytes, or the platform's id).
    external_id     TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    -- Where the payload came from, so relative links inside it resolve later.
    source_url      TEXT,
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter', 'discarded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- The same payload arriving twice (re-import, repeated webhook) is one row.
    UNIQUE (connection_id, external_id)
);
-- Workers take the oldest due rows. Partial: finished rows (nearly all of them) stay out
-- of the queue indexes, so a big import does not pay for them.
CREATE INDEX ingested_items_queue ON ingested_items(status, next_attempt_at, id)
    WHERE status IN ('pending', 'failed');
-- Queue depths per user (the dashboard), and dead letters.
CREATE INDEX ingested_items_open ON ingested_items(user_id, status)
    WHERE status NOT IN ('completed', 'discarded');
-- Waiting for one sync's rows to drain.
CREATE INDEX ingested_items_by_sync ON ingested_items(sync_log_id, status);

-- Stage 2: one raw post in the platform's own format. Kept forever, so posts can be rebuilt.
CREATE TABLE ingested_posts (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id    INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    item_id          INTEGER NOT NULL REFERENCES ingested_items(id) ON DELETE CASCADE,
    platform_post_id TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter', 'discarded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- A post seen in two pages or from two routes is one row.
    UNIQUE (connection_id, platform_post_id)
);
CREATE INDEX ingested_posts_queue ON ingested_posts(status, next_attempt_at, id)
    WHERE status IN ('pending', 'failed');
CREATE INDEX ingested_posts_open ON ingested_posts(user_id, status)
    WHERE status NOT IN ('completed', 'discarded');

-- Stage 3: the normalized, searchable timeline.
CREATE TABLE posts (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id       INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    ingested_post_id    INTEGER NOT NULL REFERENCES ingested_posts(id) ON DELETE CASCADE,
    platform            TEXT    NOT NULL,
    platform_post_id    TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    author              TEXT,
    title               TEXT,
    text                TEXT    NOT NULL DEFAULT '',
    -- Original HTML where the platform has it; sanitized when rendered, never trusted.
    html                TEXT,
    url                 TEXT,
    created_at_platform INTEGER,
    -- Timeline position: the platform's date, or when Lifeboat first saw the post.
    sort_at             INTEGER NOT NULL,
    engagement          TEXT,
    reply_to            TEXT,
    repost_of           TEXT,
    has_media           INTEGER NOT NULL DEFAULT 0,
    deleted_at_platform INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (connection_id, platform_post_id)
);
-- Keyset pagination of the timeline: (sort_at, id) descending per user, optionally per platform.
CREATE INDEX posts_timeline ON posts(user_id, sort_at DESC, id DESC);
CREATE INDEX posts_platform_timeline ON posts(user_id, platform, sort_at DESC, id DESC);

CREATE VIRTUAL TABLE posts_fts USING fts5(
    title, text, author,
    content = 'posts', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- New rows are indexed by db::posts (SearchIndex), at the end of their transaction, not by
-- a trigger: FTS5 flushes its in-memory index at every statement savepoint, and writing it
-- row by row between upserts made bulk imports several times slower.
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts(posts_fts, rowid, title, text, author)
    VALUES ('delete', old.id, old.title, old.text, old.author);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, text, author ON posts BEGIN
    INSERT INTO posts_fts(posts_fts, rowid, title, text, author)
    VALUES ('delete', old.id, old.title, old.text, old.author);
    INSERT INTO posts_fts(rowid, title, text, author) VALUES (new.id, new.title, new.text, new.author);
END;

-- Media files: a download queue and, once stored, the record that proves a file intact.
CREATE TABLE media (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id   INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    -- The sync that first asked for the file; its log counts downloads and failures.
    sync_log_id     INTEGER REFERENCES sync_logs(id) ON DELETE SET NULL,
    platform        TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    url_sha256      TEXT    NOT NULL,
    kind            TEXT,
    -- Relative to the media root: {user_id}/{platform}/{url_sha256}.{ext}
    path            TEXT,
    content_type    TEXT,
    size            INTEGER,
    sha256          TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter', 'discarded')),
    -- The process downloading it (see src/owner.rs), while status is 'processing'.
    claimed_by      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- The same file referenced by two posts, or fetched by two routes, is stored once.
    UNIQUE (user_id, platform, url_sha256)
);
CREATE INDEX media_queue ON media(status, priority DESC, next_attempt_at, id);
CREATE INDEX media_by_user ON media(user_id, status);
CREATE INDEX media_by_sync ON media(sync_log_id, status);

CREATE TABLE post_media (
    post_id  INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (post_id, media_id)
);
-- Which posts use a file (for the media page and for priorities).
CREATE INDEX post_media_by_media ON post_media(media_id);

CREATE TABLE health_signals (
    id         INTEGER PRIMARY KEY,
    platform   TEXT    NOT NULL REFERENCES platforms(id),
    source     TEXT    NOT NULL,
    value      REAL,
    detail     TEXT,
    url        TEXT,
    created_at INTEGER NOT NULL
);
-- The monitor reads a platform's recent signals.
CREATE INDEX health_signals_by_platform ON health_signals(platform, created_at DESC);

CREATE TABLE health_assessments (
    id          INTEGER PRIMARY KEY,
    platform    TEXT    NOT NULL REFERENCES platforms(id),
    score       INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    status      TEXT    NOT NULL CHECK (status IN ('healthy', 'watch', 'at_risk', 'dying')),
    reason      TEXT    NOT NULL,
    signals     TEXT    NOT NULL DEFAULT '[]',
    produced_by TEXT    NOT NULL CHECK (produced_by IN ('ollama', 'rules')),
    model       TEXT,
    created_at  INTEGER NOT NULL
);
-- The health page draws each platform's score history.
CREATE INDEX health_assessments_by_platform ON health_assessments(platform, created_at DESC);

-- Household-wide settings, key/value.
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
