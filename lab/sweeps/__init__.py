"""The pieces of a sweep: its space (:mod:`.space`), its file (:mod:`.sweepfile`) and
where its runs execute (:mod:`.backends`, :mod:`.ray_backend`); the coordinator that
joins them is :func:`lab.sweep.run_sweep`."""
