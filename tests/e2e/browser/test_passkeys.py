"""Passkeys in a real browser: headless Chromium with the DevTools virtual authenticator
(CTAP2, internal transport, resident keys, user verification) against a real server.

The page (passkeys.html) is served from the server's own origin (`PUBLIC_BASE_URL`, from
which the relying party id `localhost` and the allowed origin default): Playwright answers
for that one path, every API call goes to the server. One user's story: a password sign-in
for the bearer, a passkey registered, a sign-in with it and `/users/me` read with the new
token; then what must be refused: a reused challenge, an assertion made on another origin,
and a clone of the authenticator whose sign counter went backwards (audited).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, CDPSession, Page, Route

from tests.e2e.processes import free_port, running_server, tessera

HERE = Path(__file__).parent
PAGE = (HERE / "passkeys.html").read_text()
EMAIL, PASSWORD = "keyholder@example.com", "keyholder-pass-phrase-9"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


async def serve_page(page: Page, origin: str) -> None:
    """passkeys.html at `origin`/passkeys.html, answered by Playwright (nothing need listen)."""

    async def fulfil(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=PAGE)

    await page.route(f"{origin}/passkeys.html", fulfil)
    await page.goto(f"{origin}/passkeys.html")


async def add_authenticator(cdp: CDPSession) -> str:
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return str(added["authenticatorId"])


async def test_a_passkey_registered_in_the_browser_signs_in_and_what_must_fail_does(
    browser: Browser, tmp_path: Path
) -> None:
    port = free_port()
    origin = f"http://localhost:{port}"
    env = {
        "JWT_SECRET_KEY": "passkey-test-secret-key-of-40-characters!",
        "PUBLIC_BASE_URL": origin,
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    made = tessera(
        "create-admin", "--email", EMAIL, "--password", PASSWORD, "--full-name", "Key Holder",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with running_server(tmp_path, env, port=port) as server:
        context = await browser.new_context()
        page = await context.new_page()
        await serve_page(page, origin)
        cdp = await context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        first = await add_authenticator(cdp)

        # a password sign-in for the bearer, then a passkey
        login = await page.evaluate(
            "([email, password]) => api('POST', '/auth/login', {email, password})",
            [EMAIL, PASSWORD],
        )
        assert login["status"] == 200, login
        bearer = login["body"]["data"]["access_token"]
        added = await page.evaluate("(token) => register(token, 'Laptop')", bearer)
        assert added["status"] == 201, added
        assert added["body"]["data"]["name"] == "Laptop"
        [stored] = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": first}))[
            "credentials"
        ]
        assert (stored["isResidentCredential"], stored["rpId"]) == (True, "localhost")

        # signing in with it: a normal session, whose token reads the profile
        signed_in = await page.evaluate("signIn()")
        assert signed_in["status"] == 200, signed_in
        token = signed_in["body"]["data"]["access_token"]
        me = await page.evaluate("(token) => api('GET', '/users/me', undefined, token)", token)
        assert (me["status"], me["body"]["data"]["email"]) == (200, EMAIL)

        # a challenge is good for one sign-in: a second, fresh assertion of it is refused
        options = await page.evaluate("api('POST', '/auth/passkeys/login/options')")
        challenge_id = options["body"]["data"]["challenge_id"]
        verify = (
            "([id, options]) => assertFor(options).then((credential) => "
            "api('POST', '/auth/passkeys/login/verify', {challenge_id: id, credential}))"
        )
        once = await page.evaluate(verify, [challenge_id, options["body"]["data"]["options"]])
        assert once["status"] == 200, once
        again = await page.evaluate(verify, [challenge_id, options["body"]["data"]["options"]])
        assert again["status"] == 400, again
        assert again["body"]["error"]["field"] == "challenge_id"

        # an assertion made on an origin the server does not allow (same relying party id)
        other = f"http://localhost:{free_port()}"
        await serve_page(page, other)
        async with httpx.AsyncClient(base_url=server.url) as http:
            fresh = (await http.post("/api/v1/auth/passkeys/login/options")).json()["data"]
            credential = await page.evaluate("(options) => assertFor(options)", fresh["options"])
            elsewhere = await http.post(
                "/api/v1/auth/passkeys/login/verify",
                json={"challenge_id": fresh["challenge_id"], "credential": credential},
            )
        assert elsewhere.status_code == 401, elsewhere.text
        await page.goto(f"{origin}/passkeys.html")

        # a clone of the authenticator as it was at registration: its counter is behind
        await cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first})
        clone = await add_authenticator(cdp)
        await cdp.send("WebAuthn.addCredential", {"authenticatorId": clone, "credential": stored})
        cloned = await page.evaluate("signIn()")
        assert cloned["status"] == 401, cloned
        await context.close()

        rows = await audit_rows(server.url, bearer, "user.login.failed")
        assert [row["details"] for row in rows] == [{"reason": "sign_count", "method": "passkey"}]
        succeeded = await audit_rows(server.url, bearer, "user.login.succeeded")
        methods = sorted(row["details"]["method"] for row in succeeded)
        assert methods == ["passkey", "passkey", "password"]
        [row] = await audit_rows(server.url, bearer, "user.passkey.added")
        assert row["details"] == {"name": "Laptop"}


async def audit_rows(base: str, bearer: str, action: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get(
            "/api/v1/audit-events",
            params={"action": action},
            headers={"Authorization": f"Bearer {bearer}"},
        )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows
