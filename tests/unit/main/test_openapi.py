"""The OpenAPI document's authentication and error statements (tessera.main.openapi)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar

from tessera.main.ioc import make_container
from tessera.main.openapi import openapi_document
from tessera.main.web import create_app
from tests.e2e.harness import settings_for

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


@pytest.fixture(scope="module")
def app() -> Litestar:
    settings = settings_for(jwt_secret_key="openapi-unit-test-key-of-forty-chars!!!!")
    return create_app(make_container(settings), settings)


@pytest.fixture(scope="module")
def document(app: Litestar) -> dict[str, Any]:
    return openapi_document(app)


@pytest.fixture(scope="module")
def as_typed(app: Litestar) -> dict[str, Any]:
    """The document as Litestar makes it from the handlers' types, before `openapi.py`."""
    return app.openapi_schema.to_schema()


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def error_schema(op: dict[str, Any], status: str) -> Any:
    return op["responses"][status]["content"]["application/json"]["schema"]


def test_operations_taking_the_caller_require_the_bearer_token(document: dict[str, Any]) -> None:
    me = operation(document, "/api/v1/users/me", "get")
    login = operation(document, "/api/v1/auth/login", "post")
    assert me["security"] == [{"BearerToken": []}]
    assert login["security"] == []
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
    assert "415" not in one_user["responses"]
    assert set(liveness["responses"]) == {"200", "400", "413", "500"}
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
    assert schemas["NewWebhook"]["properties"]["description"]["pattern"] == no_nul
    assert schemas["EmailBody"]["properties"]["email"]["pattern"] != no_nul  # its own pattern
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


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]


def test_every_operation_says_whether_it_needs_the_bearer_token(document: dict[str, Any]) -> None:
    public = {
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/mfa/verify", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/password/forgot", "post"),
        ("/api/v1/auth/password/reset", "post"),
        ("/api/v1/auth/verify-email", "post"),
        ("/api/v1/auth/passkeys/login/options", "post"),
        ("/api/v1/auth/passkeys/login/verify", "post"),
        ("/health", "get"),
        ("/health/ready", "get"),
        ("/health/{module}", "get"),
        ("/metrics", "get"),
    }
    for path, method, op in operations(document):
        expected: list[dict[str, list[str]]] = (
            [] if (path, method) in public else [{"BearerToken": []}]
        )
        assert op["security"] == expected, (path, method)


def test_every_success_response_has_its_data_required_and_not_null(
    as_typed: dict[str, Any],
) -> None:
    """Said by the types alone (`Success[T]`, `Done`), not by rewriting the document."""
    schemas = as_typed["components"]["schemas"]
    checked = 0
    for path, method, op in operations(as_typed):
        for status, response in op["responses"].items():
            if not status.startswith("2"):
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            name = schema.get("$ref", "").rpartition("/")[2]
            envelope = schemas.get(name, {})
            if envelope.get("properties", {}).get("status") != {
                "type": "string",
                "const": "success",
            }:
                continue  # not an envelope: health reports, a redirect, metrics
            if name == "Done":  # a message only: no data at all, and the message is sure
                assert "data" not in envelope["properties"], (path, method)
                assert "message" in envelope["required"], (path, method)
                continue
            checked += 1
            assert "data" in envelope["required"], (path, method, status)
            assert "null" not in str(envelope["properties"]["data"]), (path, method, status)
    assert checked > 30


