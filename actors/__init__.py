"""The Gemini leg's workers: Dramatiq actors built on a broker handed in (nothing happens at import).

``leg`` uploads a spooled job to Gemini with our resumable client and polls it to ACTIVE by delayed messages;
``reupload`` handles an integrity mismatch; ``storage`` keeps jobs waiting for room in the Gemini storage
budget; ``sweeper``/``sweeploop`` find stuck jobs and stale files; ``webhooks``/``webhook_pump``/``webhook_http``
deliver signed final-state events; ``slots`` caps concurrent Gemini uploads; ``runtime`` assembles them.
Nothing here imports ``frontdoor``.
"""
