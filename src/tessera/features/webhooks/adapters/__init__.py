"""Webhook adapters: AES-GCM secret box, resolving SSRF guard."""
