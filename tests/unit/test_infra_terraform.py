"""infra/terraform read offline: it parses, and it builds what topology.yaml declares.

No Terraform binary here: these tests read the HCL and the topology declaration and check
the properties a `terraform apply` would otherwise reveal too late (a queue without a DLQ, a
rule aimed at a missing queue, a second LLM consumer, a setting no service reads).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from podpipe.settings import CoreSettings
from podpipe.topology import QueueSpec, dlq_name, load_topology, queue_name, rule_name, topic_name
from tests.unit.infra_support import (
    REPO,
    SERVICES,
    TF_ROOT,
    TOPOLOGY_FILE,
    all_tf_files,
    load_module,
    load_topology_yaml,
    parse_file,
    settings_env_names,
)

ROOT = load_module(TF_ROOT)
QUEUE_MODULE = load_module(TF_ROOT / "modules" / "queue")
SERVICE_MODULE = load_module(TF_ROOT / "modules" / "service")
SERVICE_TABLE = ROOT.locals["services"]  # what differs between the queue services


def _render(template: str, **values: str) -> str:
    """Fill a simple "${var.x}-${each.key}" name template the way Terraform would."""
    out = template
    for name, value in values.items():
        out = out.replace("${" + name + "}", value)
    assert "${" not in out, f"unrendered interpolation in {template!r}"
    return out


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("path", all_tf_files(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_every_tf_file_parses(path: Path) -> None:
    assert parse_file(path), f"{path} parsed to nothing"


def test_root_and_modules_are_all_there() -> None:
    assert {p.parent.name for p in all_tf_files()} >= {"terraform", "queue", "service"}
    assert ROOT.modules["queue"].attr("source") == "./modules/queue"
    # One module call serves every queue service, one entry each in its table.
    service = ROOT.modules["service"]
    assert service.attr("source") == "./modules/service"
    assert service.text("for_each") == "${local.services}"
    assert service.text("name") == "${each.key}"
    assert set(SERVICES) == set(SERVICE_TABLE)
    # State moved from the per-service calls: an apply replaces nothing.
    moved = {(m.text("from"), m.text("to")) for m in ROOT.moved}
    assert {(f"${{module.{s}}}", f'${{module.service["{s}"]}}') for s in SERVICES} <= moved


# ---------------------------------------------------------------------------- topology


def test_topology_is_read_from_the_one_declaration() -> None:
    expression = ROOT.locals["topology"]
    match = re.fullmatch(r'\$\{yamldecode\(file\("\$\{path\.module\}/(.+)"\)\)\}', expression)
    assert match, f"locals.topology must be yamldecode(file(...)), got {expression!r}"
    assert (TF_ROOT / match.group(1)).resolve() == TOPOLOGY_FILE.resolve()
    # And it is the file the local bootstrap reads.
    assert (
        load_topology().model_dump()
        == type(load_topology()).model_validate(load_topology_yaml()).model_dump()
    )


def test_names_match_the_local_bootstrap() -> None:
    queue = ROOT.modules["queue"]
    values = {"var.name_prefix": "show", "each.key": "llm"}
    assert _render(queue.text("name"), **values) == queue_name("show", "llm")
    assert _render(queue.text("dlq_name"), **values) == dlq_name("show", "llm")
    rule = ROOT.resource("aws_cloudwatch_event_rule", "topology")
    assert _render(rule.text("name"), **values) == rule_name("show", "llm")
    topic = ROOT.resource("aws_sns_topic", "topic")
    assert _render(topic.text("name"), **values) == topic_name("show", "llm")
    bus = _render(
        ROOT.locals["bus_name"], **{"var.name_prefix": "show", "local.topology.bus": "events"}
    )
    assert bus == CoreSettings(name_prefix="show").event_bus


def test_one_queue_module_per_topology_queue_with_every_setting_passed() -> None:
    queue = ROOT.modules["queue"]
    assert queue.attr("for_each") == "${local.topology.queues}"
    passed = {
        field
        for field in QueueSpec.model_fields
        if queue.has(field) and queue.text(field) == "${each.value." + field + "}"
    }
    # concurrency is the runtime's business (the worker reads it from the same file).
    assert passed == set(QueueSpec.model_fields) - {"concurrency"}
    assert set(QUEUE_MODULE.variables) >= passed


def test_every_queue_has_a_dead_letter_queue_with_redrive() -> None:
    queues = QUEUE_MODULE.resources_of("aws_sqs_queue")
    assert set(queues) == {"this", "dlq"}
    redrive = queues["this"].text("redrive_policy")
    assert "deadLetterTargetArn" in redrive
    assert "aws_sqs_queue.dlq.arn" in redrive
    assert "var.max_receive_count" in redrive
    assert queues["dlq"].text("message_retention_seconds") == "${var.dlq_retention}"
    assert queues["this"].text("message_retention_seconds") == "${var.retention}"
    assert queues["this"].text("visibility_timeout_seconds") == "${var.visibility_timeout}"
    for body in queues.values():
        assert body.attr("sqs_managed_sse_enabled") is True
    # The topology itself: every DLQ outlives its queue.
    for name, spec in load_topology_yaml()["queues"].items():
        assert spec["dlq_retention"] > spec["retention"], name


def test_every_queue_has_a_dlq_alarm_and_an_age_alarm_to_the_alerts_topic() -> None:
    alarms = QUEUE_MODULE.resources_of("aws_cloudwatch_metric_alarm")
    by_metric = {body.attr("metric_name"): body for body in alarms.values()}
    dlq_alarm = by_metric["ApproximateNumberOfMessagesVisible"]
    assert "aws_sqs_queue.dlq" in json.dumps(dlq_alarm.attr("dimensions"))
    assert dlq_alarm.attr("threshold") == 0
    age_alarm = by_metric["ApproximateAgeOfOldestMessage"]
    assert "aws_sqs_queue.this" in json.dumps(age_alarm.attr("dimensions"))
    for alarm in (dlq_alarm, age_alarm):
        assert alarm.attr("alarm_actions") == ["${var.alarm_topic_arn}"]
    assert ROOT.modules["queue"].text("alarm_topic_arn") == "${local.alerts_topic_arn}"
    # Expanded over the declaration: one DLQ and two alarms per queue, names all distinct.
    names = [
        _render(alarm.text("alarm_name"), **{"var.dlq_name": f"p-{q}-dlq", "var.name": f"p-{q}"})
        for q in load_topology_yaml()["queues"]
        for alarm in (dlq_alarm, age_alarm)
    ]
    assert len(names) == len(set(names)) == 2 * len(load_topology_yaml()["queues"])


def test_rules_and_targets_come_from_the_topology_and_target_existing_queues() -> None:
    rule = ROOT.resource("aws_cloudwatch_event_rule", "topology")
    target = ROOT.resource("aws_cloudwatch_event_target", "topology")
    assert rule.attr("for_each") == target.attr("for_each") == "${local.topology.rules}"
    assert "local.topology.default_bus_rules" in rule.text("event_bus_name")
    assert '"default"' in rule.text("event_bus_name")
    pattern = rule.text("event_pattern")
    assert "jsonencode(each.value.pattern)" in pattern
    # Every placeholder topology.yaml uses is filled in, as podpipe.topology.rule_pattern does.
    assert "$${bucket}" in pattern
    assert "$${prefix}" in pattern
    assert target.text("arn") == "${module.queue[each.value.target].queue_arn}"
    # No other rule or target is declared by hand.
    assert set(ROOT.resources_of("aws_cloudwatch_event_rule")) == {"topology"}
    assert set(ROOT.resources_of("aws_cloudwatch_event_target")) == {"topology"}

    topology = load_topology_yaml()
    for name, spec in topology["rules"].items():
        assert spec["target"] in topology["queues"], f"rule {name} targets a missing queue"
        rendered = (
            json.dumps(spec["pattern"]).replace("${bucket}", "my-bucket").replace("${prefix}", "pp")
        )
        assert "${" not in rendered
        sources = json.loads(rendered)["source"]
        on_default_bus = name in topology["default_bus_rules"]
        # S3 and Transcribe publish only to the default bus; podpipe's events only to its own.
        for source in sources:
            text = source if isinstance(source, str) else source.get("prefix", "")
            assert text.startswith("aws.") == on_default_bus, (name, source)


def test_queue_policy_lets_only_the_rules_targeting_the_queue_send() -> None:
    allowed = ROOT.modules["queue"].text("allowed_source_arns")
    assert "aws_cloudwatch_event_rule.topology" in allowed
    assert "rule.target == each.key" in allowed
    policy = QUEUE_MODULE.data[("aws_iam_policy_document", "queue")]
    (statement,) = policy.blocks("statement")
    assert statement.attr("actions") == ["sqs:SendMessage"]
    (principal,) = statement.blocks("principals")
    assert principal.attr("identifiers") == ["events.amazonaws.com"]
    (condition,) = statement.blocks("condition")
    assert condition.attr("variable") == "aws:SourceArn"
    assert "var.allowed_source_arns" in condition.text("values")


# ---------------------------------------------------------------------------- services


def test_every_queue_is_consumed_by_exactly_one_service() -> None:
    service_queues: dict[str, list[str]] = ROOT.locals["service_queues"]
    assert set(service_queues) == set(SERVICES)
    consumed = [q for queues in service_queues.values() for q in queues]
    assert sorted(consumed) == sorted(load_topology_yaml()["queues"])
    for service in service_queues:
        assert (REPO / "services" / service / "src" / f"podpipe_{service}").is_dir()


def test_llm_runs_exactly_one_task_and_never_autoscales() -> None:
    llm = SERVICE_TABLE["llm"]
    assert ROOT.modules["service"].attr("desired_count") == 1
    assert llm["max_tasks"] is None  # so its autoscaling is null
    assert "each.value.max_tasks == null ? null" in ROOT.modules["service"].text("autoscaling")
    assert llm["single_instance"] is True
    assert llm["use_spot"] is False
    assert ROOT.locals["service_queues"]["llm"] == ["llm-dispatch", "llm"]
    # The module honours it: the fixed service is used, no scaling target exists, and a
    # deployment stops the old task before it starts the new one.
    fixed = SERVICE_MODULE.resource("aws_ecs_service", "fixed")
    assert "var.autoscaling == null" in fixed.text("count")
    assert fixed.text("desired_count") == "${var.desired_count}"
    assert "var.single_instance ? 0" in fixed.text("deployment_minimum_healthy_percent")
    assert "var.single_instance ? 100" in fixed.text("deployment_maximum_percent")
    for kind in ("aws_appautoscaling_target", "aws_appautoscaling_policy"):
        for body in SERVICE_MODULE.resources_of(kind).values():
            assert body.text("count") == "${local.scaled ? 1 : 0}"
    assert SERVICE_MODULE.locals["scaled"] == "${var.autoscaling != null}"
    # Nothing else scales the llm service.
    for kind in ("aws_appautoscaling_target", "aws_appautoscaling_policy"):
        assert not ROOT.resources_of(kind)


@pytest.mark.parametrize("service", ["transcode", "clips", "transcribe"])
def test_media_services_scale_from_zero_on_their_queue_depth(service: str) -> None:
    assert SERVICE_TABLE[service]["max_tasks"] == f"${{var.{service}_max_tasks}}"
    scaling = ROOT.modules["service"].text("autoscaling")
    assert "queue_name': '${module.queue[each.key].queue_name}'" in scaling
    target = SERVICE_MODULE.resource("aws_appautoscaling_target", "this")
    assert target.attr("min_capacity") == 0
    assert target.text("max_capacity") == "${var.autoscaling.max_tasks}"
    scaled = SERVICE_MODULE.resource("aws_ecs_service", "scaled")
    assert scaled.attr("desired_count") == 0
    backlog = SERVICE_MODULE.resource("aws_cloudwatch_metric_alarm", "backlog")
    assert backlog.attr("metric_name") == "ApproximateNumberOfMessagesVisible"
    assert "scale_out" in backlog.text("alarm_actions")
    idle = SERVICE_MODULE.resource("aws_cloudwatch_metric_alarm", "idle")
    metrics = json.dumps([q.raw for q in idle.blocks("metric_query")])
    # Scale-in waits for the in-flight messages too, so no running job is stopped.
    assert "ApproximateNumberOfMessagesVisible" in metrics
    assert "ApproximateNumberOfMessagesNotVisible" in metrics
    assert "scale_in" in idle.text("alarm_actions")


def test_spot_only_where_interruption_is_harmless() -> None:
    assert ROOT.modules["service"].text("use_spot") == "${each.value.use_spot}"
    for service in ("transcode", "clips", "transcribe", "notify", "promote"):
        assert SERVICE_TABLE[service]["use_spot"] == "${var.use_fargate_spot}"
    assert SERVICE_TABLE["llm"]["use_spot"] is False


def test_tasks_have_no_public_ip_a_read_only_root_and_a_non_root_user() -> None:
    for name in ("fixed", "scaled"):
        service = SERVICE_MODULE.resource("aws_ecs_service", name)
        (network,) = service.blocks("network_configuration")
        assert network.attr("assign_public_ip") is False
    container = SERVICE_MODULE.resource("aws_ecs_task_definition", "this").text(
        "container_definitions"
    )

    def setting(key: str, value: str) -> bool:
        # Parser-neutral: `key = value` (HCL) or `'key': value` (a parser's Python repr).
        pattern = rf"""['"]?{key}['"]?\s*[:=]\s*['"]?{value}['"]?"""
        return re.search(pattern, container, re.IGNORECASE) is not None

    assert setting("readonlyRootFilesystem", "true")
    assert setting("privileged", "false")
    assert setting("containerPath", "/tmp")
    assert setting("readOnly", "false")
    assert setting("user", r"(\$\{)?local\.container_user\}?")
    assert setting("drop", re.escape("[") + r"\s*['\"]ALL['\"]\s*" + re.escape("]"))
    user = SERVICE_MODULE.locals["container_user"]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), "the container user must not be root"


