-- Multi-agent workflow runs: the run, each step's checkpoint (what a resumed run reuses), the shared context the
-- steps read and append to, each step's record (models, tokens, time) and the files each step iteration wrote.

CREATE TABLE agent_runs (
    id             TEXT PRIMARY KEY,
    workflow       TEXT NOT NULL,       -- the workflow's name
    graph          TEXT NOT NULL,       -- the workflow file's JSON, as it was started
    requirement    TEXT NOT NULL,
    out_dir        TEXT NOT NULL,
    state          TEXT NOT NULL,       -- running | succeeded | failed | stopped
    loops          TEXT NOT NULL DEFAULT '{}',  -- review loops: feedback sent back per step, rounds per review
    error          TEXT,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);

CREATE TABLE agent_checkpoints (
    run_id     TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL,
    signature  TEXT NOT NULL,
    outputs    TEXT NOT NULL,          -- JSON
    PRIMARY KEY (run_id, node_id)
);

CREATE TABLE agent_context (
    run_id     TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    node_id    TEXT NOT NULL,
    iteration  INTEGER NOT NULL,
    kind       TEXT NOT NULL,          -- summary | tool | files | tests | feedback | verdict | error
    content    TEXT NOT NULL,
    at         REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE agent_steps (
    run_id         TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    node_id        TEXT NOT NULL,
    iteration      INTEGER NOT NULL,
    persona        TEXT NOT NULL,
    status         TEXT NOT NULL,      -- running | succeeded | failed | stopped
    attempts       INTEGER NOT NULL,
    models         TEXT NOT NULL DEFAULT '[]',   -- JSON list of provider/model refs that answered
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    model_ms       REAL NOT NULL DEFAULT 0,      -- time spent in model calls
    started_at     REAL NOT NULL,
    finished_at    REAL,
    error          TEXT,
    PRIMARY KEY (run_id, node_id, iteration)
);

CREATE TABLE agent_files (
    run_id     TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL,
    iteration  INTEGER NOT NULL,
    path       TEXT NOT NULL,          -- relative to the run's workspace
    sha256     TEXT,                   -- NULL: the step deleted the file
    content    TEXT,                   -- NULL for deleted or binary files
    PRIMARY KEY (run_id, node_id, iteration, path)
);
