"""The moderators' web app (``slopscore serve``): queue and item pages, the policy's actions, login.
May import: every wing up to review. Not analytics or terminal (peers), demo or cli.
"""
