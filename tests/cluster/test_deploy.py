"""The manifests in deploy/ are what Kubernetes and KubeRay accept, their commands are what vlpipe's
own command line accepts, and the image's pins agree with the Makefile and the manifests. (The
image itself is not built here: that needs a Docker daemon.)"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from vlpipe import __version__
from vlpipe.jobs import check_command, check_submission

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = "1.31.0"  # the oldest release with what the CronJob uses (podFailurePolicy is GA)
RAYJOB_SCHEMA = DEPLOY / "kuberay" / "rayjob-v1.7.0.schema.yaml"


def manifests() -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(DEPLOY.glob("*.yaml"))
    }


def strict(schema: Any) -> Any:
    """The schema rejecting fields it does not name, as `kubectl apply` (strict field validation)
    does; a CRD's own schema only prunes them."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tightened = {key: strict(value) for key, value in schema.items()}
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        tightened.setdefault("additionalProperties", False)
    return tightened


@pytest.fixture(scope="module")
def rayjob_schema() -> dict[str, Any]:
    return strict(yaml.load(RAYJOB_SCHEMA.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))


def validate(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_deploy_holds_a_rayjob_a_raycluster_and_a_cronjob() -> None:
    kinds = {name: manifest["kind"] for name, manifest in manifests().items()}
    assert kinds == {
        "cronjob-jupyter.yaml": "CronJob",
        "raycluster.yaml": "RayCluster",
        "rayjob-jupyter.yaml": "RayJob",
    }


def test_core_kinds_are_valid_kubernetes() -> None:
    for name, manifest in manifests().items():
        if manifest["apiVersion"].startswith("ray.io/"):
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc}")


def test_kuberay_resources_match_the_crd_schema(rayjob_schema: dict[str, Any]) -> None:
    """The RayJob against KubeRay's RayJob schema; the RayCluster's spec against the same
    schema's rayClusterSpec (one Go type, RayClusterSpec, in KubeRay's API)."""
    found = manifests()
    validate(found["rayjob-jupyter.yaml"], rayjob_schema)
    cluster = found["raycluster.yaml"]
    assert set(cluster) == {"apiVersion", "kind", "metadata", "spec"}
    spec_schema = {
        **rayjob_schema["properties"]["spec"]["properties"]["rayClusterSpec"],
        "$defs": rayjob_schema["$defs"],
    }
    validate(cluster["spec"], spec_schema)


def test_the_schema_catches_what_kuberay_would_refuse(rayjob_schema: dict[str, Any]) -> None:
    for broken in ({"replicas": "eight"}, {"replicaCount": 8}):
        rayjob = manifests()["rayjob-jupyter.yaml"]
        rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(rayjob, rayjob_schema)


def test_each_entrypoint_parses_with_vlpipe_s_command_line() -> None:
    found = manifests()
    entrypoint = shlex.split(found["rayjob-jupyter.yaml"]["spec"]["entrypoint"])
    assert entrypoint[0] == "vlpipe"
    check_submission(entrypoint[1:])
    (container,) = found["cronjob-jupyter.yaml"]["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ]
    command = container["command"]
    assert command[:2] == ["vlpipe", "submit"]
    check_command(command[1:])
    job = command[command.index("--") + 1 :]
    check_submission(job)
    assert "--incremental" in job and any(arg.startswith("--output=s3://") for arg in job)


def test_the_image_pins_what_the_makefile_and_the_manifests_use() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pins = dict(re.findall(r"^ARG (\w+)=(\S*)$", dockerfile, flags=re.MULTILINE))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"torch=={pins['TORCH_VERSION']}" in makefile
    found = manifests()
    ray_versions = {
        found["raycluster.yaml"]["spec"]["rayVersion"],
        found["rayjob-jupyter.yaml"]["spec"]["rayClusterSpec"]["rayVersion"],
    }
    assert ray_versions == {pins["RAY_VERSION"]}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    (wanted,) = re.findall(r'"/src\[([\w,]+)\]"', dockerfile)
    assert set(wanted.split(",")) <= set(extras)
    images = {
        container["image"] for manifest in found.values() for container in _containers(manifest)
    }
    assert images == {f"vlpipe:{__version__}"}


def _containers(node: Any) -> list[dict[str, Any]]:
    """Every container spec anywhere in a manifest."""
    if isinstance(node, list):
        return [c for item in node for c in _containers(item)]
    if not isinstance(node, dict):
        return []
    own = [c for c in node.get("containers", []) if isinstance(c, dict)]
    return own + [
        c for key, value in node.items() if key != "containers" for c in _containers(value)
    ]


def test_the_image_s_build_context_holds_what_pip_install_reads() -> None:
    """`.dockerignore` leaves out tests, benchmarks and local state, never a folder of the
    package or a file its build reads."""
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = [*project["tool"]["setuptools"]["package-dir"].values(), "pyproject.toml"]
    needed += ["setup.py", project["project"]["readme"], "Makefile"]
    for path in needed:
        assert (ROOT / path).exists(), path
        hits = [p for p in ignored if fnmatch.fnmatch(path, p.removeprefix("**/"))]
        assert not hits, f".dockerignore {hits} leaves {path} out of the image"
