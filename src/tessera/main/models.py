"""Every table's model, imported so that `Base.metadata` is complete (Alembic, tests)."""

from tessera.features.identity.adapters.models import OneTimeTokenModel, UserModel
from tessera.features.tenancy.adapters.models import TenantModel
from tessera.shared.adapters.database import Base
from tessera.shared.adapters.outbox import OutboxModel

metadata = Base.metadata

__all__ = ["OneTimeTokenModel", "OutboxModel", "TenantModel", "UserModel", "metadata"]
