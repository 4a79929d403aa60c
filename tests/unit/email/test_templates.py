from __future__ import annotations

from typing import Any

import pytest

from tessera.features.email.adapters.jinja_renderer import JinjaTemplateRenderer
from tessera.features.email.domain.errors import MissingTemplateVariable, UnknownTemplate
from tessera.features.email.domain.message import TEMPLATE_NAMES

LINK = "http://localhost:8000/verify-email?token=abc123&lang=en"

SAMPLES: dict[str, dict[str, Any]] = {
    "welcome_email": {"full_name": "Ada Lovelace"},
    "verify_email": {"full_name": "Ada Lovelace", "link": LINK, "expires_hours": 24},
    "password_reset": {"full_name": "Ada Lovelace", "link": LINK, "expires_minutes": 30},
    "invitation": {
        "inviter_name": "Grace Hopper",
        "tenant_name": "Analytical Engines Ltd",
        "link": LINK,
        "role": "tenant_admin",
    },
    "security_alert": {
        "full_name": "Ada Lovelace",
        "event": "new sign-in",
        "ip_address": "203.0.113.7",
        "user_agent": "Firefox 140 on Linux",
        "occurred_at": "2030-01-01 10:00 UTC",
    },
    "webhook_disabled": {
        "full_name": "Ada Lovelace",
        "url": "https://hooks.example.com/tessera",
        "reason": "deliveries kept failing until the retry schedule ran out",
        "webhook_id": "5d0c3c1e-0000-4000-8000-000000000000",
    },
}

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def renderer() -> JinjaTemplateRenderer:
    return JinjaTemplateRenderer()


def test_the_renderer_ships_exactly_the_templates_the_service_sends(
    renderer: JinjaTemplateRenderer,
) -> None:
    assert renderer.templates == TEMPLATE_NAMES == set(SAMPLES)


@pytest.mark.parametrize("template", sorted(SAMPLES))
def test_each_template_renders_a_subject_a_text_and_an_html_part(
    renderer: JinjaTemplateRenderer, template: str
) -> None:
    context = SAMPLES[template]
    email = renderer.render(template, context)
    assert email.subject.strip()
    assert "\n" not in email.subject
    assert email.html.startswith("<!DOCTYPE html>")
    assert f"<title>{email.subject}</title>" in email.html.replace("&amp;", "&")
    for value in context.values():
        assert str(value) in email.text
    assert "{{" not in email.text + email.html


@pytest.mark.parametrize("template", ["verify_email", "password_reset", "invitation"])
def test_links_reach_the_reader_intact_in_both_parts(
    renderer: JinjaTemplateRenderer, template: str
) -> None:
    email = renderer.render(template, SAMPLES[template])
    assert f"\n{LINK}\n" in email.text, "the link stands on its own line in the text part"
    assert 'href="http://localhost:8000/verify-email?token=abc123&amp;lang=en"' in email.html


def test_the_security_alert_says_what_happened_when_and_from_where(
    renderer: JinjaTemplateRenderer,
) -> None:
    email = renderer.render("security_alert", SAMPLES["security_alert"])
    assert "new sign-in" in email.subject
    for part in (email.text, email.html):
        assert "203.0.113.7" in part
        assert "Firefox 140 on Linux" in part
        assert "2030-01-01 10:00 UTC" in part


@pytest.mark.parametrize(
    ("template", "missing"),
    [(name, key) for name, context in sorted(SAMPLES.items()) for key in context],
)
def test_a_missing_context_variable_is_an_error_not_a_blank(
    renderer: JinjaTemplateRenderer, template: str, missing: str
) -> None:
    context = {k: v for k, v in SAMPLES[template].items() if k != missing}
    with pytest.raises(MissingTemplateVariable, match=missing):
        renderer.render(template, context)


def test_a_hostile_name_is_escaped_in_html_and_verbatim_in_text(
    renderer: JinjaTemplateRenderer,
) -> None:
    email = renderer.render("welcome_email", {"full_name": HOSTILE})
    assert HOSTILE not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert f"Hello {HOSTILE}," in email.text


def test_a_name_with_line_breaks_cannot_break_the_subject_line(
    renderer: JinjaTemplateRenderer,
) -> None:
    context = {**SAMPLES["invitation"], "inviter_name": "Eve\r\nBcc: victim@example.com\n"}
    email = renderer.render("invitation", context)
    assert "\n" not in email.subject
    assert "\r" not in email.subject
    assert email.subject.startswith("Eve Bcc: victim@example.com invited you")


def test_the_app_name_defaults_and_can_be_set(renderer: JinjaTemplateRenderer) -> None:
    assert "Tessera" in renderer.render("welcome_email", SAMPLES["welcome_email"]).subject
    branded = JinjaTemplateRenderer(app_name="Acme Cloud")
    assert branded.render("welcome_email", {"full_name": "Ada"}).subject == "Welcome to Acme Cloud"
    overridden = renderer.render("welcome_email", {"full_name": "Ada", "app_name": "Mosaic"})
    assert "Mosaic" in overridden.text


@pytest.mark.parametrize(
    "name", ["no_such_email", "_layout", "../verify_email", "verify_email.txt"]
)
def test_an_unknown_template_is_refused(renderer: JinjaTemplateRenderer, name: str) -> None:
    with pytest.raises(UnknownTemplate):
        renderer.render(name, SAMPLES["verify_email"])
