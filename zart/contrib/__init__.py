"""Integrations with the monitoring a team already runs, each an optional extra:
:mod:`zart.contrib.prometheus` (``zart[prometheus]``) and :mod:`zart.contrib.opentelemetry`
(``zart[otel]``). Both are :class:`zart.observe.Observer` s: they cost no statement."""
