-- Job history: every background job the runner has run, with its final state and error.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('thread', 'process')),
    state         TEXT NOT NULL,
    fraction      REAL,
    message       TEXT NOT NULL DEFAULT '',
    error         TEXT,
    traceback     TEXT,
    params        TEXT NOT NULL DEFAULT '{}',
    owner_pid     INTEGER NOT NULL,
    owner_started REAL NOT NULL,
    created_at    REAL NOT NULL,
    started_at    REAL,
    finished_at   REAL
);
CREATE INDEX jobs_created_at ON jobs (created_at DESC);
CREATE INDEX jobs_state ON jobs (state);

-- Small named values the core keeps between runs (e.g. first-run flags); not for secrets.
CREATE TABLE kv (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
