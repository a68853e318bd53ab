"""``slopscore demo``: a clearly synthetic platform (procedurally drawn images), simulated
moderator decisions, and the end-to-end run over them.
May import: every wing below it, except cli.
"""
