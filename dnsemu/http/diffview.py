"""``GET /v1/diff``: the answers that differ between two estates, for the ``/ui`` page's Changes panel.

Two comparisons, picked by ``against``:

``files`` (the default)
    the topology as its files give it (before) against the one served now, with the
    run-time changes made through the API on top (after): what those changes did.
``compare``
    the estate served now (before) against the one the operator named with
    ``dnsemu serve --http --compare OTHER_TOPOLOGY`` (after). That file is read once, at
    start, by the same confined and bounded loader as the topology; the route never takes
    a path, a file name or any estate from the request.

The comparison is :func:`dnsemu.analysis.diff.diff` itself (every name either estate
knows, from every network of either and from the internet). It runs in a thread of its
own, one comparison at a time, so the event loop keeps answering DNS; a result is kept per
(``against``, topology generation) — the generation moves with every change, reload and
reset, so a cached result never outlives the estate it describes. A request waits for
the result at most :data:`WAIT_SECONDS`; past that it gets 202 with ``Retry-After`` and
the comparison goes on.

The reply groups the changes the way ``dnsemu diff`` prints them: one entry per question
and pair of answers, with every source that sees that change. Entries are paged
(``offset``, ``limit`` ≤ :data:`MAX_LIMIT`) and may be narrowed with ``match`` (a
case-insensitive substring of the name, type, a source or either answer); ``total`` counts
every matching entry, ``summary`` the whole comparison. Each entry lists at most
:data:`MAX_SOURCES` sources (``sources_total`` says how many there are) and each answer at
most :data:`MAX_RECORDS` records of each section.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsemu.dns.records import type_name
from dnsemu.http.listener import HttpError, Request, Response, json_response, query_params
from dnsemu.http.routes import Answer, Doc, Param, Route, json_answer
from dnsemu.text import excerpt

if TYPE_CHECKING:
    from dnsemu.analysis.diff import Change, DiffReport
    from dnsemu.core.index import Index
    from dnsemu.server.server import DnsServer
    from dnsemu.topology.loaded import LoadedTopology

__all__ = ["DEFAULT_LIMIT", "DIFF_ROUTES", "MAX_LIMIT", "DiffView"]

FORMAT = "dnsemu-diff-view/1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
MAX_MATCH = 200  # characters of the match parameter
MAX_SOURCES = 50  # sources listed per entry
MAX_RECORDS = 50  # records listed per section of an answer
CACHE = 4  # comparisons kept
WAIT_SECONDS = 20.0  # how long a request waits for a comparison before 202
RETRIES = 5  # comparisons a request starts again when the estate changed under it
AGAINST = ("files", "compare")


class _Stale(Exception):
    """The estate changed before the comparison started: it would describe the past."""


@dataclass(frozen=True)
class _State:
    """What is served, read at one instant on the event loop: the generation, the live estate, the files' one."""

    generation: int
    live: tuple[LoadedTopology, Index]
    base: LoadedTopology
    changes: int


@dataclass(frozen=True)
class _Result:
    """A finished comparison, ready to page: its entries with their search text."""

    against: str
    generation: int
    before: dict[str, Any]
    after: dict[str, Any]
    identical: bool
    entries: tuple[dict[str, Any], ...]
    texts: tuple[str, ...]
    summary: dict[str, Any]


