"""Every table's model, imported so that `Base.metadata` is complete (Alembic, tests)."""

from tessera.features.tenancy.adapters.models import TenantModel
from tessera.shared.adapters.database import Base
from tessera.shared.adapters.outbox import OutboxModel

metadata = Base.metadata

__all__ = ["OutboxModel", "TenantModel", "metadata"]
