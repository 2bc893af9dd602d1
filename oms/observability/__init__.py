"""Operations: health probes (``/healthz``, ``/readyz``), Prometheus metrics (``/metrics``),
the beat heartbeat and the run records of recurring jobs (``JobRun``)."""
