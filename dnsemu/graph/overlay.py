"""The path one query took, laid over the estate's graph.

:func:`path_overlay` reads a resolution's trace step by step and finds, for each step,
the nodes and edges of :mod:`dnsemu.graph.model` it went through: the source network,
its DNS server, each forwarder or rule, a firewall's DNS proxy, the inbound endpoint and
the Azure DNS it answers as, the zones asked along the alias chain (a DNS server's own zone
too), public DNS, the private endpoint a final record points at, and the DNS security
policy one of whose rules matched the answer (a policy that matched nothing moves the query
nowhere). The *deciding step* is the last step that shaped the outcome (trace notes do not
count, nor a policy that let the answer through): the record, the NXDOMAIN, the loop, the
hand-off to a forwarder, the policy's block. A blocked answer also names the policy that
blocked it (:attr:`Overlay.blocked`).

A step that names something the graph lacks (it should not happen) adds a node or an
edge of kind ``path``, so that the drawing never loses a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dnsemu.core.index import Index
from dnsemu.core.resolution import Outcome, Resolution
from dnsemu.dns.records import Question, type_name
from dnsemu.graph.model import Edge, Graph, Node, _fqdn, _Targets, source_node
from dnsemu.topology.loaded import LoadedTopology

#: Steps that only add a remark to the trace: never the deciding one.
REMARKS = frozenset({"note", "service-endpoint", "policy-note"})


@dataclass
class PathStep:
    number: int
    code: str
    text: str
    nodes: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)


@dataclass
class Overlay:
    question: str  # "mystorage.blob.core.windows.net. A"
    source: str  # the address asked from
    outcome: str  # "answer", "nxdomain" …
    rcode: str
    answer_kind: str
    answer: list[str]
    steps: list[PathStep]
    deciding: int  # the number of the deciding step (1-based), 0 when none
    #: node id -> numbers of the steps that went through it
    nodes: dict[str, list[int]] = field(default_factory=dict)
    #: edge id -> numbers of the steps that took it
    edges: dict[str, list[int]] = field(default_factory=dict)
    #: the DNS security policy node that blocked the answer, if one did
    blocked: str | None = None

    @property
    def deciding_step(self) -> PathStep | None:
        return self.steps[self.deciding - 1] if self.deciding else None

    @property
    def deciding_node(self) -> str | None:
        step = self.deciding_step
        return step.nodes[0] if step is not None and step.nodes else None

    @property
    def deciding_edge(self) -> str | None:
        step = self.deciding_step
        return step.edges[0] if step is not None and step.edges else None

    def as_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "from": self.source,
            "outcome": self.outcome,
            "rcode": self.rcode,
            "answer_kind": self.answer_kind,
            "deciding_step": self.deciding,
            "blocked": self.blocked,
            "steps": [
                {"step": s.number, "code": s.code, "text": s.text, "nodes": s.nodes, "edges": s.edges}
                for s in self.steps
            ],
        }


class _Walker:
    def __init__(self, graph: Graph, loaded: LoadedTopology) -> None:
        self.graph = graph
        self.t = loaded.topology
        self.targets = _Targets(self.t)
        self.current: str | None = None
        self.view: str | None = None  # azure:<vnet> or public, where names are being resolved
        self.step: PathStep | None = None
        self.steps: list[PathStep] = []
        self.blocked: str | None = None  # the policy node of a Block

    # -- moving ---------------------------------------------------------------------------------------

    def visit(self, node: str) -> None:
        assert self.step is not None
        if node not in self.graph.nodes:
            self.graph.add_node(Node(node, _kind_of(node), node.split(":", 1)[-1], (), node))
        if node not in self.step.nodes:
            self.step.nodes.append(node)
        self.current = node

    def move(self, target: str, kinds: tuple[str, ...] = ()) -> None:
        """Take the edge from the current node to ``target`` (of one of ``kinds``, when given)."""
        assert self.step is not None
        if self.current is None:
            self.visit(target)
            return
        if self.current == target:
            self.visit(target)
            return
        edge = self._edge(self.current, target, kinds)
        if target not in self.graph.nodes:
            self.visit(target)
        if edge is None:
            edge = self.graph.add_edge(self.current, target, "path", "", "a step of the path")
        self.step.edges.append(edge.id)
        self.visit(target)

    def follow(self, kinds: tuple[str, ...]) -> bool:
        """Take the (only) edge of one of ``kinds`` out of the current node, if there is one."""
        if self.current is None:
            return False
        for edge in self.graph.out_edges(self.current):
            if edge.kind in kinds:
                self.move(edge.target, kinds)
                return True
        return False

    def _edge(self, source: str, target: str, kinds: tuple[str, ...]) -> Edge | None:
        for kind in kinds or ():
            edge = self.graph.edges.get(f"{source}->{target}:{kind}")
            if edge is not None:
                return edge
        for edge in self.graph.out_edges(source):
            if edge.target == target:
                return edge
        return None

    def to_azure(self, vnet: str) -> None:
        """Be at Azure DNS of ``vnet``: through an inbound endpoint's edge when the query sits at one."""
        node = f"azure:{vnet}"
        if self.current != node:
            self.move(node, ("resolves-in", "dns", "default", "rule", "forward"))
        self.view = node

    def vnet_of_current(self) -> str | None:
        node = self.current or ""
        if node.startswith("custom:"):
            server = self.t.custom_dns_servers.get(node.split(":", 1)[1])
            return server.virtual_network if server is not None else None
        if node.startswith("firewall:"):
            fw = self.t.azure_firewalls.get(node.split(":", 1)[1])
            return (fw.virtual_network or fw.virtual_hub) if fw is not None else None
        return None

    def leave_hosted_zone(self) -> None:
        """A server that answered from its own zone resolves the rest of the chain itself: back to the server."""
        node = self.current or ""
        if node.startswith("hosted:"):
            for edge in self.graph.edges.values():
                if edge.target == node and edge.kind == "holds":
                    self.current = edge.source
                    return

    def step_nodes(self) -> list[str]:
        """Every node the path has visited so far, in order."""
        return [n for s in self.steps for n in s.nodes]

    # -- reading steps ------------------------------------------------------------------------------

    def read(self, code: str, data: dict[str, object]) -> None:
        if code == "source":
            return  # placed by the caller, which knows the network
        if code == "client-dns":
            self.follow(("dns",))
        elif code == "rule":
            ruleset, vnet = str(data.get("ruleset")), str(data.get("vnet", ""))
            if "target" not in data:  # "has no enabled rule": Azure DNS answers
                return
            if vnet:
                self.to_azure(vnet)
            self.move(f"ruleset:{ruleset}", ("ruleset",))
            rs = self.t.dns_forwarding_rulesets.get(ruleset)
            outbound = None
            if rs is not None:
                resolver = self.t.dns_private_resolvers.get(rs.dns_resolver_outbound_endpoints[0].split("/")[0])
                outbound = resolver.virtual_network if resolver is not None else None
            self.move(self.targets.node(str(data["target"]), outbound), ("rule",))
        elif code == "forwarder":
            self.leave_hosted_zone()
            if "target" in data:
                self.move(self.targets.node(str(data["target"]), self.vnet_of_current()), ("forward",))
            else:
                self.follow(("default",))
        elif code == "dns-proxy":
            if "target" in data:  # a proxy that is on: to its server, or to Azure DNS in its own network
                self.move(self.targets.node(str(data["target"]), self.vnet_of_current()), ("proxy",))
            else:
                self.visit(self.current or "")  # proxy off: the query ends at the firewall
        elif code == "hosted":
            self.leave_hosted_zone()
            zone = _fqdn(str(data.get("zone", ".")))
            for edge in self.graph.out_edges(self.current or ""):
                if edge.kind == "holds" and edge.target.endswith(":" + zone):
                    self.move(edge.target, ("holds",))
                    return
            self.visit(self.current or "")
        elif code == "policy":
            vnet, policy = str(data.get("vnet", "")), f"policy:{data.get('policy')}"
            self.current = f"azure:{vnet}" if f"azure:{vnet}" in self.graph.nodes else self.current
            self.move(policy, ("policy",))
        elif code.startswith("policy-"):
            node = next((n for n in reversed(self.step_nodes()) if n.startswith("policy:")), self.current)
            if node is not None:
                self.visit(node)
                if code == "policy-block":
                    self.blocked = node
        elif code == "view":
            if self.current is not None and self.current.startswith("inbound:"):
                self.follow(("resolves-in",))
            self.view = self.current
        elif code in ("private", "private-nodata", "private-nxdomain", "fallback"):
            if self.view is not None and self.current != self.view:
                self.current = self.view
            zone = _fqdn(str(data.get("zone", ".")))
            if data.get("kind") == "Azure-provided":
                self.visit(self.view or self.current or "public")  # internal names: Azure DNS itself answers
                return
            self.move(f"zone:{zone}", ("link",))
            values = data.get("values")
            if code == "private" and values:
                for record in values:  # type: ignore[attr-defined]
                    address = record.rdata[0] if record.rdata else None
                    for edge in self.graph.out_edges(self.current or ""):
                        node = self.graph.nodes.get(edge.target)
                        if edge.kind == "record" and node is not None and address in node.addresses:
                            self.move(edge.target, ("record",))
                            return
        elif code in ("public", "public-nodata", "public-nxdomain"):
            if self.view is not None and self.current != self.view:
                self.current = self.view
            if self.current != "public":
                self.move("public", ("otherwise", "dns", "default"))
        elif code == "loop" and self.current is not None and self.current.startswith("inbound:"):
            self.follow(("resolves-in",))
        elif self.current is not None:
            self.visit(self.current)  # forward, unreachable, chain, notes: where the query is


