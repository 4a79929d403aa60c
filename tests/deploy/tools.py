"""Helpers for the deployment tests: the tools shipped as dev dependencies, the files under
`deploy/`, and the two checks every deployment file must pass against the code itself (the
`tessera` command line and the settings)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import msgspec
import pytest
import yaml

from tessera.main.cli import main as tessera_cli
from tessera.main.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE_FILE = DEPLOY / "compose.yaml"
CADDYFILE = DEPLOY / "compose" / "Caddyfile"
REDIS_SCRIPT = DEPLOY / "compose" / "redis.sh"
K8S = DEPLOY / "k8s"
PRODUCTION_OVERLAY = K8S / "overlays" / "production"

# Every setting Tessera reads from the environment (a derived field is not one).
SETTING_NAMES = frozenset(
    env_name(field.name)
    for field in msgspec.structs.fields(Settings)
    if field.name != "jwt_secret_generated"
)


def tool(name: str, package: str) -> str:
    """The path of a command-line tool installed with the dev dependencies (next to this
    interpreter, or on PATH); skips loudly when the platform has no wheel for it."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.skip(f"`{name}` is not installed (dev dependency {package}): run `uv sync`")
    return found


def run(command: Sequence[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers assert on the return code with its output
        list(command), cwd=cwd, capture_output=True, text=True, timeout=120
    )


def yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def parse_tessera_args(args: Sequence[str]) -> click.Context:
    """Parse ARGS as `tessera ARGS` would, without running the command; raises click's
    usage errors for an unknown command or option or a bad value."""
    command: click.Command = tessera_cli
    parent: click.Context | None = None
    name, words = "tessera", list(args)
    while isinstance(command, click.Group):
        parent = click.Context(command, info_name=name, parent=parent)
        if not words:
            raise click.UsageError("a command is missing", parent)
        name, *words = words
        sub = command.get_command(parent, name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r}", parent)
        command = sub
    return command.make_context(name, words, parent=parent)


def walk(value: Any) -> Iterator[Any]:
    """Every mapping, list and scalar inside VALUE, VALUE first."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?message}` against ENVIRON."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = environ.get(name)
        blank = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in ("?", ":?") and blank:
            raise MissingVariable(f"{name}: {arg}")
        if op in ("-", ":-") and blank:
            return arg
        return current or ""

    return _VARIABLE.sub(value, text)


def compose(environ: Mapping[str, str]) -> dict[str, Any]:
    """deploy/compose.yaml as compose reads it with ENVIRON (its variables filled in)."""
    loaded = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), environ))
    assert isinstance(loaded, dict)
    return loaded


def keys() -> dict[str, str]:
    """The two keys compose requires, generated as compose.env.example says."""
    return {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
