"""Multi-agent workflows: personas, runs with checkpoints and review loops, the agents service."""