def test_each_service_gets_its_own_task_role_policy() -> None:
    assert ROOT.modules["service"].text("task_policy_json") == "${each.value.task_policy_json}"
    for service in SERVICES:
        assert (
            SERVICE_TABLE[service]["task_policy_json"]
            == "${data.aws_iam_policy_document." + service + "_task.json}"
        )
    execution = SERVICE_MODULE.resource("aws_ecs_task_definition", "this")
    assert execution.text("task_role_arn") == "${aws_iam_role.task.arn}"
    assert execution.text("execution_role_arn") == "${aws_iam_role.execution.arn}"


# ---------------------------------------------------------------------------- data, alarms


def test_bucket_is_private_encrypted_versioned_with_upload_lifecycle_and_eventbridge() -> None:
    block = ROOT.resource("aws_s3_bucket_public_access_block", "media")
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block.attr(flag) is True, flag
    sse = ROOT.resource("aws_s3_bucket_server_side_encryption_configuration", "media")
    (rule,) = sse.blocks("rule")
    (default,) = rule.blocks("apply_server_side_encryption_by_default")
    assert default.attr("sse_algorithm") == "aws:kms"
    (versioning,) = ROOT.resource("aws_s3_bucket_versioning", "media").blocks(
        "versioning_configuration"
    )
    assert versioning.attr("status") == "Enabled"
    lifecycle = ROOT.resource("aws_s3_bucket_lifecycle_configuration", "media")
    prefixes = [
        f.attr("prefix", None) for r in lifecycle.blocks("rule") for f in r.blocks("filter")
    ]
    assert "uploads/" in prefixes
    assert ROOT.resource("aws_s3_bucket_notification", "media").attr("eventbridge") is True


