"""Pushdock's core: project and pipeline files, checkout, build, test, deploy, records.

Nothing here knows HTTP or the job queue.
"""
