"""Observability of the upload service: Sentry (with secret scrubbing), Prometheus metrics, health and readiness
endpoints, worker presence, and the ``report`` over the JSON request logs.

Importing this package (or any of its modules) does no work: nothing connects, registers or patches until a
function is called. Every part takes what it needs (settings, a registry, a Redis client, a clock) as arguments.
"""
