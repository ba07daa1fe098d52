"""Each task role grants exactly the AWS calls its service's code makes — no more, no less.

The calls come from the code itself: every module `python -m podpipe_<name>` imports (its
package and the podpipe core it pulls in) is scanned for boto3 client method calls, which a
small table maps to IAM actions. The role's actions come from the HCL policy documents. A
new boto3 call without its permission fails here, not in production at 3 a.m.; so does a
permission nobody uses any more.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.infra_support import REPO, SERVICES, TF_ROOT, Body, load_module

ROOT = load_module(TF_ROOT)
SERVICE_MODULE = load_module(TF_ROOT / "modules" / "service")
CORE = REPO / "src"

# boto3 method -> (IAM actions, receiver pattern or None). A pattern guards method names that
# non-AWS objects also have (the runtime's own publisher.publish, SecretStr.get_secret_value).
_S3_READ = ("s3:GetObject", "s3:ListBucket")  # ListBucket: a missing key is 404, not 403
CALLS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "head_object": (_S3_READ, None),
    "get_object": (_S3_READ, None),
    "download_file": (_S3_READ, None),
    "download_fileobj": (_S3_READ, None),
    "generate_presigned_url": (("s3:GetObject",), None),  # the link works with the signer's rights
    "put_object": (("s3:PutObject",), None),
    # Multipart above 8 MB: parts are PutObject, a failed upload is aborted.
    "upload_file": (("s3:PutObject", "s3:AbortMultipartUpload"), None),
    "upload_fileobj": (("s3:PutObject", "s3:AbortMultipartUpload"), None),
    "copy_object": (("s3:GetObject", "s3:PutObject"), None),
    # boto3's managed copy: CopyObject, or above 8 MB a multipart copy (UploadPartCopy is
    # GetObject on the source and PutObject on the target), aborted when it fails.
    "copy": (("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"), r"\bs3\b"),
    "delete_object": (("s3:DeleteObject",), None),
    "delete_objects": (("s3:DeleteObject",), None),  # one DeleteObject per key in the batch
    "list_objects_v2": (("s3:ListBucket",), None),
    "receive_message": (("sqs:ReceiveMessage",), None),
    "delete_message": (("sqs:DeleteMessage",), None),
    "delete_message_batch": (("sqs:DeleteMessage",), None),
    "change_message_visibility": (("sqs:ChangeMessageVisibility",), None),
    "change_message_visibility_batch": (("sqs:ChangeMessageVisibility",), None),
    "send_message": (("sqs:SendMessage",), r"sqs"),
    "send_message_batch": (("sqs:SendMessage",), r"sqs"),
    "get_queue_url": (("sqs:GetQueueUrl",), None),
    "get_queue_attributes": (("sqs:GetQueueAttributes",), None),
    "start_message_move_task": (("sqs:StartMessageMoveTask",), None),
    "put_events": (("events:PutEvents",), None),
    "publish": (("sns:Publish",), r"sns|topic"),
    "subscribe": (("sns:Subscribe",), r"sns"),
    "list_subscriptions_by_topic": (("sns:ListSubscriptionsByTopic",), None),
    "get_subscription_attributes": (("sns:GetSubscriptionAttributes",), None),
    # podpipe tags each job with its episode, and tagging on create needs TagResource.
    "start_transcription_job": (
        ("transcribe:StartTranscriptionJob", "transcribe:TagResource"),
        None,
    ),
    "get_transcription_job": (("transcribe:GetTranscriptionJob",), None),
    "delete_transcription_job": (("transcribe:DeleteTranscriptionJob",), None),
    "list_transcription_jobs": (("transcribe:ListTranscriptionJobs",), None),
    "converse": (("bedrock:InvokeModel",), None),
    "converse_stream": (("bedrock:InvokeModelWithResponseStream",), None),
    "invoke_model": (("bedrock:InvokeModel",), None),
    "invoke_model_with_response_stream": (("bedrock:InvokeModelWithResponseStream",), None),
    "get_prompt": (("bedrock:GetPrompt",), r"bedrock|agent"),
    "get_secret_value": (
        ("secretsmanager:GetSecretValue",),
        r"secrets?_?manager|secret_client|\bsm\b",
    ),
    "get_parameter": (("ssm:GetParameter",), r"ssm"),
    "put_metric_data": (("cloudwatch:PutMetricData",), r"cloudwatch|\bcw\b"),
    # A schedule's target has a role: creating one passes it.
    "create_schedule": (("scheduler:CreateSchedule", "iam:PassRole"), None),
    "delete_schedule": (("scheduler:DeleteSchedule",), None),
}

# Keys of the bucket and the SNS topics are the podpipe CMK: using them needs KMS too.
IMPLIED = {
    "s3:GetObject": ("kms:Decrypt",),
    "s3:PutObject": ("kms:GenerateDataKey", "kms:Decrypt"),  # multipart needs Decrypt too
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
}


# ---------------------------------------------------------------------------- the code side


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] == "podpipe":
        base = CORE
    elif parts[0].startswith("podpipe_"):
        base = REPO / "services" / parts[0].removeprefix("podpipe_") / "src"
    else:
        return None
    path = base.joinpath(*parts)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.Module, module_name: str, is_package: bool) -> Iterator[str]:
    package = module_name if is_package else module_name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from pkg import sub` may import the submodule pkg.sub.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def service_files(service: str, entry: str | None = None) -> list[Path]:
    """Every podpipe file `python -m podpipe_<service>` (or ``entry``) loads, by static
    import closure."""
    entry = entry or f"podpipe_{service}.__main__"
    seen: dict[str, Path] = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        parents = name.split(".")
        pending.extend(".".join(parents[:i]) for i in range(1, len(parents)))
        tree = ast.parse(path.read_text(), filename=str(path))
        pending.extend(_imported(tree, name, path.name == "__init__.py"))
    return sorted(set(seen.values()))


def calls_in(path: Path) -> Iterator[tuple[str, str, int]]:
    """(method, receiver source, line) of every attribute call that may be a boto3 call."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        receiver = ast.unparse(node.func.value)
        if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            method = str(node.args[0].value)
        if method in CALLS:
            yield method, receiver, node.lineno


