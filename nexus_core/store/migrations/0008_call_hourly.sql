-- Hourly aggregates of the LLM call records, kept by the store itself (triggers on every insert and delete),
-- so the Dashboard reads a few thousand small rows instead of scanning a million records. Hours are epoch
-- hours (started_at rounded down to a multiple of 3600 s). Latencies are counted in the log-spaced buckets of
-- the daily roll-ups (nexus_log_bucket(ms, 1.05): each 5 % wider than the last; the store registers the
-- function on every connection it opens).

CREATE TABLE llm_calls_hourly (
    hour                    INTEGER NOT NULL,
    provider                TEXT NOT NULL,
    model                   TEXT NOT NULL,
    task_type               TEXT NOT NULL,
    tier                    TEXT NOT NULL,
    outcome                 TEXT NOT NULL,
    module_context          TEXT NOT NULL,
    calls                   INTEGER NOT NULL,
    fallbacks               INTEGER NOT NULL,
    input_tokens            INTEGER NOT NULL,
    output_tokens           INTEGER NOT NULL,
    cost_usd                REAL NOT NULL,
    unpriced_input_tokens   INTEGER NOT NULL,   -- of calls recorded without a cost (priced later from the table)
    unpriced_output_tokens  INTEGER NOT NULL,
    generating_tokens       INTEGER NOT NULL,   -- output tokens of calls with a time to first token
    generating_s            REAL NOT NULL,      -- their latency − time to first token, summed
    PRIMARY KEY (hour, provider, model, task_type, tier, outcome, module_context)
) WITHOUT ROWID;

CREATE TABLE llm_latency_hourly (
    hour       INTEGER NOT NULL,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    task_type  TEXT NOT NULL,
    kind       TEXT NOT NULL,     -- latency | ttft
    bucket     INTEGER NOT NULL,
    calls      INTEGER NOT NULL,
    PRIMARY KEY (hour, provider, model, task_type, kind, bucket)
) WITHOUT ROWID;

