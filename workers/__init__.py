"""RQ entrypoints, the queueing policy, and the processes that run them (no Flask here)."""