def _is_aws_call(method: str, receiver: str) -> bool:
    pattern = CALLS[method][1]
    return pattern is None or re.search(pattern, receiver, re.IGNORECASE) is not None


def actions_called(service: str, entry: str | None = None) -> dict[str, list[str]]:
    """IAM action -> where in the code it comes from."""
    found: dict[str, list[str]] = {}
    for path in service_files(service, entry):
        for method, receiver, line in calls_in(path):
            if not _is_aws_call(method, receiver):
                continue
            actions = CALLS[method][0]
            where = f"{path.relative_to(REPO)}:{line} {receiver}.{method}()"
            for action in actions:
                found.setdefault(action, []).append(where)
                for implied in IMPLIED.get(action, ()):
                    found.setdefault(implied, []).append(f"{where} (encrypted with the CMK)")
    return found


# ---------------------------------------------------------------------------- the HCL side


def _statements(document: Body) -> Iterator[Body]:
    yield from document.blocks("statement")
    for dynamic in document.dynamic("statement"):
        yield from dynamic.blocks("content")


def policy_statements(document_name: str) -> list[Body]:
    """Statements of a policy document, following its source_policy_documents."""
    document = ROOT.data[("aws_iam_policy_document", document_name)]
    statements = list(_statements(document))
    for source in document.attr("source_policy_documents", []):
        match = re.search(r"data\.aws_iam_policy_document\.(\w+)", source)
        assert match, source
        statements.extend(policy_statements(match.group(1)))
    return statements


def role_actions(service: str) -> set[str]:
    return {a for s in policy_statements(f"{service}_task") for a in s.attr("actions")}


def _written(service: str) -> bool:
    return (REPO / "services" / service / "src" / f"podpipe_{service}" / "__main__.py").is_file()


# ---------------------------------------------------------------------------- tests


def test_the_scanner_sees_the_runtime_calls() -> None:
    """Guard the scanner itself: the core runtime's own calls are found through the closure."""
    service = SERVICES[0]
    assert _written(service), f"services/{service} has no __main__.py"
    called = actions_called(service)
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "events:PutEvents"):
        assert action in called, f"{action} not found in the code {service} imports"


def test_lookalike_calls_are_not_taken_for_aws_calls(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "publisher.publish(events)\nurl.get_secret_value()\nsns.publish(TopicArn=t)\n"
        "s3.get_paginator('list_objects_v2')\n"
    )
    found = [(m, r) for m, r, _ in calls_in(source)]
    kept = [m for m, r in found if _is_aws_call(m, r)]
    assert sorted(kept) == ["list_objects_v2", "publish"]


