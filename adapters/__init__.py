"""deskbot adapters package."""
