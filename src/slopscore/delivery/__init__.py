"""Delivering members' private messages to the platform: each queued outbox message is posted,
signed (:mod:`~slopscore.delivery.signing`), to the platform's webhook, retried with backoff
until the platform acknowledges it or the attempts run out (``slopscore outbox``, or a
:class:`~slopscore.delivery.worker.DeliveryWorker` beside ``slopscore serve``).
May import: every wing up to review (the outbox table lives there); not web, analytics,
terminal, demo or cli.
"""