class DiffView:
    """The ``/v1/diff`` route for one server; ``compare``: the ``--compare`` estate, loaded already."""

    def __init__(self, server: DnsServer, compare: LoadedTopology | None = None) -> None:
        self.server = server
        self.compare = compare
        self._results: collections.OrderedDict[tuple[str, int], asyncio.Task[_Result]] = collections.OrderedDict()
        self._running = threading.Lock()  # one comparison at a time: it is CPU work on a shared machine
        self._compiled: dict[str, tuple[Any, Index]] = {}  # "files" / "compare" -> (the LoadedTopology, its index)
        #: comparisons computed (for tests: a cached answer computes nothing)
        self.computed = 0

    # -- the route

    async def handle(self, request: Request, params: dict[str, str]) -> Response:
        args = query_params(request, {"against": False, "offset": False, "limit": False, "match": False})
        against = args.get("against", "files")
        if against not in AGAINST:
            raise HttpError(400, "bad_parameter", f"against must be files or compare (got {excerpt(against)}); this "
                                                  "route never takes a file: the operator names the other estate "
                                                  "with dnsemu serve --compare")
        if against == "compare" and self.compare is None:
            raise HttpError(404, "no_compare", "no estate to compare with: the server was not started with "
                                               "--compare OTHER_TOPOLOGY")
        offset = _integer(args, "offset", 0, 0, MAX_OFFSET)
        limit = _integer(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        match = args.get("match", "").strip().lower()
        if len(match) > MAX_MATCH:
            raise HttpError(400, "bad_parameter", f"match is at most {MAX_MATCH} characters")
        result = await self._result(against)
        if result is None:
            return json_response(202, {"status": "computing", "against": against,
                                       "generation": self.server.generation,
                                       "message": "the comparison is still running; ask again shortly"},
                                 headers=[("Retry-After", "2")])
        picked = [i for i, text in enumerate(result.texts) if match in text] if match else range(len(result.entries))
        page = [result.entries[i] for i in list(picked)[offset:offset + limit]]
        return json_response(200, {
            "format": FORMAT,
            "against": result.against,
            "generation": result.generation,
            "before": result.before,
            "after": result.after,
            "identical": result.identical,
            "compare_available": self.compare is not None,
            "match": match,
            "offset": offset,
            "limit": limit,
            "total": len(picked),
            "entries": page,
            "summary": result.summary,
        })

    # -- computing, cached

    async def _result(self, against: str) -> _Result | None:
        server = self.server
        for _ in range(RETRIES):
            await server.live.settled()  # no reload or change half-way: base, live and generation agree
            key = (against, server.generation)
            task = self._results.get(key)
            if task is None:
                changes = server.changes  # read now, before anything else runs on the loop
                assert changes is not None and server.loaded is not None
                state = _State(key[1], (server.loaded, server.index), changes.base, len(changes.changes))
                task = asyncio.ensure_future(_in_thread(self._run, against, state))
                task.add_done_callback(_retrieved)
                self._results[key] = task
                while len(self._results) > CACHE:
                    self._results.popitem(last=False)
            else:
                self._results.move_to_end(key)
            try:
                return await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS)
            except TimeoutError:
                return None
            except _Stale:
                self._results.pop(key, None)
                continue
            except Exception:
                self._results.pop(key, None)  # a bug: logged as a 500, and not kept as the answer
                raise
        raise HttpError(503, "estate_changing", "the estate kept changing while it was being compared; ask again")

    def _index(self, which: str, loaded: LoadedTopology, generation: int) -> Index:
        kept = self._compiled.get(which)
        if kept is not None and kept[0] is loaded:
            return kept[1]
        from dnsemu.core.compile import compile_topology  # the comparison's, imported by the first one

        index = compile_topology(loaded, self.server.live.options, generation=generation)
        self._compiled[which] = (loaded, index)
        return index

    def _run(self, against: str, state: _State) -> _Result:
        """In a worker thread: the comparison (everything it reads is immutable)."""
        generation, live, base, compare = state.generation, state.live, state.base, self.compare
        with self._running:
            if self.server.generation != generation:
                raise _Stale
            live_label = {"estate": "live", "label": f"served now (generation {generation})",
                          "changes": state.changes}
            if against == "files":
                before_label = {"estate": "files", "label": f"the topology files ({_file_name(base)})",
                                "changes": 0}
                if base is live[0]:  # no run-time change in effect: the very same estate
                    return _empty(against, generation, before_label, live_label)
                before = (base, self._index("files", base, generation))
                report = diff(before, live, before_label=before_label["label"], after_label=live_label["label"])
                after_label = live_label
            else:
                assert compare is not None
                after_label = {"estate": "compare", "label": f"--compare {_file_name(compare)}", "changes": 0}
                before_label = live_label
                report = diff(live, (compare, self._index("compare", compare, 1)),
                              before_label=live_label["label"], after_label=after_label["label"])
            self.computed += 1
            return _result(against, generation, before_label, after_label, report)


async def _in_thread(function: Any, *args: Any) -> Any:
    """``function(*args)`` in a daemon thread of its own.

    Not the loop's default executor, whose few threads the topology's own builds (a change,
    a reload) need: comparisons waiting for their turn would hold them. A daemon thread also
    never keeps a stopping server alive until a long comparison ends.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: Any, failed: bool) -> None:
        if future.done():
            return
        if failed:
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def run() -> None:
        try:
            outcome, failed = function(*args), False
        except BaseException as exc:  # handed to the awaiting request (a 500 for a bug)
            outcome, failed = exc, True
        with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped meanwhile
            loop.call_soon_threadsafe(settle, outcome, failed)

    threading.Thread(target=run, name="dnsemu-diff", daemon=True).start()
    return await future


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark the outcome of a comparison nobody waits for any more as seen (it is kept, or dropped, as it is)."""
    if not task.cancelled():
        task.exception()


