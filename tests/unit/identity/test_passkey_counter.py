"""The sign-counter rule (WebAuthn §6.1.1) a passkey sign-in applies after the signature."""

from __future__ import annotations

import pytest

from tessera.features.identity.domain.passkeys import looks_cloned


@pytest.mark.parametrize(
    ("stored", "presented", "cloned"),
    [
        (0, 0, False),  # an authenticator without a counter (synced passkeys)
        (0, 1, False),
        (4, 5, False),
        (5, 5, True),  # replayed or copied
        (5, 3, True),  # went backwards: a clone
        (5, 0, True),  # a counter that stopped counting
    ],
)
def test_a_counter_that_does_not_increase_means_a_cloned_authenticator(
    stored: int, presented: int, cloned: bool
) -> None:
    assert looks_cloned(stored, presented) is cloned
