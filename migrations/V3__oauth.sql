-- OAuth2 apps a person registered with a platform (each user brings their own client id
-- and secret; nothing is built in). `host` tells apart the apps of one platform on several
-- servers (a Mastodon app is registered per instance, by Lifeboat itself); '' otherwise.
CREATE TABLE oauth_clients (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform      TEXT    NOT NULL REFERENCES platforms(id),
    host          TEXT    NOT NULL DEFAULT '',
    client_id     TEXT    NOT NULL,
    -- Vault ciphertext of the client secret; NULL for public clients.
    client_secret BLOB,
    -- Overrides of the platform's documented endpoints (self-hosted servers, tests).
    authorize_url TEXT,
    token_url     TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (user_id, platform, host)
);

-- Authorizations under way: from "Connect" to the platform's redirect back. Single use,
-- short-lived. The state is stored hashed, the PKCE verifier encrypted.
CREATE TABLE oauth_states (
    state_hash    TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform      TEXT    NOT NULL REFERENCES platforms(id),
    -- The connection's URL (a Mastodon instance), if any.
    url           TEXT,
    -- An existing connection being reconnected, else NULL (a new connection).
    connection_id INTEGER REFERENCES connections(id) ON DELETE CASCADE,
    -- Vault ciphertext of {verifier, client}.
    pending       BLOB    NOT NULL,
    redirect_uri  TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL
);

-- Telemetry rows are pruned per platform and source; the monitor reads recent ones.
CREATE INDEX health_signals_by_source ON health_signals(platform, source, id);
