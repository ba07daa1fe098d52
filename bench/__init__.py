"""podpipe benchmarks: `make bench` runs them all; results land in bench/results/*.json."""

from pathlib import Path

from podpipe_local.demo import DEFAULT_SAMPLE, sample_metadata

REPO = Path(__file__).resolve().parents[1]
# The demo's recording, found from this checkout rather than the working directory.
SAMPLE = REPO / DEFAULT_SAMPLE
SAMPLE_METADATA = sample_metadata(SAMPLE)