INSERT INTO llm_calls_hourly (hour, provider, model, task_type, tier, outcome, module_context, calls, fallbacks, input_tokens, output_tokens, cost_usd, unpriced_input_tokens, unpriced_output_tokens, generating_tokens, generating_s)
    SELECT CAST(c.started_at / 3600 AS INTEGER) * 3600, c."gen_ai.provider.name", c."gen_ai.request.model", COALESCE(c."nexus.task_type", 'unknown'), COALESCE(c."nexus.tier", 'pinned'), c."nexus.outcome", COALESCE(c."nexus.module_context", ''), SUM(1), SUM(c."nexus.attempt" > 1), SUM(COALESCE(c."gen_ai.usage.input_tokens", 0)), SUM(COALESCE(c."gen_ai.usage.output_tokens", 0)), TOTAL(COALESCE(c."nexus.cost_usd", 0.0)), SUM(CASE WHEN c."nexus.cost_usd" IS NULL THEN COALESCE(c."gen_ai.usage.input_tokens", 0) ELSE 0 END), SUM(CASE WHEN c."nexus.cost_usd" IS NULL THEN COALESCE(c."gen_ai.usage.output_tokens", 0) ELSE 0 END), SUM(CASE WHEN c."nexus.latency_ms" > c."nexus.time_to_first_token_ms" AND c."nexus.time_to_first_token_ms" >= 0 AND c."gen_ai.usage.output_tokens" > 0 THEN c."gen_ai.usage.output_tokens" ELSE 0 END), TOTAL(CASE WHEN c."nexus.latency_ms" > c."nexus.time_to_first_token_ms" AND c."nexus.time_to_first_token_ms" >= 0 AND c."gen_ai.usage.output_tokens" > 0 THEN (c."nexus.latency_ms" - c."nexus.time_to_first_token_ms") / 1000.0 ELSE 0.0 END)
    FROM llm_calls AS c GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO llm_latency_hourly (hour, provider, model, task_type, kind, bucket, calls)
    SELECT CAST(c.started_at / 3600 AS INTEGER) * 3600, c."gen_ai.provider.name", c."gen_ai.request.model", COALESCE(c."nexus.task_type", 'unknown'), 'latency', nexus_log_bucket(c."nexus.latency_ms", 1.05), COUNT(*)
    FROM llm_calls AS c WHERE c."nexus.latency_ms" >= 0 AND c."nexus.latency_ms" < 1e12 GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO llm_latency_hourly (hour, provider, model, task_type, kind, bucket, calls)
    SELECT CAST(c.started_at / 3600 AS INTEGER) * 3600, c."gen_ai.provider.name", c."gen_ai.request.model", COALESCE(c."nexus.task_type", 'unknown'), 'ttft', nexus_log_bucket(c."nexus.time_to_first_token_ms", 1.05), COUNT(*)
    FROM llm_calls AS c WHERE c."nexus.latency_ms" >= 0 AND c."nexus.latency_ms" < 1e12 AND c."nexus.time_to_first_token_ms" >= 0 AND c."nexus.time_to_first_token_ms" <= c."nexus.latency_ms" GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER llm_calls_hourly_insert AFTER INSERT ON llm_calls BEGIN
    INSERT INTO llm_calls_hourly (hour, provider, model, task_type, tier, outcome, module_context, calls, fallbacks, input_tokens, output_tokens, cost_usd, unpriced_input_tokens, unpriced_output_tokens, generating_tokens, generating_s)
        VALUES (CAST(NEW.started_at / 3600 AS INTEGER) * 3600, NEW."gen_ai.provider.name", NEW."gen_ai.request.model", COALESCE(NEW."nexus.task_type", 'unknown'), COALESCE(NEW."nexus.tier", 'pinned'), NEW."nexus.outcome", COALESCE(NEW."nexus.module_context", ''), 1, NEW."nexus.attempt" > 1, COALESCE(NEW."gen_ai.usage.input_tokens", 0), COALESCE(NEW."gen_ai.usage.output_tokens", 0), COALESCE(NEW."nexus.cost_usd", 0.0), CASE WHEN NEW."nexus.cost_usd" IS NULL THEN COALESCE(NEW."gen_ai.usage.input_tokens", 0) ELSE 0 END, CASE WHEN NEW."nexus.cost_usd" IS NULL THEN COALESCE(NEW."gen_ai.usage.output_tokens", 0) ELSE 0 END, CASE WHEN NEW."nexus.latency_ms" > NEW."nexus.time_to_first_token_ms" AND NEW."nexus.time_to_first_token_ms" >= 0 AND NEW."gen_ai.usage.output_tokens" > 0 THEN NEW."gen_ai.usage.output_tokens" ELSE 0 END, CASE WHEN NEW."nexus.latency_ms" > NEW."nexus.time_to_first_token_ms" AND NEW."nexus.time_to_first_token_ms" >= 0 AND NEW."gen_ai.usage.output_tokens" > 0 THEN (NEW."nexus.latency_ms" - NEW."nexus.time_to_first_token_ms") / 1000.0 ELSE 0.0 END)
        ON CONFLICT (hour, provider, model, task_type, tier, outcome, module_context) DO UPDATE SET calls = calls + excluded.calls, fallbacks = fallbacks + excluded.fallbacks, input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, cost_usd = cost_usd + excluded.cost_usd, unpriced_input_tokens = unpriced_input_tokens + excluded.unpriced_input_tokens, unpriced_output_tokens = unpriced_output_tokens + excluded.unpriced_output_tokens, generating_tokens = generating_tokens + excluded.generating_tokens, generating_s = generating_s + excluded.generating_s;
    INSERT INTO llm_latency_hourly (hour, provider, model, task_type, kind, bucket, calls)
        SELECT CAST(NEW.started_at / 3600 AS INTEGER) * 3600, NEW."gen_ai.provider.name", NEW."gen_ai.request.model", COALESCE(NEW."nexus.task_type", 'unknown'), 'latency', nexus_log_bucket(NEW."nexus.latency_ms", 1.05), 1 WHERE NEW."nexus.latency_ms" >= 0 AND NEW."nexus.latency_ms" < 1e12
        ON CONFLICT (hour, provider, model, task_type, kind, bucket) DO UPDATE SET calls = calls + 1;
    INSERT INTO llm_latency_hourly (hour, provider, model, task_type, kind, bucket, calls)
        SELECT CAST(NEW.started_at / 3600 AS INTEGER) * 3600, NEW."gen_ai.provider.name", NEW."gen_ai.request.model", COALESCE(NEW."nexus.task_type", 'unknown'), 'ttft', nexus_log_bucket(NEW."nexus.time_to_first_token_ms", 1.05), 1 WHERE NEW."nexus.latency_ms" >= 0 AND NEW."nexus.latency_ms" < 1e12 AND NEW."nexus.time_to_first_token_ms" >= 0 AND NEW."nexus.time_to_first_token_ms" <= NEW."nexus.latency_ms"
        ON CONFLICT (hour, provider, model, task_type, kind, bucket) DO UPDATE SET calls = calls + 1;