@pytest.mark.parametrize("service", SERVICES)
def test_task_role_grants_exactly_the_calls_the_code_makes(service: str) -> None:
    assert _written(service), f"services/{service} has no __main__.py"
    called = actions_called(service)
    granted = role_actions(service)
    missing = {a: called[a][:3] for a in sorted(set(called) - granted)}
    unused = sorted(granted - set(called))
    assert not missing, (
        f"{service}: the code calls these, the role lacks them: {json.dumps(missing, indent=1)}"
    )
    assert not unused, f"{service}: the role grants these, no code calls them: {unused}"


def test_the_prep_task_role_grants_exactly_the_calls_of_python_m_podpipe_llm_prep() -> None:
    """The weekly ECS task (infra/terraform/prep.tf). It consumes no queue: the SQS calls of
    the runtime's worker loop, which importing podpipe.runtime pulls in, are never made."""
    called = {
        action: where
        for action, where in actions_called("llm", "podpipe_llm.prep.__main__").items()
        if not action.startswith("sqs:")
    }
    granted = {a for s in policy_statements("prep_task") for a in s.attr("actions")}
    assert "events:PutEvents" in called
    assert "s3:PutObject" in called
    missing = {a: called[a][:3] for a in sorted(set(called) - granted)}
    assert not missing, f"prep: the code calls these, the role lacks them: {missing}"
    assert not sorted(granted - set(called)), "prep: the role grants calls no code makes"


def test_no_policy_grants_a_wildcard_action() -> None:
    exempt = {"kms"}  # the key policy's account-root statement ("kms:*" delegates to IAM)
    for (kind, name), document in ROOT.data.items():
        if kind != "aws_iam_policy_document" or name in exempt:
            continue
        for statement in _statements(document):
            if statement.attr("effect", "Allow") == "Deny":
                continue  # e.g. the bucket's "deny s3:* without TLS"
            for action in statement.attr("actions"):
                assert "*" not in action, f"{name}: wildcard action {action}"
    for document in SERVICE_MODULE.data.values():
        for statement in _statements(document):
            for action in statement.attr("actions", []):
                assert "*" not in action, f"service module: wildcard action {action}"


def test_bedrock_is_limited_to_the_configured_models() -> None:
    (bedrock,) = [
        s for s in policy_statements("llm_task") if "bedrock:InvokeModel" in s.attr("actions")
    ]
    assert bedrock.attr("resources") == "${local.bedrock_model_arns}"
    models = ROOT.locals["llm_models"]
    for source in ("var.default_model", "keys(var.model_rate_limits)", "var.additional_models"):
        assert source in models
    arns = ROOT.locals["bedrock_model_arns"]
    assert "for model in local.llm_models" in arns
    assert "foundation-model/${model}" in arns
    assert "foundation-model/*" not in arns
    only_for_bedrock = ROOT.data[("aws_iam_policy_document", "llm_task")].dynamic("statement")
    assert any('var.llm_provider == "bedrock"' in d.text("for_each") for d in only_for_bedrock)


def test_transcribe_permissions_exist_only_with_the_aws_backend() -> None:
    for service in SERVICES:
        document = ROOT.data[("aws_iam_policy_document", f"{service}_task")]
        for statement in document.blocks("statement"):
            assert not any(a.startswith("transcribe:") for a in statement.attr("actions"))
    (dynamic,) = [
        d
        for d in ROOT.data[("aws_iam_policy_document", "transcribe_task")].dynamic("statement")
        if any("transcribe:" in a for c in d.blocks("content") for a in c.attr("actions"))
    ]
    assert 'var.transcription_backend == "aws"' in dynamic.text("for_each")


def test_every_resource_is_scoped() -> None:
    """Only ecr:GetAuthorizationToken (no resource-level permissions) may use "*"."""
    for (kind, name), document in [*ROOT.data.items(), *SERVICE_MODULE.data.items()]:
        if kind != "aws_iam_policy_document" or name == "kms":
            continue
        for statement in _statements(document):
            if statement.attr("effect", "Allow") == "Allow" and "*" in statement.attr(
                "resources", []
            ):
                assert statement.attr("actions") == ["ecr:GetAuthorizationToken"], name


def test_transcribe_may_requeue_its_poll_self_check() -> None:
    """store.py sends a delayed self-check to the transcribe queue (not only to its DLQ)."""
    sends = [
        s.attr("resources")
        for s in policy_statements("transcribe_task")
        if "sqs:SendMessage" in s.attr("actions")
    ]
    assert ['${module.queue["transcribe"].queue_arn}'] in sends
