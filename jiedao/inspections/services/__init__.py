"""Writes of the inspection engine."""
