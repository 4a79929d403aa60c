"""The OpenAPI document's authentication and error statements (tessera.main.openapi)."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.main.ioc import make_container
from tessera.main.openapi import openapi_document
from tessera.main.web import create_app
from tests.e2e.harness import settings_for

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = settings_for(jwt_secret_key="openapi-unit-test-key-of-forty-chars!!!!")
    return openapi_document(create_app(make_container(settings), settings))


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def error_schema(op: dict[str, Any], status: str) -> Any:
    return op["responses"][status]["content"]["application/json"]["schema"]


def test_operations_taking_the_caller_require_the_bearer_token(document: dict[str, Any]) -> None:
    me = operation(document, "/api/v1/users/me", "get")
    login = operation(document, "/api/v1/auth/login", "post")
    assert me["security"] == [{"BearerToken": []}]
    assert "security" not in login
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert error_schema(me, "401") == ENVELOPE


def test_every_error_response_is_the_envelope_never_litestars_default(
    document: dict[str, Any],
) -> None:
    errors = [
        (path, method, status, response)
        for path, item in document["paths"].items()
        for method, op in item.items()
        for status, response in op["responses"].items()
        if status.startswith(("4", "5"))
    ]
    assert len(errors) > 200
    for path, method, status, response in errors:
        assert response["content"]["application/json"]["schema"] == ENVELOPE, (path, method, status)


def test_statuses_follow_what_the_operation_takes(document: dict[str, Any]) -> None:
    one_user = operation(document, "/api/v1/users/{user_id}", "get")
    liveness = operation(document, "/health", "get")
    assert {"400", "401", "403", "404", "429", "503"} <= set(one_user["responses"])
    assert "413" not in one_user["responses"]
    assert set(liveness["responses"]) == {"200", "500"}
    for listing in ("/api/v1/files", "/api/v1/invitations", "/api/v1/webhooks", "/api/v1/users"):
        assert "404" in operation(document, listing, "get")["responses"]  # `tenant_id`
    assert "404" not in operation(document, "/api/v1/notifications", "get")["responses"]


def test_uploads_are_described_as_multipart_with_a_file(document: dict[str, Any]) -> None:
    upload = operation(document, "/api/v1/files", "post")
    content = upload["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"


def test_json_bodies_refuse_unknown_fields(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["LoginBody"]["additionalProperties"] is False


def test_free_form_request_strings_say_they_hold_no_nul(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    no_nul = "^[^\\u0000]*$"
    assert schemas["LoginBody"]["properties"]["email"]["pattern"] == no_nul
    assert schemas["NewWebhook"]["properties"]["events"]["items"]["pattern"] == no_nul
    assert schemas["NewFlag"]["properties"]["key"]["pattern"] != no_nul  # its own pattern
    listing = {
        p["name"]: p["schema"] for p in operation(document, "/api/v1/users", "get")["parameters"]
    }
    assert listing["search"]["oneOf"][0]["pattern"] == no_nul
    assert "pattern" not in str(listing["tenant_id"])  # a uuid
    assert "pattern" not in str(schemas["TokenPair"])  # a response only


def test_a_created_resource_links_to_the_operations_on_it(document: dict[str, Any]) -> None:
    created = operation(document, "/api/v1/webhooks", "post")["responses"]["201"]
    links = created["links"]
    targets = {link["operationId"] for link in links.values()}
    item = document["paths"]["/api/v1/webhooks/{webhook_id}"]
    assert targets == {item[method]["operationId"] for method in ("get", "patch", "delete")}
    assert {link["parameters"]["webhook_id"] for link in links.values()} == {
        "$response.body#/data/id"
    }
