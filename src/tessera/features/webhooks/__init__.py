"""Outgoing webhooks (SPEC §3.8): signing, secrets at rest and SSRF checks so far."""
