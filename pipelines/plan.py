"""A build's plan: its work units, remembered in the output so that a re-run resumes the same
plan — or, with ``--incremental``, grows it.

The output holds the plan twice: ``build.json`` (the recipe, the inputs, every unit with its
fingerprint, and the runs so far) and ``ledger/plan.parquet`` (the files of each unit, with a
fingerprint each: size and modification time, or what an object store says of the object).

- A plain re-run must plan exactly the units the build has: same recipe, same inputs, same files
  unchanged; anything else is refused (a changed input must not be mixed into committed chunks).
- ``--incremental`` keeps every unit the build has and adds what is new: files the plan does not
  hold become new units (grouped ``input.files_per_unit`` at a time, in name order), new tables
  and dataset shards too. A unit whose files or table changed since it was planned is reported
  and left as it is (the build's exit status says so), or, with ``--reprocess-changed``, planned
  again as a new unit — a new version, with its own chunks — and the old unit's shards and ledger
  rows are removed once the new version has committed its last chunk. Files that vanished from
  the input are reported; what was built from them stays.

Each run has an id (``run``), recorded with what it added and found changed, and written into
the ledger row of every document it commits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from vlpipe import __version__
from vlpipe.errors import ConfigError
from vlpipe.manifests import ledger
from vlpipe.manifests.store import Store
from vlpipe.recipe import Recipe
from vlpipe.sources.inputs import Unit, group_fingerprint, path_fingerprint

PLAN_FILES = "ledger/plan.parquet"
PLAN_SCHEMA = pa.schema([("unit", pa.int32()), ("path", pa.string()), ("fingerprint", pa.string())])


@dataclass
class Plan:
    """What this run works on (``units``: every unit not superseded) and what it found."""

    run: str
    units: list[Unit]
    added: list[int] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # labels left as they were
    reprocessed: dict[int, int] = field(default_factory=dict)  # old unit → its new version
    vanished: list[str] = field(default_factory=list)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def plan_fingerprint(units: Iterable[Unit]) -> str:
    """A hash of the work plan, each unit with the fingerprint of what it reads: a resumed build
    must see the same documents in the same units, or committed chunk names would point at other
    documents."""
    digest = hashlib.sha256()
    for unit in units:
        digest.update(orjson.dumps(dataclasses.asdict(unit)))
    return digest.hexdigest()


def plan_build(
    out: Store,
    recipe: Recipe,
    inputs: list[str],
    fresh: list[Unit],
    incremental: bool = False,
    reprocess_changed: bool = False,
) -> Plan:
    """The plan of this run in ``out``, recorded there before any work starts."""
    record = ledger.read_build_record(out)
    run = new_run_id()
    identity = {"recipe": recipe.model_dump(mode="json"), "inputs": inputs}
    if record is not None and {k: record.get(k) for k in identity} != identity:
        raise ConfigError(
            f"{out.url} holds a build with another recipe or other inputs; choose another "
            "--output or pass --overwrite"
        )
    if record is None:
        plan = Plan(run, fresh, added=[u.index for u in fresh])
        units, superseded, stored = fresh, {}, {}
    elif not incremental:
        if record.get("plan") != plan_fingerprint(fresh):
            raise ConfigError(
                f"{out.url}: input files changed or were added since the build was planned; "
                "pass --incremental to build what is new, or choose another --output"
            )
        plan = Plan(run, fresh)
        units, superseded = fresh, _superseded(record)
        stored = _previous_units(out, record)[1]
    else:
        previous, stored = _previous_units(out, record)
        options = (recipe.input.files_per_unit, run, reprocess_changed)
        plan = merge(previous, _superseded(record), stored, fresh, *options)
        superseded = {**_superseded(record), **plan.reprocessed}
        units = [*previous, *(u for u in plan.units if u.index not in {p.index for p in previous})]
    _write_plan(out, identity, record, plan, units, superseded, stored)
    plan.units = [u for u in units if u.index not in superseded]
    return plan


def _superseded(record: dict[str, Any]) -> dict[int, int]:
    return {
        int(u["index"]): int(u["superseded_by"])
        for u in record["units"]
        if u.get("superseded_by") is not None
    }


def _previous_units(out: Store, record: dict[str, Any]) -> tuple[list[Unit], dict[str, str]]:
    """The units of the plan in ``out`` (their files read back from the plan file), and the
    fingerprint each file had when it was planned."""
    paths: dict[int, list[str]] = {}
    stored: dict[str, str] = {}
    for row in ledger.read_table(out, PLAN_FILES).to_pylist():
        paths.setdefault(row["unit"], []).append(row["path"])
        stored[row["path"]] = row["fingerprint"]
    fields = {f.name for f in dataclasses.fields(Unit)} - {"paths"}
    units = [
        Unit(**{k: v for k, v in u.items() if k in fields}, paths=tuple(paths.get(u["index"], ())))
        for u in record["units"]
    ]
    return units, stored


def merge(
    previous: list[Unit],
    superseded: dict[int, int],
    stored: dict[str, str],
    fresh: list[Unit],
    files_per_unit: int,
    run: str,
    reprocess_changed: bool,
) -> Plan:
    """An incremental plan: the previous units stay (with their indexes); new files and tables
    become new units after them; changed units (a file whose fingerprint differs from the one
    ``stored`` when it was planned, a table whose fingerprint differs) are reported or planned
    again."""
    active = [u for u in previous if u.index not in superseded]
    known_files = {path: unit for unit in active if unit.kind == "files" for path in unit.paths}
    known_units = {unit.label: unit for unit in active if unit.kind != "files"}
    next_index = max((u.index for u in previous), default=-1) + 1
    plan = Plan(run, [])
    changed: dict[int, Unit] = {}
    new_files: dict[str, tuple[Unit, list[str]]] = {}  # per input: a fresh unit, the new files
    for unit in fresh:
        if unit.kind == "files":
            base = unit.label.rsplit("[", 1)[0]
            new_files.setdefault(base, (unit, []))[1].extend(
                p for p in unit.paths if p not in known_files
            )
            for path in unit.paths:
                owner = known_files.get(path)
                if owner is not None and path_fingerprint(path) != stored.get(path):
                    changed[owner.index] = owner
        elif unit.label not in known_units:
            plan.units.append(dataclasses.replace(unit, index=next_index))
            plan.added.append(next_index)
            next_index += 1
        elif known_units[unit.label].fingerprint != unit.fingerprint:
            owner = known_units[unit.label]
            changed[owner.index] = dataclasses.replace(unit, index=owner.index)
    for base, (model, paths) in new_files.items():
        for start in range(0, len(paths), files_per_unit):
            group = tuple(paths[start : start + files_per_unit])
            label = f"{base}+{run}[{start}:]"
            grown = dataclasses.replace(model, index=next_index, label=label, paths=group)
            plan.units.append(dataclasses.replace(grown, fingerprint=group_fingerprint(group)))
            plan.added.append(next_index)
            next_index += 1
    present = {path for unit in fresh for path in unit.paths}
    plan.vanished = sorted(path for path in known_files if path not in present)
    for index, unit in sorted(changed.items()):
        if not reprocess_changed:
            plan.changed.append(unit.label)
            continue
        if unit.kind == "files":
            unit = dataclasses.replace(unit, fingerprint=group_fingerprint(unit.paths))
        version = f"{unit.label.split('@')[0]}@{run}"
        plan.units.append(dataclasses.replace(unit, index=next_index, label=version))
        plan.reprocessed[index] = next_index
        next_index += 1
    return plan


def _write_plan(
    out: Store,
    identity: dict[str, Any],
    record: dict[str, Any] | None,
    plan: Plan,
    units: list[Unit],
    superseded: dict[int, int],
    stored: dict[str, str],
) -> None:
    """``build.json`` and the plan file, rewritten whole for this run. Files keep the fingerprint
    they had when their unit was planned (``stored``), so a change not rebuilt stays visible."""
    for folder in ledger.FOLDERS:
        out.makedirs(folder)
    runs = list(record.get("runs", [])) if record else []
    runs.append(
        {
            "run": plan.run,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "added": plan.added,
            "changed": plan.changed,
            "reprocessed": {str(k): v for k, v in plan.reprocessed.items()},
            "vanished": plan.vanished,
        }
    )
    active = [u for u in units if u.index not in superseded]
    listed = []
    for unit in units:
        entry = {k: v for k, v in dataclasses.asdict(unit).items() if k != "paths"}
        if unit.index in superseded:
            entry["superseded_by"] = superseded[unit.index]
        listed.append(entry)
    document = {
        **identity,
        "plan": plan_fingerprint(active),
        "units": listed,
        "runs": runs,
        "vlpipe": __version__,
    }
    new = set(plan.added) | set(plan.reprocessed.values())
    rows = [
        {
            "unit": unit.index,
            "path": path,
            "fingerprint": path_fingerprint(path) if unit.index in new else stored[path],
        }
        for unit in units
        for path in unit.paths
    ]
    buffer = io.BytesIO()
    pq.write_table(ledger.rows_table(rows, PLAN_SCHEMA), buffer, compression="zstd")
    out.write(PLAN_FILES, buffer.getvalue())
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    out.write(ledger.BUILD_FILE, orjson.dumps(document, option=options))
