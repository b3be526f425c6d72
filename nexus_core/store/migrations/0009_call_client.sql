-- Which program asked for an LLM call through the local OpenAI-compatible server (its User-Agent, or the name it
-- gave); NULL for the app's own calls.

ALTER TABLE llm_calls ADD COLUMN "nexus.client" TEXT;
