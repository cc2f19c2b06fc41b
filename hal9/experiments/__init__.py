"""The runnable recipes of hal9: config in → result out, shared by the ``hal9`` CLI and the HTTP service.

One module per recipe; each takes a validated pydantic config and returns a typed summary (a ``TypedDict``
of JSON-ready values, with every figure measured by the recipe). Recipes never parse arguments nor print:
progress bars (``progress=``), figures (``outputs=``, ``None``: none) and the MLflow run (``experiment=``,
``None``: no run) are options the caller sets.

* :mod:`~hal9.experiments.demo` — ``DemoConfig``, ``demo_config``, ``demo_inputs`` (the L1 input pattern),
  ``run_demo``: a designed 9-layer hierarchy driven through L1 and simulated;
* :mod:`~hal9.experiments.organize` — ``fit_organizer``, ``run_organize`` (self-organization of primordial
  neurons), ``ReferenceConfig`` / ``run_reference`` (HAL9's reference work);
* :mod:`~hal9.experiments.metrics_report` — ``MetricsReportConfig``, ``measure_integration``,
  ``run_metrics``: Φ-family measures of a VAR(1) system or a time series, or the report of a simulated
  hierarchy;
* :mod:`~hal9.experiments.tactical` — ``TacticalRunConfig``, ``build_units``, ``arrival_rate``,
  ``make_workload``, ``run_tactical_experiment``, ``run_and_log``: L4 coordination, schedulers compared;
* :mod:`~hal9.experiments.options` — the option lists (measures, MIB criteria, kernels) read from where
  they are declared, for the CLI's choices and the service's schemas.

Layering: this package sits on top of :mod:`hal9.core`, :mod:`hal9.selforg`, :mod:`hal9.metrics`,
:mod:`hal9.tactical`, :mod:`hal9.tracking` and :mod:`hal9.viz` (the last two imported only when a recipe
draws or logs), and below :mod:`hal9.cli` and :mod:`hal9.serve`, which both call it; it imports neither.
``import hal9`` does not import it. See ``docs/experiments.md``.
"""

__all__: list[str] = []
