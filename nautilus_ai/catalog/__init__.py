"""Ingestion, validation, custom data types and storage of nautilus-ai data."""
