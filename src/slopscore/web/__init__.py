"""The moderators' web app (``slopscore serve``): queue and item pages, the policy's actions, login;
and the scoring API for the platform's services (``slopscore api``, the ``api_*`` modules).
May import: every wing up to delivery. Not analytics or terminal (peers), demo or cli.
"""