def test_topics_come_from_the_topology_and_are_encrypted() -> None:
    topics = ROOT.resources_of("aws_sns_topic")
    assert set(topics) == {"topic"}, "topics are declared in topology.yaml, not by hand"
    assert topics["topic"].attr("for_each") == "${toset(local.topology.topics)}"
    assert topics["topic"].text("kms_master_key_id") == "${aws_kms_key.podpipe.arn}"
    declared = set(load_topology_yaml().get("topics", []))
    assert declared >= {"notifications", "alerts"}
    assert ROOT.locals["alerts_topic_arn"] == '${aws_sns_topic.topic["alerts"].arn}'
    assert ROOT.locals["notifications_topic_arn"] == '${aws_sns_topic.topic["notifications"].arn}'


def test_every_alarm_reaches_the_alerts_topic() -> None:
    throttled = ROOT.resource("aws_cloudwatch_metric_alarm", "llm_throttled")
    assert throttled.attr("namespace") == "podpipe"
    assert throttled.attr("metric_name") == "Throttled"
    assert throttled.attr("dimensions") == {"service": "llm"}
    for name, alarm in ROOT.resources_of("aws_cloudwatch_metric_alarm").items():
        assert alarm.attr("alarm_actions") == ["${local.alerts_topic_arn}"], name


