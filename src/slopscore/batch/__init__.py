"""Jobs over manifests: ``slopscore embed``, the streaming ``slopscore score`` (local or Ray),
feature tables for labelled manifests, and their output files. The review queue is a sink handed in.
May import: media, provenance, embedding, signals, model, config. Never evaluation, training, review or above.
"""
