"""Batch analysis beyond one process: documents analysed on a Dask distributed cluster (a local one with
``--workers N``, or any cluster with ``--scheduler tcp://HOST:PORT``), results stored by one writer in the client.

- :mod:`items`: what is sent to the workers (a path or URL they read, bytes, a JSONL record) and the key that
  names each input across runs;
- :mod:`work`: what a worker runs (the knowledge base and models loaded once per worker process);
- :mod:`runner`: the client: cluster, a bounded window of tasks, failures, progress, the single writer
  (store/batches.py: whole inputs per transaction, idempotent), and resuming a killed run;
- :mod:`command`: `threadline analyze --workers/--scheduler`.
"""
