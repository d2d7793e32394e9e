"""The HTTP side: a small HTTP/1.1 listener, the ``/v1`` API and its OpenAPI document, metrics."""