def _ids(name: str, node: Any, where: str) -> list[tuple[str, str, Any]]:
    """(where, name, schema) of every string schema named `id` or `*_id` under `node`."""
    found: list[tuple[str, str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found += _ids(name, item, where)
    elif isinstance(node, dict):
        if (name == "id" or name.endswith("_id")) and node.get("type") == "string":
            found.append((where, name, node))
        for key in ("oneOf", "anyOf", "allOf", "items"):
            found += _ids(name, node.get(key), where)
        for child, value in (node.get("properties") or {}).items():
            found += _ids(child, value, where)
    return found


def test_every_id_is_a_uuid(as_typed: dict[str, Any]) -> None:
    """Said by the types alone (`uuid.UUID`), not by rewriting the document."""
    ids = [
        found
        for name, schema in as_typed["components"]["schemas"].items()
        for found in _ids("", schema, name)
    ] + [
        found
        for path, method, op in operations(as_typed)
        for parameter in op.get("parameters", [])
        for found in _ids(parameter["name"], parameter["schema"], f"{method} {path}")
    ]
    names = {name for _, name, _ in ids}
    assert {"id", "user_id", "tenant_id", "session_id", "webhook_id", "delivery_id"} <= names
    for where, name, schema in ids:
        if name == "request_id":  # the request's tag (X-Request-ID), not a resource's id
            assert "format" not in schema
            continue
        if (where, name) == ("DeliveryView", "webhook_id"):  # the `webhook-id` header sent
            assert schema["pattern"] == "^msg_[0-9a-f]{32}$"
            continue
        if where.endswith("CredentialJSON"):  # a WebAuthn credential's id, as browsers send it
            assert schema["pattern"] == "^[A-Za-z0-9_-]+={0,2}$"
            continue
        if (where, name) == ("PasskeyView", "credential_id"):  # the same, as stored
            assert schema["type"] == "string"
            continue
        assert schema.get("format") == "uuid", (where, name)


def test_retry_after_comes_with_every_429_and_503(document: dict[str, Any]) -> None:
    answers = [
        (path, method, response)
        for path, method, op in operations(document)
        for status, response in op["responses"].items()
        if status in {"429", "503"}
    ]
    assert len(answers) > 50
    for path, method, response in answers:
        assert response["headers"]["Retry-After"]["schema"]["type"] == "integer", (path, method)


def test_every_operation_lists_what_any_request_may_be_refused_with(
    document: dict[str, Any],
) -> None:
    """A NUL in any query parameter is a 400 and a body over the limit a 413 on every route,
    declared or not; a POST, PUT or PATCH body in another media type is a 415."""
    for path, method, op in operations(document):
        assert {"400", "413", "500"} <= set(op["responses"]), (path, method)
        if method in {"post", "put", "patch"}:
            assert "415" in op["responses"], (path, method)


def test_request_bodies_state_the_rules_the_server_enforces(as_typed: dict[str, Any]) -> None:
    """From the types alone: lengths, patterns, enums, a constant, the one target."""
    schemas = as_typed["components"]["schemas"]
    registration = schemas["Registration"]["properties"]
    assert registration["terms_accepted"]["const"] is True
    assert (registration["password"]["minLength"], registration["password"]["maxLength"]) == (
        8,
        128,
    )
    assert registration["email"]["maxLength"] == 254
    assert schemas["Registration"]["not"]["required"] == ["tenant_name", "invitation_token"]
    upload = schemas["NewUpload"]["properties"]
    assert "image/png" in upload["content_type"]["enum"]
    assert "text/html" not in upload["content_type"]["enum"]
    assert upload["size_bytes"]["minimum"] == 1
    assert schemas["WebhookEvent"]["enum"][0] == "user.created"
    assert schemas["NewWebhook"]["properties"]["events"]["minItems"] == 1
    targets = schemas["NewNotification"]["oneOf"]
    assert [branch["required"] for branch in targets] == [["user_id"], ["tenant_id"], ["global"]]
    # Litestar drops a bound of 0 inside a union unless the type says it again
    assert schemas["FlagChanges"]["properties"]["rollout_percentage"]["minimum"] == 0


def test_the_document_is_the_same_whatever_the_settings(document: dict[str, Any]) -> None:
    """`tessera openapi` prints what a server serves, however that server is configured."""
    settings = settings_for(
        jwt_secret_key="openapi-unit-test-key-of-forty-chars!!!!",
        file_max_bytes="1000",
        webhook_allow_private_targets="true",
        rate_limit_enabled="false",
        storage_quota_bytes_per_tenant="5000",
        s3_bucket="bucket",
        s3_endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="key",
        aws_secret_access_key="secret",
    )
    other = openapi_document(create_app(make_container(settings), settings))
    assert other == document


def _choices_of_one(node: Any, where: str) -> list[str]:
    """Where under `node` a `oneOf` or `anyOf` offers a single schema."""
    if isinstance(node, list):
        return [found for item in node for found in _choices_of_one(item, where)]
    if not isinstance(node, dict):
        return []
    found = [f"{where}/{key}" for key in ("oneOf", "anyOf") if len(node.get(key, [1, 2])) == 1]
    for key, value in node.items():
        found += _choices_of_one(value, f"{where}/{key}")
    return found


def test_a_field_that_may_be_left_out_is_its_type_not_a_choice_of_one(
    document: dict[str, Any],
) -> None:
    """`X | msgspec.UnsetType` (PATCH bodies): the field's own schema, constraints kept."""
    changes = document["components"]["schemas"]["FlagChanges"]["properties"]
    assert changes["enabled"] == {"type": "boolean"}
    assert changes["description"]["type"] == "string"
    assert changes["description"]["maxLength"] == 500
    assert changes["user_ids"]["items"] == {"type": "string", "format": "uuid"}
    assert _choices_of_one(document, "#") == []
