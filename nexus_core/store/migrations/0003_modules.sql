-- Integration modules: what is installed, which version is active, and each health check's outcome.

CREATE TABLE modules (
    name           TEXT PRIMARY KEY,
    source         TEXT NOT NULL CHECK (source IN ('builtin', 'installed')),
    active_version TEXT,              -- "1.2.0" for installed modules (versions/v<N> folder), NULL for builtin
    enabled        INTEGER NOT NULL DEFAULT 1,
    config         TEXT NOT NULL DEFAULT '{}',  -- JSON: the user's overrides of the adapter's config
    installed_at   REAL NOT NULL,
    updated_at     REAL NOT NULL
);

CREATE TABLE module_versions (
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    folder       TEXT NOT NULL,       -- relative to the data dir's modules/ folder: "<name>/versions/v3"
    installed_at REAL NOT NULL,
    manifest     TEXT NOT NULL,       -- the manifest as installed (JSON)
    PRIMARY KEY (name, version)
);

CREATE TABLE module_health (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    at         REAL NOT NULL,
    ok         INTEGER NOT NULL,
    kind       TEXT NOT NULL,         -- health | call | load
    latency_ms REAL,
    error      TEXT
);
CREATE INDEX module_health_name ON module_health (name, at DESC);