# --------------------------------------------------------------------------- the reply


def _file_name(loaded: LoadedTopology) -> str:
    """The file's name only: the reply never shows where the server's files live."""
    return Path(loaded.provenance.file).name if loaded.provenance.file else "given as data"


def _integer(args: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or not low <= int(text) <= high:
        raise HttpError(400, "bad_parameter", f"{name} must be a whole number from {low} to {high} "
                                              f"(got {excerpt(text)})")
    return int(text)


def diff(*args: Any, **kwargs: Any) -> DiffReport:
    """:func:`dnsemu.analysis.diff.diff`, imported by the first comparison, not when the HTTP listener starts
    (issue 18)."""
    from dnsemu.analysis.diff import diff as compare

    return compare(*args, **kwargs)


def _empty(against: str, generation: int, before: dict[str, Any], after: dict[str, Any]) -> _Result:
    summary = {"changes": 0, "entries": 0, "sources_changed": 0, "sources": 0, "questions": 0, "names": 0}
    return _Result(against, generation, before, after, True, (), (), summary)


def _answer(change: Change, after: bool) -> dict[str, Any]:
    """What a client receives, as ``dnsemu diff --json`` writes it, less the view (each source has its own)."""
    from dnsemu.analysis.replies import resolution_json, short

    result = change.after if after else change.before
    data = resolution_json(result)
    del data["view"]
    for section in ("answer", "authority"):
        records = data[section]
        data[section + "_total"] = len(records)
        data[section] = records[:MAX_RECORDS]
    data["short"] = short(result)
    return data


def _order(qtype: int) -> tuple[int, int]:
    """A, AAAA, CNAME first (as ``dnsemu diff`` asks them), then the other types by number."""
    from dnsemu.analysis.diff import DEFAULT_TYPES

    return (DEFAULT_TYPES.index(qtype), 0) if qtype in DEFAULT_TYPES else (len(DEFAULT_TYPES), qtype)


def _source(change: Change) -> dict[str, Any]:
    s = change.source
    return {"source": s.label, "address": str(s.address), "network_before": s.network_before,
            "network_after": s.network_after, "view_before": change.before.view, "view_after": change.after.view}


def _result(against: str, generation: int, before: dict[str, Any], after: dict[str, Any],
            report: DiffReport) -> _Result:
    """The changes grouped as ``dnsemu diff`` prints them: one entry per question and pair of answers."""
    groups: dict[tuple[str, int, str, str], list[Change]] = {}
    position = {name: i for i, (name, _) in enumerate(report.questions)}
    for change in report.changes:
        b, a = _answer(change, after=False), _answer(change, after=True)
        key = (change.name, change.qtype, json.dumps(b, sort_keys=True), json.dumps(a, sort_keys=True))
        groups.setdefault(key, []).append(change)
    entries, texts = [], []
    for (name, qtype, _, _), changes in sorted(groups.items(), key=lambda g: (position[g[0][0]], _order(g[0][1]))):
        first = changes[0]
        entry = {
            "name": name,
            "type": type_name(qtype),
            "sources": [_source(c) for c in changes[:MAX_SOURCES]],
            "sources_total": len(changes),
            "before": _answer(first, after=False),
            "after": _answer(first, after=True),
            "parts_at": {"step": first.step, "before": first.text_before, "after": first.text_after}
            if first.step is not None else None,
        }
        entries.append(entry)
        words = [name, entry["type"], entry["before"]["short"], entry["after"]["short"]]
        words += [f"{c.source.label} {c.source.address} {c.source.network_before} {c.source.network_after}"
                  for c in changes]
        texts.append(" ".join(words).lower())
    summary = {
        "changes": len(report.changes),
        "entries": len(entries),
        "sources_changed": len({c.source.label for c in report.changes}),
        "sources": len(report.sources),
        "questions": report.question_count,
        "names": len(report.questions),
    }
    return _Result(against, generation, before, after, not report.changes, tuple(entries), tuple(texts), summary)


# --------------------------------------------------------------------------- OpenAPI


def _schema_answer() -> dict[str, Any]:
    record = {"type": "object", "required": ["name", "type", "ttl", "data"],
              "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "ttl": {"type": "integer"},
                             "data": {"type": "string"}}}
    return {"type": "object", "required": ["rcode", "outcome", "answer_kind", "answer", "authority", "short"],
            "properties": {"rcode": {"type": "string"}, "outcome": {"type": "string"},
                           "answer_kind": {"type": "string"},
                           "answer": {"type": "array", "maxItems": MAX_RECORDS, "items": record},
                           "answer_total": {"type": "integer"},
                           "authority": {"type": "array", "maxItems": MAX_RECORDS, "items": record},
                           "authority_total": {"type": "integer"},
                           "forward": {"type": ["object", "null"]},
                           "short": {"type": "string", "description": "One line, as `dnsemu diff` prints it."}}}