END;

CREATE TRIGGER llm_calls_hourly_delete AFTER DELETE ON llm_calls BEGIN
    UPDATE llm_calls_hourly SET calls = calls - (1), fallbacks = fallbacks - (OLD."nexus.attempt" > 1), input_tokens = input_tokens - (COALESCE(OLD."gen_ai.usage.input_tokens", 0)), output_tokens = output_tokens - (COALESCE(OLD."gen_ai.usage.output_tokens", 0)), cost_usd = cost_usd - (COALESCE(OLD."nexus.cost_usd", 0.0)), unpriced_input_tokens = unpriced_input_tokens - (CASE WHEN OLD."nexus.cost_usd" IS NULL THEN COALESCE(OLD."gen_ai.usage.input_tokens", 0) ELSE 0 END), unpriced_output_tokens = unpriced_output_tokens - (CASE WHEN OLD."nexus.cost_usd" IS NULL THEN COALESCE(OLD."gen_ai.usage.output_tokens", 0) ELSE 0 END), generating_tokens = generating_tokens - (CASE WHEN OLD."nexus.latency_ms" > OLD."nexus.time_to_first_token_ms" AND OLD."nexus.time_to_first_token_ms" >= 0 AND OLD."gen_ai.usage.output_tokens" > 0 THEN OLD."gen_ai.usage.output_tokens" ELSE 0 END), generating_s = generating_s - (CASE WHEN OLD."nexus.latency_ms" > OLD."nexus.time_to_first_token_ms" AND OLD."nexus.time_to_first_token_ms" >= 0 AND OLD."gen_ai.usage.output_tokens" > 0 THEN (OLD."nexus.latency_ms" - OLD."nexus.time_to_first_token_ms") / 1000.0 ELSE 0.0 END)
        WHERE hour = CAST(OLD.started_at / 3600 AS INTEGER) * 3600 AND provider = OLD."gen_ai.provider.name" AND model = OLD."gen_ai.request.model" AND task_type = COALESCE(OLD."nexus.task_type", 'unknown') AND tier = COALESCE(OLD."nexus.tier", 'pinned') AND outcome = OLD."nexus.outcome" AND module_context = COALESCE(OLD."nexus.module_context", '');
    UPDATE llm_latency_hourly SET calls = calls - 1
        WHERE hour = CAST(OLD.started_at / 3600 AS INTEGER) * 3600 AND provider = OLD."gen_ai.provider.name" AND model = OLD."gen_ai.request.model" AND task_type = COALESCE(OLD."nexus.task_type", 'unknown') AND kind = 'latency' AND bucket = nexus_log_bucket(OLD."nexus.latency_ms", 1.05) AND OLD."nexus.latency_ms" >= 0 AND OLD."nexus.latency_ms" < 1e12;
    UPDATE llm_latency_hourly SET calls = calls - 1
        WHERE hour = CAST(OLD.started_at / 3600 AS INTEGER) * 3600 AND provider = OLD."gen_ai.provider.name" AND model = OLD."gen_ai.request.model" AND task_type = COALESCE(OLD."nexus.task_type", 'unknown') AND kind = 'ttft' AND bucket = nexus_log_bucket(OLD."nexus.time_to_first_token_ms", 1.05) AND OLD."nexus.latency_ms" >= 0 AND OLD."nexus.latency_ms" < 1e12 AND OLD."nexus.time_to_first_token_ms" >= 0 AND OLD."nexus.time_to_first_token_ms" <= OLD."nexus.latency_ms";
END;
