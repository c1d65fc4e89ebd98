"""Running the scrubber as a service: ``scrubber serve`` (HTTP) and ``scrubber watch`` (drop folder).

Both call the API (``scrubber.api``) and know nothing of how a claim is checked.
"""
