"""The human review queue: its database (schema, Alembic migrations), filling it with scores,
and moderation (accounts, claims, decisions and their audit log, message templates, label export).
May import: every wing up to training; nothing that serves pages, reports or the demo.
"""
