-- Module builds (asked for by the user or by the co-evolution loop) and the loop's challenges.

CREATE TABLE module_builds (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at       REAL NOT NULL,
    origin           TEXT NOT NULL CHECK (origin IN ('user', 'evolve')),
    description      TEXT NOT NULL,
    name             TEXT,                 -- the module's name once the model gave one
    status           TEXT NOT NULL,        -- ready | installed | rejected | failed | cancelled
    category         TEXT,                 -- why it failed: syntax | security | test | timeout | protocol
    fix_rounds       INTEGER NOT NULL DEFAULT 0,
    model            TEXT,
    template_version INTEGER,
    folder           TEXT,
    seconds          REAL,
    model_seconds    REAL,
    report           TEXT NOT NULL DEFAULT '{}'   -- JSON: the rounds and the last validation report
);

CREATE INDEX module_builds_started ON module_builds (started_at);

CREATE TABLE evolve_challenges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL NOT NULL,
    pattern     TEXT NOT NULL,         -- pagination | oauth2_refresh | rate_limit_retry | webhooks | ...
    difficulty  INTEGER NOT NULL,
    title       TEXT NOT NULL,
    spec        TEXT NOT NULL,         -- JSON: the challenge, its mock API routes and the expected result
    build_id    INTEGER REFERENCES module_builds (id),
    outcome     TEXT                   -- passed | failed (NULL while open)
);
