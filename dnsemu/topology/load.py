"""Reading a topology file: YAML with line numbers, shape checks, cross-reference checks.

``load_topology(path)`` returns a :class:`LoadedTopology` (the validated model, the
records parsed from inline text and master files, and where every field came
from) or raises :class:`~dnsemu.topology.errors.TopologyError` listing every
problem with its file, line and field. Nothing half-loaded is ever returned.

Files are read through :func:`dnsemu.topology.files.read_text`: regular files only,
at most ``max_file_bytes`` octets each (64 MiB unless told otherwise), and the zone
files a topology names stay inside the topology file's folder tree. Messages quote
input only as short escaped excerpts.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dnsemu.text import clip, excerpt
from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES, FileProblem, read_text
from dnsemu.topology.loaded import LoadedTopology, Loc, Provenance, format_loc
from dnsemu.topology.model import Topology

if TYPE_CHECKING:
    import yaml

# PyYAML and the cross-reference checks are imported by the first load that needs them, not with this module:
# ``dnsemu serve`` restarting from the index cache reads no YAML before its first answer (issue 18)


def _compose(text: str, filename: str) -> yaml.Node | None:
    import yaml

    # libyaml's parser where PyYAML was built with it (about 10 times faster on a large estate; same nodes and marks)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise TopologyError(
            Problem(
                f"YAML syntax: {clip(exc.problem or exc.context, 120)}",
                file=filename,
                line=line,
                hint="check indentation and quoting near this line",
            )
        ) from None
    except yaml.YAMLError as exc:
        # str(exc) may carry a snippet of the text: show the reason only
        reason = str(exc).split("\n", 1)[0]
        raise TopologyError(Problem(f"YAML syntax: {clip(reason, 120)}", file=filename)) from None


def _to_python(node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[Problem], filename: str) -> Any:
    import yaml

    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, (*loc, "<key>"), {}, problems, filename)
            if isinstance(key, (dict, list)):
                problems.append(
                    Problem(
                        "a mapping key must be a plain value", filename, key_node.start_mark.line + 1, format_loc(loc)
                    )
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                problems.append(
                    Problem(
                        f"duplicate key {excerpt(key)}",
                        filename,
                        key_node.start_mark.line + 1,
                        format_loc(loc),
                        hint="each key may appear once; merge the two entries",
                    )
                )
                continue
            out[key] = _to_python(value_node, (*loc, key), lines, problems, filename)
            lines[(*loc, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*loc, i), lines, problems, filename) for i, item in enumerate(node.value)]
    # Scalars: the safe constructor decides the type (int, bool, null, str), as yaml.safe_load would.
    if node.tag == _STR_TAG:
        return node.value  # a plain string (most of them) is its own value
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


_STR_TAG = "tag:yaml.org,2002:str"


def _copy(value: Any) -> Any:
    """A deep copy of YAML/JSON data (dicts, lists, scalars), without deepcopy's bookkeeping."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    import copy

    return copy.deepcopy(value)


def _validation_problems(exc: ValidationError, provenance: Provenance) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        # pydantic appends the union member or the validator name; keep field names only
        clean: list[str | int] = []
        for part in loc:
            if isinstance(part, str) and (
                "[" in part
                or part.startswith("function-")
                or part
                in (
                    "str",
                    "RecordSet",
                    "list[str]",
                    "literal['internet']",
                    "literal['azure','internet']",
                    "IPv4Network",
                    "IPv6Network",
                    "IPv4Address",
                    "IPv6Address",
                )
            ):
                continue
            clean.append(part)
        message = err["msg"]
        kind = err["type"]
        hint = None
        if kind == "extra_forbidden":
            message = f"unknown key {excerpt(clean[-1])}" if clean else "unknown key"
            parent = tuple(clean[:-1])
            hint = _known_keys_hint(parent, str(clean[-1]) if clean else None)
        elif kind == "missing":
            message = f"required field {excerpt(clean[-1])} is missing" if clean else "required field missing"
        elif kind in _EXPECTED and "input" in err:
            # strict types: say what was written and what is wanted, in YAML/JSON words
            message = f"expected {_EXPECTED[kind][0]}, got {_written(err['input'])}"
            scalar = isinstance(err["input"], (str, int, float))
            hint = _EXPECTED[kind][1] if scalar else None
        elif kind in ("ip_v4_network", "ip_v6_network", "ip_v4_address", "ip_v6_address"):
            what = "network (CIDR)" if "network" in kind else "address"
            message = f"{excerpt(err['input'])} is not a valid IPv4 or IPv6 {what}"
            if "network" in kind:
                hint = _host_bits_hint(err["input"])
        elif kind == "ip_network" and "input" in err:  # our own parser's error (model.IPNetwork)
            message = f"{clip(message, 200)} (got {excerpt(err['input'])})"
            hint = _host_bits_hint(err["input"])
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            shown = excerpt(err["input"]) if isinstance(err["input"], str) else clip(repr(err["input"]))
            message = f"{clip(message, 200)} (got {shown})"
        else:
            message = clip(message, 200)
        problems.append(provenance.problem(tuple(clean), message, hint))
    # One field may fail each member of a union; report it once.
    unique: dict[tuple[str | None, int | None, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.path, p.line, p.message), p)
    return list(unique.values())


