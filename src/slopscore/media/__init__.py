"""Uploads as files: read untrusted bytes, decode them to RGB with a typed reason for
every failure, strip metadata, and read manifests (CSV, Parquet, JSON Lines, folders) row by row.
May import: no other wing; it is the bottom of the stack.
"""
