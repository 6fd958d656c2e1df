"""Pushdock's records in Redis, one noun per module, each with its keys and encoding."""
