"""The call-record columns by their meaning (the store names them with OpenTelemetry's GenAI attribute names)."""

PROVIDER, MODEL, TASK, TIER = '"gen_ai.provider.name"', '"gen_ai.request.model"', '"nexus.task_type"', '"nexus.tier"'
LATENCY, TTFT, ATTEMPT = '"nexus.latency_ms"', '"nexus.time_to_first_token_ms"', '"nexus.attempt"'
TOKENS_IN, TOKENS_OUT = '"gen_ai.usage.input_tokens"', '"gen_ai.usage.output_tokens"'
COST, OUTCOME, MODULE = '"nexus.cost_usd"', '"nexus.outcome"', '"nexus.module_context"'
