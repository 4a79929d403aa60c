from __future__ import annotations

import msgspec

from tessera.features.email.application.send_email import EmailRequest, SendEmail
from tessera.features.jobs.domain.job import Job


class SendEmailJob:
    """`JobHandler` of `email.send` jobs: the job id keys the Message-ID, so every retry of
    one job sends the same message."""

    def __init__(self, send_email: SendEmail) -> None:
        self._send_email = send_email

    async def handle(self, job: Job) -> None:
        await self._send_email.execute(msgspec.convert(job.data, EmailRequest), key=job.job_id)
