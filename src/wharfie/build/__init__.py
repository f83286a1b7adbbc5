"""Dockerfile builds: parser (pure) -> planner (pure) -> executor (RUN through the engine)."""
