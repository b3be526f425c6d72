"""The local OpenAI-compatible server: routing, tools and modules behind one endpoint."""
