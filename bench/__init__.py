"""podpipe benchmarks: `make bench` runs them all; results land in bench/results/*.json."""
