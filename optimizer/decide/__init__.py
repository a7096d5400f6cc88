"""Two-stage decisions under uncertainty (``hashpivot decide``, docs/decide.md): the problem and
its paths (:mod:`~optimizer.decide.problem`), the one entry to the hourly LP
(:mod:`~optimizer.decide.second_stage`), the master and the L-shaped method
(:mod:`~optimizer.decide.master`, :mod:`~optimizer.decide.lshaped`), the extensive form
(:mod:`~optimizer.decide.extensive`) and what a decision is worth
(:mod:`~optimizer.decide.evaluate`)."""
