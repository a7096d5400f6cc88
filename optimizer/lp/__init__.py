"""The allocation LP (docs/model.md §5): parameters (:mod:`~optimizer.lp.data`), the block
container (:mod:`~optimizer.lp.model`), one ``add_*`` per constraint family
(:mod:`~optimizer.lp.formulation`), solver backends (:mod:`~optimizer.lp.backends`) and the
infeasibility diagnosis (:mod:`~optimizer.lp.diagnose`)."""
