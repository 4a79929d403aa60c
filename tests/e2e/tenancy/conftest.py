"""The identity tests' running Tessera (`client`, `production_client`), reused here."""

from tests.e2e.identity.conftest import client, production_client

__all__ = ["client", "production_client"]
