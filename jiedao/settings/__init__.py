"""Settings: base.py (environment-driven) and test.py (the suite)."""
