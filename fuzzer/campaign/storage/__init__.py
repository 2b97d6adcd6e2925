"""Where results are kept: the campaign corpus (SQLite) and the regression corpus (JSON)."""
