"""Offline sync: wire types, the sync engine, attachments and a reference client."""