def test_outputs_tell_how_to_upload_and_replay() -> None:
    for name in ("bucket_name", "upload_command", "queue_urls", "dlq_urls", "replay"):
        assert name in ROOT.outputs
    assert "podpipe upload" in ROOT.outputs["upload_command"].text("value")
    assert "podpipe dlq replay --queue llm" in json.dumps(ROOT.outputs["replay"].attr("value"))


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_the_terraform_sets_is_read_by_the_service(service: str) -> None:
    environment = (
        json.dumps(ROOT.locals["core_environment"])
        + json.dumps(ROOT.locals["service_environment"][service])
        + json.dumps(ROOT.locals["service_secrets"][service])
    )
    set_here = set(re.findall(r"\b(PODPIPE_[A-Z0-9_]+|AWS_REGION)\b", environment))
    assert set_here, "no environment found"
    unknown = set_here - settings_env_names(service)
    assert not unknown, f"{service}: Terraform sets {sorted(unknown)} but no setting reads it"


# ---------------------------------------------------------------------------- references
# What `terraform validate` would catch first, checked without Terraform: every variable,
# local, resource, data source, module argument and module output referenced exists.

MODULE_DIRS = [TF_ROOT, TF_ROOT / "modules" / "queue", TF_ROOT / "modules" / "service"]
META_ARGUMENTS = {"source", "for_each", "count", "depends_on", "providers", "version"}


