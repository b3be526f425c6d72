-- The memory each background job used: the peaks the telemetry sampler saw while it ran. Thread jobs share
-- the app's process, so theirs are the app's peaks over the job's run.

CREATE TABLE job_resources (
    job_id          TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    started_at      REAL NOT NULL,
    finished_at     REAL NOT NULL,
    samples         INTEGER NOT NULL,
    peak_ram_bytes  INTEGER,      -- the app and its child processes
    peak_gpu_bytes  INTEGER,      -- GPU memory held by the app's processes, all GPUs
    peak_gpu_util   REAL          -- percent, the busiest GPU
);

CREATE INDEX job_resources_finished ON job_resources (finished_at DESC);
