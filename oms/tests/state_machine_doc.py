"""The state machines of ``docs/state-machine.md``, read from its tables for the tests.

``package_spec()`` → ``PackageSpec(states={100: "Pending", …}, actions={"ship": ({500}, {550, 560, 700}), …},
who={"ship": "OA", …})``; ``transfer_spec()`` → ``TransferSpec(states={"waiting": "Waiting", …},
actions={…}, who={"cancel": "OAS", …}, side={"receive": "destination", …})``. Cells are read
as written: every state code (or slug) in "from" and "to", a range ``100–550`` is every state
code in it, "the state before N" is every state some action moves to N, an action that is
also "a data update" in some states may leave them unchanged, and "unchanged" in "to" means
the state stays what it was (every source is also a target).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-machine.md"


@dataclass(frozen=True)
class PackageSpec:
    states: dict[int, str]
    actions: dict[str, tuple[set[int], set[int]]]
    who: dict[str, str]


@dataclass(frozen=True)
class TransferSpec:
    states: dict[str, str]
    actions: dict[str, tuple[set[str], set[str]]]
    who: dict[str, str]
    side: dict[str, str]


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        raise ValueError(f"{DOC}: no section {heading!r}")
    return match.group(1)


def _tables(section: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of ``section`` as a list of ``{header: cell}`` rows."""
    tables, current, header = [], None, None
    for line in section.splitlines() + [""]:
        if not line.startswith("|"):
            if current is not None:
                tables.append(current)
            current, header = None, None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header, current = cells, []
        elif not all(set(cell) <= set(":-") for cell in cells):
            current.append(dict(zip(header, cells, strict=True)))
    return tables


def _action_name(cell: str) -> str:
    return cell.split()[0]


def _codes(cell: str, known: list[int]) -> set[int]:
    codes = set()
    for low, high in re.findall(r"(\d{3})\s*[–-]\s*(\d{3})", cell):
        codes |= {code for code in known if int(low) <= code <= int(high)}
    cell = re.sub(r"(\d{3})\s*[–-]\s*(\d{3})", "", cell)
    return codes | {int(code) for code in re.findall(r"\d{3}", cell)}


@cache
def package_spec() -> PackageSpec:
    text = DOC.read_text()
    (state_rows,) = _tables(_section(text, "Package states (17)"))
    states = {int(row["code"]): row["label"] for row in state_rows}
    known = sorted(states)
    (action_rows,) = _tables(_section(text, "Package actions"))
    actions, before, who, unchanged = {}, {}, {}, set()
    for row in action_rows:
        name = _action_name(row["action"])
        sources = _codes(row["from"], known)
        targets = set() if "the state before" in row["to"] else _codes(row["to"], known)
        if row["to"].startswith("unchanged"):
            targets = set(sources)
            unchanged.add(name)
        if "data update" in row["from"]:
            data_update = re.search(r"data update in ([^)]*)", row["from"]).group(1)
            targets |= _codes(data_update, known)
            targets -= {int(c) for c in re.findall(r"from (\d{3})", row["to"])}
            targets |= _codes(re.sub(r"from \d{3}", "", row["to"]), known)
        if "the state before" in row["to"]:
            before[name] = int(re.search(r"the state before (\d{3})", row["to"]).group(1))
        actions[name] = (sources, targets)
        who[name] = row["who"].replace(" ", "")
    for name, state in before.items():
        actions[name][1].update(s for other, (sources, targets) in actions.items()
                                if state in targets and other not in unchanged
                                for s in sources if s != state)
    return PackageSpec(states=states, actions=actions, who=who)


@cache
def transfer_spec() -> TransferSpec:
    state_table, action_table = _tables(_section(DOC.read_text(), "Transfer states (6) and actions"))
    states = {row["slug"]: row["label"] for row in state_table}
    slugs = lambda cell: {s.strip() for s in cell.split(",") if s.strip() in states}  # noqa: E731
    actions, before, who, side = {}, {}, {}, {}
    for row in action_table:
        name = row["action"]
        who[name] = row["who"].replace(" ", "")
        side[name] = row["side"]
        if "the state before" in row["to"]:
            before[name] = slugs(row["from"])
            actions[name] = (slugs(row["from"]), set())
        else:
            actions[name] = (slugs(row["from"]), slugs(row["to"]))
    for name, origin in before.items():
        actions[name][1].update(s for other, (sources, targets) in actions.items()
                                if targets & origin for s in sources if s not in origin)
    return TransferSpec(states=states, actions=actions, who=who, side=side)


@cache
def package_waits() -> dict[int, tuple[str, str]]:
    """The "What a package waits for" table: ``{560: ("The brand's invoice integration …",
    "The invoice of the package: …"), …}``, with each row's label checked against the states."""
    text = DOC.read_text()
    states = package_spec().states
    (rows,) = _tables(_section(text, "What a package waits for"))
    waits = {}
    for row in rows:
        code = int(row["code"])
        if states.get(code) != row["state"]:
            raise ValueError(f"{DOC}: waits-for row {code} names state {row['state']!r}")
        waits[code] = (row["waits for"], row["what"])
    return waits
