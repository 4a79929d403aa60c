"""Where the secret box's key comes from without `DATA_ENCRYPTION_KEY`: a key file kept in
`DATA_DIR` on SQLite, none (503) on PostgreSQL."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from tessera.main.ioc import make_container
from tessera.main.settings import load_settings
from tessera.shared.adapters.aes_gcm import AesGcmSecretBox
from tessera.shared.adapters.data_key import (
    KEY_FILE,
    UnconfiguredSecretBox,
    key_from_file,
)
from tessera.shared.application.secret_box import SecretBox, SecretsUnavailable


def test_the_key_file_is_made_once_private_and_read_back_after_a_restart(tmp_path: Path) -> None:
    first = key_from_file(str(tmp_path))
    sealed = AesGcmSecretBox.from_base64(first).seal("whsec_abc")
    assert len(base64.b64decode(first)) == 32
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert key_from_file(str(tmp_path)) == first
    assert AesGcmSecretBox.from_base64(key_from_file(str(tmp_path))).open(sealed) == "whsec_abc"
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_without_a_key_sealing_is_a_503_naming_the_setting() -> None:
    box = UnconfiguredSecretBox()
    with pytest.raises(SecretsUnavailable, match="DATA_ENCRYPTION_KEY"):
        box.seal("whsec_abc")
    with pytest.raises(SecretsUnavailable):
        box.open("v1:x")


@pytest.mark.parametrize(
    ("database", "expected"),
    [("sqlite:///./x.db", AesGcmSecretBox), ("postgresql://u@h/d", UnconfiguredSecretBox)],
    ids=["sqlite", "postgresql"],
)
async def test_the_container_picks_the_box_by_database(
    tmp_path: Path, database: str, expected: type
) -> None:
    settings = load_settings(
        {"DATABASE_URL": database, "DATA_DIR": str(tmp_path)}, dotenv_path=None
    )
    container = make_container(settings)
    try:
        assert isinstance(await container.get(SecretBox), expected)
    finally:
        await container.close()
