"""The harness, outside the answer path: the question set, scoring, reports (`assistant eval`) and
benchmarks (`assistant bench`)."""