_ESTATE = {"type": "object", "required": ["estate", "label", "changes"],
           "properties": {"estate": {"enum": ["files", "live", "compare"]}, "label": {"type": "string"},
                          "changes": {"type": "integer", "description": "run-time changes in effect"}}}
#: the route, one entry (served and documented by :mod:`dnsemu.http.api`)
DIFF_ROUTES: list[Route] = [
    Route("GET", "/v1/diff", DiffView.handle, Doc(
        "The answers that differ between two estates (`dnsemu diff`), grouped and paged: by default the topology "
        "files against the estate served now (the run-time changes' effect); with against=compare, the served "
        "estate against the one named by `dnsemu serve --compare`.",
        json_answer("The changed answers.", {
                "type": "object",
                "required": ["format", "against", "generation", "before", "after", "identical", "compare_available",
                             "offset", "limit", "total", "entries", "summary"],
                "properties": {
                    "format": {"const": FORMAT},
                    "against": {"enum": list(AGAINST)},
                    "generation": {"type": "integer", "description": "the generation served when compared"},
                    "before": _ESTATE, "after": _ESTATE,
                    "identical": {"type": "boolean", "description": "no answer changes"},
                    "compare_available": {"type": "boolean",
                                          "description": "the server was started with --compare"},
                    "match": {"type": "string"},
                    "offset": {"type": "integer"}, "limit": {"type": "integer"},
                    "total": {"type": "integer", "description": "entries matching, over every page"},
                    "entries": {"type": "array", "maxItems": MAX_LIMIT, "items": {
                        "type": "object",
                        "required": ["name", "type", "sources", "sources_total", "before", "after", "parts_at"],
                        "properties": {
                            "name": {"type": "string"}, "type": {"type": "string"},
                            "sources": {"type": "array", "maxItems": MAX_SOURCES, "items": {
                                "type": "object", "required": ["source", "address", "network_before",
                                                               "network_after", "view_before", "view_after"],
                                "properties": {"source": {"type": "string"}, "address": {"type": "string"},
                                               "network_before": {"type": "string"},
                                               "network_after": {"type": "string"},
                                               "view_before": {"type": "string"},
                                               "view_after": {"type": "string"}}}},
                            "sources_total": {"type": "integer"},
                            "before": _schema_answer(), "after": _schema_answer(),
                            "parts_at": {"type": ["object", "null"], "description": "the first trace step that "
                                         "differs (for the first source), as `dnsemu diff` prints it",
                                         "properties": {"step": {"type": "integer"},
                                                        "before": {"type": ["string", "null"]},
                                                        "after": {"type": ["string", "null"]}}},
                        }}},
                    "summary": {"type": "object", "required": ["changes", "entries", "sources_changed", "sources",
                                                               "questions", "names"],
                                "properties": {k: {"type": "integer"} for k in
                                               ("changes", "entries", "sources_changed", "sources", "questions",
                                                "names")}},
                }}),
        params=(
            Param("against", "query", "files: the topology files (before) against the live estate (after). compare: "
                  "the live estate (before) against the --compare estate (after). Never a path.",
                  {"enum": list(AGAINST), "default": "files"}, required=False),
            Param("offset", "query", "Entries to skip.",
                  {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, required=False),
            Param("limit", "query", "Entries per page.",
                  {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, required=False),
            Param("match", "query", "Only entries whose name, type, a source or either answer contains this text "
                  "(case-insensitive).", {"type": "string", "maxLength": MAX_MATCH}, required=False),
        ),
        errors={
            202: Answer("Still comparing (a large estate): ask again after Retry-After seconds.",
                        {"application/json": {"type": "object"}},
                        {"Retry-After": {"description": "Seconds to wait.", "required": True,
                                         "schema": {"type": "integer"}}}),
            400: "An unknown, repeated or invalid parameter (a path is never taken).",
            404: "against=compare on a server started without --compare.",
            503: "The estate kept changing while it was compared; ask again.",
        },
    )),
]
