"""What-if studies: a study file -> many scenario documents -> kernel + LP in workers -> rows.

:mod:`~optimizer.study.definition` (the study file and its scenarios),
:mod:`~optimizer.study.monte_carlo` (paths), :mod:`~optimizer.study.rows` (the row schema),
:mod:`~optimizer.study.worker` (one scenario), :mod:`~optimizer.study.executors` (where they
run), :mod:`~optimizer.study.runner` (the loop, resumable through a store) and
:mod:`~optimizer.study.regimes` (tipping points and risk). Files are written by
:mod:`optimizer.report`; :func:`optimizer.api.run_study` ties the two together.
"""
