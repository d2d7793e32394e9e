"""Questions asked of an estate without serving it: ``explain`` (why this answer) and ``check`` (the linter)."""
