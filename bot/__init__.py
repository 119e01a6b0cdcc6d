"""deskbot bot package."""
