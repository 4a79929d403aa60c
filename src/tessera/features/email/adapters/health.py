from __future__ import annotations

from tessera.features.email.application.ports import Mailer


class MailProbe:
    """`HealthProbe` "email": the SMTP server (or the outbox folder) answers."""

    name = "email"

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    async def check(self) -> None:
        await self._mailer.check()
