"""`mltui health`: one node's verdict against a baseline of its siblings, for cluster health hooks.

`model` holds the typed data (the baseline, the health report), `baseline` makes a baseline from
a fleet run, `verdict` compares a node's check with it, `run` runs the quick (or perf) check
under a deadline, `slurm` drains and resumes a node with `scontrol`, `prometheus` writes the
node_exporter textfile, and `state` keeps the last result for detached runs.
"""