def _kind_of(node_id: str) -> str:
    prefix = node_id.split(":", 1)[0]
    return {
        "vnet": "vnet",
        "site": "site",
        "azure": "azure-dns",
        "inbound": "inbound",
        "custom": "custom-dns",
        "onprem-dns": "onprem-dns",
        "ruleset": "ruleset",
        "policy": "policy",
        "firewall": "firewall",
        "hub": "hub",
        "hosted": "hosted-zone",
        "zone": "zone",
        "pe": "endpoint",
        "external": "external",
        "unreachable": "unreachable",
    }.get(prefix, "public" if node_id == "public" else "internet")


#: steps that check an answer and let it through: no move, and never the deciding step. A ``policy`` step
#: moves to the policy only when one of its rules matched (and is never deciding itself: a Block's
#: ``policy-block`` step is)
PASS_THROUGH = frozenset({"policy-allow", "policy-alert", "policy-disabled"})


def path_overlay(
    graph: Graph, loaded: LoadedTopology, index: Index, question: Question, address: object, result: Resolution
) -> Overlay:
    """Which nodes and edges of ``graph`` each step of ``result.trace`` went through.

    ``graph`` gains a ``path`` node or edge for anything a step names that it lacks.
    """
    walker = _Walker(graph, loaded)
    steps: list[PathStep] = walker.steps
    for number, step in enumerate(result.trace, 1):
        walker.step = PathStep(number, step.code, step.text)
        steps.append(walker.step)
        data = dict(step.data)
        if step.code == "source":
            network = data.get("network")
            walker.visit(source_node(index, str(network) if network is not None else None))
            continue
        if step.code in PASS_THROUGH or (step.code == "policy" and "rule" not in data):
            continue  # a security policy that lets the answer through: the query moves nowhere
        walker.read(step.code, data)
        if not walker.step.nodes and walker.current is not None:
            walker.visit(walker.current)  # a step that stays where the query is (the view, public DNS)
    deciding = next((s.number for s in reversed(steps) if s.code not in REMARKS | PASS_THROUGH | {"policy"}), 0)
    overlay = Overlay(
        question=f"{question.name} {type_name(question.qtype)}",
        source=str(address),
        outcome=result.outcome.value,
        rcode="forwarded" if result.outcome is Outcome.FORWARD else result.rcode.name,
        answer_kind=result.source.value,
        answer=[r.text() for r in result.answer],
        steps=steps,
        deciding=deciding,
        blocked=walker.blocked,
    )
    _index_steps(overlay)
    return overlay


