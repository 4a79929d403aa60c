"""Where the secret box's key comes from when `DATA_ENCRYPTION_KEY` is not set.

- Set: that key, everywhere (production requires it).
- Unset, SQLite (one machine, the embedded mode): a key generated once and kept in
  `DATA_DIR/data-encryption.key` (mode 0600), beside the database it protects, so sealed
  secrets survive restarts. A key made per process would make every stored secret
  unreadable after a restart.
- Unset, PostgreSQL: no key. API servers and workers may run on different machines with
  different `DATA_DIR`s, and a key file on one of them would seal what the others cannot
  open; so webhooks answer 503 (`SecretsUnavailable`) until the key is configured, and
  nothing else is affected.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from tessera.shared.adapters.aes_gcm import AesGcmSecretBox
from tessera.shared.application.secret_box import SecretBox, SecretsUnavailable

KEY_FILE = "data-encryption.key"


def key_from_file(data_dir: str) -> str:
    """The base64 key in `DATA_DIR/data-encryption.key`, created if missing. The key is
    written whole to a private temporary file, then hard-linked into place, which fails if
    the file exists: of two processes starting together, one key wins and both read it."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as created:
            created.write(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
            created.flush()
            os.fsync(created.fileno())
        try:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink()
    return path.read_text(encoding="ascii").strip()


class UnconfiguredSecretBox:
    """`SecretBox` without a key: every use is a 503 naming the missing setting and what is
    unavailable for want of it (`feature`, e.g. "Webhooks are")."""

    def __init__(self, feature: str = "Webhooks are") -> None:
        self._message = f"{feature} unavailable: the server has no DATA_ENCRYPTION_KEY."

    def seal(self, plaintext: str) -> str:  # noqa: ARG002 - the port's signature
        raise SecretsUnavailable(self._message)

    def open(self, sealed: str) -> str:  # noqa: ARG002 - the port's signature
        raise SecretsUnavailable(self._message)


def secret_box(
    key: str | None,
    *,
    uses_sqlite: bool,
    data_dir: str,
    purpose: bytes,
    feature: str,
) -> SecretBox:
    """The box for `purpose`: AES-256-GCM under `DATA_ENCRYPTION_KEY` (`key`), else under
    the key file beside a SQLite database, else one that answers 503 (see above)."""
    if key is None and uses_sqlite:
        key = key_from_file(data_dir)
    if key is None:
        return UnconfiguredSecretBox(feature)
    return AesGcmSecretBox.from_base64(key, purpose=purpose)