def _code(directory: Path) -> str:
    text = "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=lambda p: p.name)
def test_every_reference_resolves(directory: Path) -> None:
    module = load_module(directory)
    code = _code(directory)
    missing = []
    missing += [f"var.{v}" for v in set(re.findall(r"\bvar\.(\w+)", code)) - set(module.variables)]
    missing += [f"local.{v}" for v in set(re.findall(r"\blocal\.(\w+)", code)) - set(module.locals)]
    data_refs = set(re.findall(r"\bdata\.(aws_\w+)\.(\w+)", code))
    missing += [f"data.{t}.{n}" for t, n in data_refs - set(module.data)]
    resource_refs = set(re.findall(r"(?<![\w.])(aws_\w+)\.(\w+)", code))
    missing += [f"{t}.{n}" for t, n in resource_refs - set(module.resources)]
    assert not missing, f"{directory.name}: undefined {sorted(missing)}"


def test_module_calls_match_module_interfaces() -> None:
    for call_name, call in ROOT.modules.items():
        target = load_module((TF_ROOT / call.attr("source")).resolve())
        passed = set(call.raw) - META_ARGUMENTS
        unknown = passed - set(target.variables)
        assert not unknown, f"module.{call_name} passes unknown arguments {sorted(unknown)}"
        required = {n for n, v in target.variables.items() if not v.has("default")}
        assert required <= passed, f"module.{call_name} misses {sorted(required - passed)}"
    code = _code(TF_ROOT)
    for name, output in set(re.findall(r"\bmodule\.([\w-]+)(?:\[[^\]]*\])?\.(\w+)", code)):
        target = load_module((TF_ROOT / ROOT.modules[name].attr("source")).resolve())
        assert output in target.outputs, f"module.{name}.{output} is not an output"
