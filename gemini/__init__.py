"""The Gemini boundary: errors, the resumable upload client, the crash-proof uploader, the files adapter.

Submodules are imported on demand (``gemini.files`` pulls in the google-genai SDK, ``gemini.emulator``
Tornado); this package itself imports nothing.
"""
