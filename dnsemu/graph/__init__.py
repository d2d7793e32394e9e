"""Pictures of an estate: who asks whom for DNS, which zones each VNet sees, where a query went.

- :mod:`dnsemu.graph.model` builds the drawing's graph from a loaded topology and its
  compiled index (networks, DNS hops, rulesets, private zones, private endpoints);
  it can keep only what one network reaches, and collapse look-alike VNets, zones
  and endpoints into counted nodes;
- :mod:`dnsemu.graph.overlay` lays the path of one resolution (its trace) over it;
- :mod:`dnsemu.graph.layout` places the nodes (a layered layout in pure Python);
- :mod:`dnsemu.graph.mermaid`, :mod:`dnsemu.graph.dot` and :mod:`dnsemu.graph.svg`
  write it out;
- :mod:`dnsemu.graph.draw` draws what ``dnsemu graph``, ``dnsemu explain --format`` and the ``/ui`` page show.

Nothing here touches the network or the clock; every renderer escapes the names it
writes, since they come from user files.
"""