#: pydantic's strict type errors -> (what is wanted, how to write it)
_EXPECTED = {
    "int_type": ("a whole number", "write digits without quotes, such as 60"),
    "bool_type": ("true or false", "write true or false without quotes"),
    "string_type": ("text", "put the value in quotes"),
    "list_type": ("a list", "write [a, b] or one '- item' per line"),
}


def _written(value: Any) -> str:
    """How a value reads in the file (YAML/JSON spelling), in a short excerpt."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
        return f"the text {text}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}" if len(repr(value)) <= 40 else "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _host_bits_hint(value: Any) -> str | None:
    """``10.0.0.1/16`` is an address with a prefix length, not a network: name the network it lies in."""
    if not isinstance(value, str):
        return None
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    return (f"host bits are set: {excerpt(value.strip())} is an address inside the network {network}; "
            f"write {network}")


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """The known word closest to ``word`` (a typo, a dash for an underscore, another case), or None."""
    known = list(known)
    folded = {k.lower().replace("-", "_"): k for k in known}
    key = word.lower().replace("-", "_")
    if key in folded:
        return folded[key]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None


def _known_keys_hint(parent: Loc, key: str | None = None) -> str | None:
    from dnsemu.topology import model

    # Walk the model along the path to name the keys that are allowed there.
    cls: Any = model.Topology
    for part in parent:
        if isinstance(part, int):
            continue
        info = getattr(cls, "model_fields", {}).get(part)
        if info is None:
            # a dict keyed by user names: the value model is the same for every key
            continue
        cls = _value_model(info.annotation)
        if cls is None:
            return None
    fields = getattr(cls, "model_fields", None)
    if not fields:
        return None
    guess = did_you_mean(key, fields) if key is not None else None
    allowed = "allowed here: " + ", ".join(fields)
    return f"did you mean {guess!r}? {allowed}" if guess else allowed


def _value_model(annotation: Any) -> Any:
    import typing

    from pydantic import BaseModel

    stack = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        stack.extend(typing.get_args(current))
    return None


def load_topology_data(data: Any, provenance: Provenance | None = None) -> LoadedTopology:
    """Validate already-parsed data (a dict from YAML, JSON, or a test)."""
    provenance = provenance or Provenance()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TopologyError(
            provenance.problem(
                (), "the topology must be a mapping of sections", hint="start with keys such as virtual_networks:"
            )
        )
    try:
        topology = Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_validation_problems(exc, provenance)) from None
    import dataclasses

    from dnsemu.topology.validate import validate

    return dataclasses.replace(validate(topology, provenance), data=_copy(data))


def load_topology_text(
    text: str, filename: str = "<topology>", base_dir: str | os.PathLike[str] | None = None,
    *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, digests: dict[str, str] | None = None,
) -> LoadedTopology:
    """Load topology YAML ``text``; its ``zone_file`` entries live in ``base_dir``'s tree (None: refused)."""
    problems: list[Problem] = []
    lines: dict[Loc, int] = {}
    node = _compose(text, filename)
    data = _to_python(node, (), lines, problems, filename) if node is not None else {}
    provenance = Provenance(file=filename, lines=lines, base_dir=Path(base_dir) if base_dir else None,
                            max_file_bytes=max_file_bytes, digests={} if digests is None else digests)
    if problems:
        raise TopologyError(problems)
    loaded = load_topology_data(data, provenance)  # a typo in a section name is reported as such first
    if not any(data.get(section) for section in _CONTENT):
        # an empty file (or cloud/region alone) would serve the internet view of nothing: say so
        raise TopologyError(Problem(
            "the topology is empty: it describes no network, zone, endpoint or resource",
            file=filename, line=1 if data else None,
            hint="start with virtual_networks: and private_dns_zones:, or write a commented starter estate "
                 "with `dnsemu init`"))
    return loaded


#: the sections that describe something to resolve (an estate with none of them is empty)
_CONTENT = ("virtual_networks", "on_premises", "private_dns_zones", "private_endpoints", "virtual_machines",
            "dns_private_resolvers", "dns_forwarding_rulesets", "custom_dns_servers", "external_dns_servers",
            "resources", "public_dns")


def load_topology(path: str | os.PathLike[str], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadedTopology:
    """Load a topology file (YAML).

    Relative ``zone_file`` paths are relative to it, and they (with the files
    they include) must stay inside its folder's tree. The topology and every
    zone file are regular files of at most ``max_file_bytes`` octets.
    """
    path = Path(path)
    digests: dict[str, str] = {}
    try:
        text = read_text(path, max_bytes=max_file_bytes, digests=digests)
    except FileProblem as exc:
        message = exc.message if exc.line else f"cannot read the topology: {exc.message}"
        raise TopologyError(Problem(message, file=str(path), line=exc.line, hint=exc.hint)) from None
    return load_topology_text(text, filename=str(path), base_dir=path.parent, max_file_bytes=max_file_bytes,
                              digests=digests)


def default_topology() -> Path:
    """``zones/topology.yaml`` of the current directory when there is one, else the bundled example estate."""
    return default_topology_choice()[0]


def default_topology_choice() -> tuple[Path, str]:
    """(the topology to use when none is given, why: a few words for the first log line)."""
    from dnsemu.estates import example_topology

    local = Path("zones") / "topology.yaml"
    if (Path.cwd() / local).is_file():
        return local, "zones/topology.yaml of the working directory"
    return example_topology(), (f"the bundled example estate (no zones/topology.yaml in {Path.cwd()}; "
                                "dnsemu init writes a starter estate there)")
