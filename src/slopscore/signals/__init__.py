"""Evidence about an upload beside its embedding: per-file signals (provenance, PDQ hash),
near-duplicates, portfolio consistency and upload bursts, and the feature table that joins them.
May import: media, provenance, embedding.
"""
