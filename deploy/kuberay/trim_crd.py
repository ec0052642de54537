"""Trim a KubeRay CRD to the JSON schema of its served version, for the manifest tests.

    python deploy/kuberay/trim_crd.py ray.io_rayjobs.yaml "KubeRay v1.7.0 (59d663a)" \
        > deploy/kuberay/rayjob-v1.7.0.schema.yaml

Keeps the ``openAPIV3Schema`` of the storage version without its ``description`` texts and its
``status``, and moves sub-schemas that repeat (the pod template of the head, of each worker group
and of the submitter) into ``$defs`` once each. What the schema accepts is unchanged.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

MIN_HOISTED = 2000  # characters of JSON: smaller repeats stay where they are


def served_schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = _without_descriptions(version["schema"]["openAPIV3Schema"])
    schema["properties"].pop("status", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_without_descriptions(item) for item in node]
    return node


def _subschemas(node: Any, name: str = "") -> list[tuple[str, str]]:
    """(property name, canonical JSON) of every object below and including ``node``."""
    found = []
    if isinstance(node, dict):
        found.append((name, json.dumps(node, sort_keys=True)))
        for key, value in node.items():
            if key == "properties":
                for prop, sub in value.items():
                    found.extend(_subschemas(sub, prop))
            else:
                found.extend(_subschemas(value, name))
    elif isinstance(node, list):
        for item in node:
            found.extend(_subschemas(item, name))
    return found


def _replace(node: Any, canonical: str, ref: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if json.dumps(node, sort_keys=True) == canonical:
            return ref
        return {k: _replace(v, canonical, ref) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(item, canonical, ref) for item in node]
    return node


def hoist_repeats(schema: dict[str, Any]) -> dict[str, Any]:
    """Move the largest repeated sub-schema into ``$defs``, again until none repeats."""
    defs: dict[str, Any] = {}
    while True:
        found = _subschemas([schema, list(defs.values())])
        counts = Counter(canonical for _, canonical in found if len(canonical) >= MIN_HOISTED)
        repeated = [canonical for canonical, count in counts.items() if count > 1]
        if not repeated:
            return {**schema, "$defs": defs} if defs else schema
        canonical = max(repeated, key=len)
        base = next(name for name, c in found if c == canonical) or "schema"
        name = base if base not in defs else f"{base}{len(defs)}"
        ref = {"$ref": f"#/$defs/{name}"}
        schema = _replace(schema, canonical, ref)
        defs = {key: _replace(value, canonical, ref) for key, value in defs.items()}
        defs[name] = json.loads(canonical)


def main(crd_path: str, source: str) -> None:
    crd = yaml.load(Path(crd_path).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    schema = hoist_repeats(served_schema(crd))
    sys.stdout.write(
        f"# JSON schema of the {crd['spec']['names']['kind']} custom resource, from {source}:\n"
        f"# ray-operator/config/crd/bases/{Path(crd_path).name}, trimmed by\n"
        "# deploy/kuberay/trim_crd.py (descriptions and status removed, repeated sub-schemas\n"
        "# moved to $defs). tests/cluster/test_deploy.py validates deploy/'s manifests with it.\n"
    )
    sys.stdout.write(yaml.safe_dump(schema, sort_keys=False, width=100))


if __name__ == "__main__":
    main(*sys.argv[1:])
