"""Read organisation import files (YAML or CSV) into rows the org service validates."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from docflow.domain.errors import Invalid
from docflow.domain.org import Level
from docflow.services.org import OrgImport, TermRow, UnitRow, UserRow

UNIT_COLUMNS = ("code", "name", "abbreviation", "level", "parent_code")
USER_COLUMNS = ("username", "full_name", "unit_code", "role")
TERM_COLUMNS = ("unit_code", "code", "starts_on", "ends_on")


def read_org_files(paths: list[Path]) -> OrgImport:
    """One OrgImport from any number of files: YAML with ``levels``/``units``/``users``/``terms``
    lists, or CSV whose header says whether it holds units, users or committee terms."""
    levels: list[Level] = []
    units: list[UnitRow] = []
    users: list[UserRow] = []
    terms: list[TermRow] = []
    errors: list[str] = []
    for path in paths:
        if path.suffix.lower() in (".yaml", ".yml"):
            got = _read_yaml(path, errors)
        elif path.suffix.lower() == ".csv":
            got = _read_csv(path, errors)
        else:
            errors.append(f"{path.name}: unknown file type (use .yaml, .yml or .csv)")
            continue
        levels += got.levels
        units += got.units
        users += got.users
        terms += got.terms
    if errors:
        raise Invalid("the import files cannot be read; nothing was imported", errors=errors)
    return OrgImport(levels=levels, units=units, users=users, terms=terms)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _unit(where: str, row: dict[str, Any]) -> UnitRow:
    return UnitRow(where=where, code=_cell(row, "code"), name=_cell(row, "name"),
                   abbreviation=_cell(row, "abbreviation"), level=_cell(row, "level"),
                   parent_code=_cell(row, "parent_code"), valid_from=_cell(row, "valid_from"),
                   successor_code=_cell(row, "successor_code"), family=_cell(row, "family"))


def _term(where: str, row: dict[str, Any]) -> TermRow:
    return TermRow(where=where, unit_code=_cell(row, "unit_code"), code=_cell(row, "code"),
                   starts_on=_cell(row, "starts_on"), ends_on=_cell(row, "ends_on"))


def _user(where: str, row: dict[str, Any]) -> UserRow:
    return UserRow(where=where, username=_cell(row, "username"),
                   full_name=_cell(row, "full_name"), unit_code=_cell(row, "unit_code"),
                   role=_cell(row, "role"), email=_cell(row, "email"))


def _read_csv(path: Path, errors: list[str]) -> OrgImport:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            if set(UNIT_COLUMNS) <= set(header):
                return OrgImport(units=[_unit(f"{path.name} row {n}", row)
                                        for n, row in enumerate(reader, start=2)])
            if set(USER_COLUMNS) <= set(header):
                return OrgImport(users=[_user(f"{path.name} row {n}", row)
                                        for n, row in enumerate(reader, start=2)])
            if set(TERM_COLUMNS) <= set(header):
                return OrgImport(terms=[_term(f"{path.name} row {n}", row)
                                        for n, row in enumerate(reader, start=2)])
            errors.append(f"{path.name}: the header must have the unit columns "
                          f"({','.join(UNIT_COLUMNS)},valid_from,successor_code,family), the "
                          f"user columns ({','.join(USER_COLUMNS)}) or the committee term "
                          f"columns ({','.join(TERM_COLUMNS)})")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        errors.append(f"{path.name}: {exc}")
    return OrgImport()


def _read_yaml(path: Path, errors: list[str]) -> OrgImport:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        errors.append(f"{path.name}: {exc}")
        return OrgImport()
    if not isinstance(data, dict):
        errors.append(f"{path.name}: expected a mapping with levels, units and users")
        return OrgImport()
    levels: list[Level] = []
    for n, row in enumerate(data.get("levels") or [], start=1):
        try:
            levels.append(Level(code=str(row["code"]), name=str(row.get("name", row["code"])),
                                rank=int(row["rank"])))
        except (KeyError, TypeError, ValueError):
            errors.append(f"{path.name} levels[{n}]: needs code, name and a whole-number rank")
    units = [_unit(where, row) for where, row in _mappings(path, data, "units", errors)]
    users = [_user(where, row) for where, row in _mappings(path, data, "users", errors)]
    terms = [_term(where, row) for where, row in _mappings(path, data, "terms", errors)]
    return OrgImport(levels=levels, units=units, users=users, terms=terms)


def _mappings(path: Path, data: dict[str, Any], key: str, errors: list[str]
              ) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for n, row in enumerate(data.get(key) or [], start=1):
        if isinstance(row, dict):
            found.append((f"{path.name} {key}[{n}]", row))
        else:
            errors.append(f"{path.name} {key}[{n}]: expected a mapping")
    return found
