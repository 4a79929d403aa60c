"""The documents against the code, so they cannot fall behind it: the API guide's endpoint
reference against the routes the app serves, the operator's settings table against the
settings `tessera check-config` prints, and every relative Markdown link against the files
and headings it points at."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute, WebSocketRoute

from tessera.main.settings import describe, load_settings_with_sources
from tests.e2e.harness import client_for, settings_for

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
API_GUIDE = ROOT / "docs" / "api-guide.md"
OPERATIONS = ROOT / "docs" / "operations.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DECISIONS = ROOT / "docs" / "decisions"
MARKDOWN = [README, ROOT / "deploy" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
# Litestar's own answer (404) for any other name under /schema: no page of ours to document.
NOT_OURS = {"/schema/{path}"}
REFERENCE_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \|", re.MULTILINE)
SETTING_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", re.MULTILINE)


def section(path: Path, heading: str) -> str:
    """The text under the `## heading` of a Markdown file, up to the next `## ` heading."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_endpoints() -> Counter[tuple[str, str]]:
    return Counter(REFERENCE_ROW.findall(section(API_GUIDE, "Endpoint reference")))


def route_path(path: str) -> str:
    """`/files/{file_id:uuid}` as the documents write it: `/files/{file_id}`."""
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


async def served() -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The OpenAPI document the app serves, and every route it serves (a WebSocket as the
    `GET` that opens it; `HEAD` and `OPTIONS` left out, since every route answers them)."""
    settings = settings_for(jwt_secret_key="docs-test-signing-key-of-forty-characters!")
    async with client_for(settings) as client:
        answer = await client.get("/schema/openapi.json")
        routes = client.app.routes
    assert answer.status_code == 200, answer.text
    found = set()
    for route in routes:
        path = route_path(route.path)
        if isinstance(route, WebSocketRoute):
            found.add(("GET", path))
        elif isinstance(route, HTTPRoute) and path not in NOT_OURS:
            found |= {(method, path) for method in route.methods - {"HEAD", "OPTIONS"}}
    return answer.json(), found


async def test_the_endpoint_reference_names_every_operation_of_the_openapi_document() -> None:
    document, _routes = await served()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert len(operations) > 50
    assert sorted(operations - set(documented_endpoints())) == []


async def test_the_endpoint_reference_is_every_route_the_app_serves_once() -> None:
    """Also the routes outside the OpenAPI document (the WebSocket, the docs page, the local
    store's links), and nothing the app does not serve."""
    _document, routes = await served()
    documented = documented_endpoints()
    assert {("GET", "/ws/notifications"), ("PUT", "/api/v1/storage/objects")} <= routes
    assert sorted(routes - set(documented)) == [], "served but not in docs/api-guide.md"
    assert sorted(set(documented) - routes) == [], "in docs/api-guide.md but not served"
    assert [row for row, count in documented.items() if count > 1] == []


def setting_names() -> set[str]:
    """Every setting, as `tessera check-config` prints them (`NAME=value  (source)`)."""
    lines = describe(load_settings_with_sources({}, dotenv_path=None))
    return {line.split("=", 1)[0] for line in lines}


def test_the_settings_table_lists_every_setting_once() -> None:
    rows = SETTING_ROW.findall(section(OPERATIONS, "Configuration"))
    assert "RATE_LIMIT_AUTH_PER_MINUTE" in setting_names()
    assert sorted(rows) == sorted(setting_names() | {"CONFIG_FILE"})


def test_the_readme_names_only_real_settings() -> None:
    """The README's pointers and commands (the mode switches, the `auth` limit to relax by
    hand, the production snippet) name settings that exist, spelled as the table spells
    them."""
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})(?:=[^`]*)?`", text))
    named |= set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})=", text))
    assert "RATE_LIMIT_AUTH_PER_MINUTE" in named
    assert sorted(named - setting_names() - {"CONFIG_FILE"}) == []


def test_the_readme_stays_a_front_door() -> None:
    """What Tessera is, the two commands, where to go next: the manual lives in docs/."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150
    assert not any(line.startswith("| `POST ") for line in lines), "endpoints go to the guide"


def test_the_architecture_map_stays_short() -> None:
    """The maintainers' map points at the code and the decision records instead of
    retelling them."""
    assert len(ARCHITECTURE.read_text(encoding="utf-8").splitlines()) <= 420


def test_the_decision_index_lists_every_record_once() -> None:
    records = sorted(path.name for path in DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))
    listed = re.findall(
        r"^\| \[\d{4}\]\(([^)]+)\) \|", (DECISIONS / "README.md").read_text(encoding="utf-8"), re.M
    )
    assert len(records) >= 15
    assert listed == records


def slugs(path: Path) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces
    as hyphens, `-1`, `-2`, … after repeats."""
    seen: Counter[str] = Counter()
    anchors = set()
    for _level, title in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


def relative_links(path: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("document", MARKDOWN, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_at_files_and_headings_that_exist(document: Path) -> None:
    def resolves(link: str) -> bool:
        target, _, anchor = link.partition("#")
        path = (document.parent / target).resolve() if target else document
        if not path.exists():
            return False
        return not anchor or path.suffix != ".md" or anchor in slugs(path)

    assert [link for link in relative_links(document) if not resolves(link)] == []


def test_the_link_check_sees_links_and_anchors() -> None:
    """The check above would pass on nothing: it reads these links and these anchors."""
    assert "docs/operations.md#settings" in relative_links(README)
    assert {"settings", "rotating-jwt_secret_key", "webhook_"} <= slugs(OPERATIONS)
    assert "429-rate-limits-and-the-login-throttle" in slugs(API_GUIDE)
