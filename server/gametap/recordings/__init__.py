"""Recordings and the archive: the file format, reading and scanning it, provenance,
the archive and retention, and the offline tools (replay, timeline, diff, reproduce, export)."""
