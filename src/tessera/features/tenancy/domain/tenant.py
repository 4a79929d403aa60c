"""An organisation: every user and every tenant-owned row belongs to exactly one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.shared.domain.errors import InvalidInput

MAX_NAME_LENGTH = 255


@dataclass(slots=True)
class Tenant:
    id: uuid.UUID
    name: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    mfa_required: bool = False  # every user must sign in with a second factor

    def rename(self, name: str, *, now: datetime) -> None:
        """Surrounding spaces are dropped; an empty or over-long name is refused."""
        cleaned = name.strip()
        if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
            raise InvalidInput(f"name must be 1 to {MAX_NAME_LENGTH} characters.", field="name")
        if cleaned != self.name:
            self.name = cleaned
            self.updated_at = now

    def require_mfa(self, required: bool, *, now: datetime) -> None:
        """Users without MFA who sign in from now on must enrol before anything else."""
        if required != self.mfa_required:
            self.mfa_required = required
            self.updated_at = now
