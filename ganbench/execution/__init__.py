"""How a run executes: the session (the driver: checks, lock, one writer), the plan of one cell, the
execution of a plan (in any process), and the executors that run plans (serial, local worker
processes, Ray, a plugin's). Called ``execution`` rather than ``run``: ``ganbench.run`` is the API
function.

* :mod:`ganbench.execution.session` — :class:`Runner`, the driver; :class:`Plan`, what a run will do;
* :mod:`ganbench.execution.plan` — :class:`CellPlan`, one cell as plain data;
* :mod:`ganbench.execution.cell` — :func:`execute`, one plan -> its row;
* :mod:`ganbench.execution.executors` — the :class:`Executor` protocol and the built-ins.
"""
