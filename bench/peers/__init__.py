"""The peers fbh's scheduling benchmarks run in the same run: APScheduler with its SQL job
store, procrastinate on PostgreSQL, and a minimal ``FOR UPDATE SKIP LOCKED`` poller. Each
runs as its own process (``python -m bench.peers.<name> …``) and writes its figures to a
JSON file. They do the same work per message as fbh (:mod:`bench.peers.work`)."""
