"""The human review queue: its database (schema, Alembic migrations), filling it with scores,
and moderation (accounts, claims, decisions and their audit log, message templates, label export);
the scoring API's hashed keys and the artists' earlier works it scores against.
May import: every wing up to training; nothing that serves pages, reports or the demo.
"""
