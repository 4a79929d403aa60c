from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from dishka import Provider, Scope, provide

from tessera.features.email.adapters.eml_folder_mailer import EmlFolderMailer
from tessera.features.email.adapters.health import MailProbe
from tessera.features.email.adapters.jinja_renderer import JinjaTemplateRenderer
from tessera.features.email.adapters.send_email_job import SendEmailJob
from tessera.features.email.adapters.smtp_mailer import SmtpMailer
from tessera.features.email.application.ports import Mailer, TemplateRenderer
from tessera.features.email.application.send_email import SendEmail
from tessera.main.settings import Settings


class EmailProvider(Provider):
    scope = Scope.APP
    send_email_job = provide(SendEmailJob)
    probe = provide(MailProbe)

    @provide
    def renderer(self) -> TemplateRenderer:
        return JinjaTemplateRenderer()

    @provide
    def mailer(self, settings: Settings) -> Mailer:
        """SMTP when SMTP_HOST is set, else `.eml` files under DATA_DIR/outbox."""
        if settings.smtp_host is None:
            return EmlFolderMailer(Path(settings.data_dir) / "outbox")
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    @provide
    def send_email(
        self, renderer: TemplateRenderer, mailer: Mailer, settings: Settings
    ) -> SendEmail:
        domain = urlsplit(settings.public_base_url).hostname or "tessera"
        return SendEmail(renderer, mailer, settings.email_from, message_domain=domain)
