"""Every output file: plans (:mod:`~optimizer.report.plan_files`), scores
(:mod:`~optimizer.report.score_files`), studies (:mod:`~optimizer.report.study_files`,
:mod:`~optimizer.report.result_store`), the editable example files
(:mod:`~optimizer.report.example_files`) and the charts (:mod:`~optimizer.report.charts`), all
written whole (:mod:`~optimizer.report.files`)."""
