"""deskbot core package."""
