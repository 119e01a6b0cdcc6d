"""End-to-end tests: the real app, core and database, driven from outside (browsers, HTTP, CLI)."""
