"""Every checkov skip in infra/terraform is inline, next to the resource, with its reason.

The checkov run itself (the current release, zero failed checks) is in
tests/infra/test_scanners.py, next to trivy and hadolint.
"""

from __future__ import annotations

import re

from tests.unit.infra_support import TF_ROOT, all_tf_files

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(:?)(.*)")


def test_every_checkov_skip_is_inline_with_a_reason() -> None:
    skips = []
    for path in all_tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP.search(line)
            if match:
                check, colon, reason = match.groups()
                where = f"{path.relative_to(TF_ROOT)}:{number}"
                assert re.fullmatch(r"CKV2?_AWS_\d+", check), where
                assert colon, f"{where}: skip without a reason"
                assert len(reason.strip()) >= 20, f"{where}: say why {check} does not apply"
                skips.append(check)
    assert skips, "the skips above were all read"
    # A growing list is a smell worth a look, not a failure: say how many there are.
    print(f"{len(skips)} checkov skips: {sorted(skips)}")