def _index_steps(overlay: Overlay) -> None:
    overlay.nodes.clear()
    overlay.edges.clear()
    for step in overlay.steps:
        for node in step.nodes:
            overlay.nodes.setdefault(node, []).append(step.number)
        for edge in step.edges:
            overlay.edges.setdefault(edge, []).append(step.number)


def project(overlay: Overlay, before: Graph, after: Graph) -> Overlay:
    """The overlay of ``before`` on ``after``, its collapsed form: each node as the counted node standing for it."""
    owner = {member: node.id for node in after.nodes.values() for member in node.members}

    def node(node_id: str) -> str:
        return owner.get(node_id, node_id)

    def edge(edge_id: str) -> str:
        e = before.edges.get(edge_id)
        return f"{node(e.source)}->{node(e.target)}:{e.kind}" if e is not None else edge_id

    steps = [
        PathStep(
            s.number,
            s.code,
            s.text,
            list(dict.fromkeys(node(n) for n in s.nodes)),
            list(dict.fromkeys(e for e in map(edge, s.edges) if e in after.edges)),
        )
        for s in overlay.steps
    ]
    blocked = node(overlay.blocked) if overlay.blocked is not None else None
    out = replace(overlay, steps=steps, nodes={}, edges={}, blocked=blocked)
    _index_steps(out)
    return out
