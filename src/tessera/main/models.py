"""Every table's model, imported so that `Base.metadata` is complete (Alembic, tests)."""

from tessera.features.audit.adapters.models import AuditEventModel
from tessera.features.files.adapters.models import FileModel
from tessera.features.flags.adapters.models import FeatureFlagModel
from tessera.features.identity.adapters.models import (
    InvitationModel,
    OneTimeTokenModel,
    PasskeyModel,
    RecoveryCodeModel,
    TotpCredentialModel,
    UserModel,
)
from tessera.features.notifications.adapters.models import NotificationModel, NotificationReadModel
from tessera.features.tenancy.adapters.models import TenantModel
from tessera.features.webhooks.adapters.models import WebhookDeliveryModel, WebhookEndpointModel
from tessera.shared.adapters.database import Base
from tessera.shared.adapters.outbox import OutboxModel

metadata = Base.metadata

__all__ = [
    "AuditEventModel",
    "FeatureFlagModel",
    "FileModel",
    "InvitationModel",
    "NotificationModel",
    "NotificationReadModel",
    "OneTimeTokenModel",
    "OutboxModel",
    "PasskeyModel",
    "RecoveryCodeModel",
    "TenantModel",
    "TotpCredentialModel",
    "UserModel",
    "WebhookDeliveryModel",
    "WebhookEndpointModel",
    "metadata",
]
