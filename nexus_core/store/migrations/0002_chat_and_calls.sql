-- Conversations of the chat pane, their messages, and a record of every LLM call.

CREATE TABLE conversations (
    id             TEXT PRIMARY KEY,
    title          TEXT NOT NULL,
    model_override TEXT,              -- "provider/model" chosen for this conversation, or NULL to route
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);
CREATE INDEX conversations_updated ON conversations (updated_at DESC);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content         TEXT NOT NULL DEFAULT '',
    -- complete | streaming (being written) | partial (cut, stopped or interrupted) | error (no answer)
    status          TEXT NOT NULL DEFAULT 'complete',
    error           TEXT,
    tool_calls      TEXT,             -- JSON list of {id, name, arguments}
    tool_call_id    TEXT,
    meta            TEXT NOT NULL DEFAULT '{}',  -- JSON: provider, model, tier, task_type, latency_ms, tokens...
    created_at      REAL NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX messages_conversation ON messages (conversation_id, seq);

-- One row per LLM request (each retry and fallback attempt too). Column names are the OpenTelemetry
-- GenAI semantic-convention attribute names, so exports need no mapping.
CREATE TABLE llm_calls (
    id                                TEXT PRIMARY KEY,
    started_at                        REAL NOT NULL,
    "gen_ai.operation.name"           TEXT NOT NULL,
    "gen_ai.provider.name"            TEXT NOT NULL,
    "gen_ai.request.model"            TEXT NOT NULL,
    "gen_ai.response.model"           TEXT,
    "gen_ai.usage.input_tokens"       INTEGER,
    "gen_ai.usage.output_tokens"      INTEGER,
    "gen_ai.response.finish_reasons"  TEXT,
    "gen_ai.conversation.id"          TEXT,
    "error.type"                      TEXT,
    "nexus.task_type"                 TEXT,
    "nexus.tier"                      TEXT,
    "nexus.module_context"            TEXT,
    "nexus.provider_kind"             TEXT,
    "nexus.attempt"                   INTEGER NOT NULL DEFAULT 1,
    "nexus.latency_ms"                REAL,
    "nexus.time_to_first_token_ms"    REAL,
    "nexus.cost_usd"                  REAL,
    "nexus.outcome"                   TEXT NOT NULL,  -- ok | error | cancelled | partial
    "nexus.error_message"             TEXT
);
CREATE INDEX llm_calls_started ON llm_calls (started_at DESC);
CREATE INDEX llm_calls_model ON llm_calls ("gen_ai.request.model");
