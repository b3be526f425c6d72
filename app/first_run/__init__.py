"""The first-run wizard: data folder, this computer's GPU, API-key protection, model folders and a chat model
that answers. A thin view over ``nexus_core.firstrun``."""
