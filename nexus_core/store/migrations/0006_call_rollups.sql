-- LLM call records older than the retention age, rolled up per local day, provider, model, task type, tier and
-- outcome, so the store stays small over months of use. Latencies are kept as histograms (log-spaced
-- buckets, 5 % wide), from which the dashboard still draws percentiles.

CREATE TABLE llm_calls_daily (
    day                TEXT NOT NULL,          -- YYYY-MM-DD, local time
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    task_type          TEXT NOT NULL,
    tier               TEXT NOT NULL,
    outcome            TEXT NOT NULL,
    module_context     TEXT NOT NULL DEFAULT '',
    calls              INTEGER NOT NULL,
    fallbacks          INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cost_usd           REAL NOT NULL,
    generating_tokens  INTEGER NOT NULL,     -- output tokens of calls with a time to first token
    generating_s       REAL NOT NULL,        -- their latency − time to first token, summed
    latency_hist       TEXT NOT NULL,        -- JSON {bucket: count}
    ttft_hist          TEXT NOT NULL,
    PRIMARY KEY (day, provider, model, task_type, tier, outcome, module_context)
);
