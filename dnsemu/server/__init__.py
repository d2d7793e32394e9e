"""The DNS server: sockets and batched I/O, the sans-IO query handler, the topology's life cycle."""
