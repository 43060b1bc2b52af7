"""Dramatiq middleware of the project, listed in ``DRAMATIQ_BROKER``."""
