# Bus, queues (+ DLQs and their alarms), rules and targets: all for_each over topology.yaml.

resource "aws_cloudwatch_event_bus" "podpipe" {
  name = local.bus_name
}

module "queue" {
  source   = "./modules/queue"
  for_each = local.topology.queues

  name               = "${var.name_prefix}-${each.key}"
  dlq_name           = "${var.name_prefix}-${each.key}-dlq"
  visibility_timeout = each.value.visibility_timeout
  retention          = each.value.retention
  max_receive_count  = each.value.max_receive_count
  dlq_retention      = each.value.dlq_retention

  # Only the topology's rules that target this queue may deliver to it.
  allowed_source_arns = [
    for rule_name, rule in local.topology.rules :
    aws_cloudwatch_event_rule.topology[rule_name].arn if rule.target == each.key
  ]

  alarm_topic_arn                  = local.alerts_topic_arn
  oldest_message_age_alarm_seconds = lookup(var.oldest_message_age_alarm_seconds, each.key, 3600)
}

# S3 and Transcribe only publish to the default bus, so the rules listed in
# default_bus_rules live there; podpipe's own events live on the custom bus.
resource "aws_cloudwatch_event_rule" "topology" {
  for_each = local.topology.rules

  name           = "${var.name_prefix}-${each.key}"
  description    = "podpipe topology rule ${each.key} -> ${each.value.target}"
  event_bus_name = contains(local.topology.default_bus_rules, each.key) ? "default" : aws_cloudwatch_event_bus.podpipe.name
  event_pattern  = replace(replace(jsonencode(each.value.pattern), "$${bucket}", local.bucket_name), "$${prefix}", var.name_prefix)
}

resource "aws_cloudwatch_event_target" "topology" {
  for_each = local.topology.rules

  rule           = aws_cloudwatch_event_rule.topology[each.key].name
  event_bus_name = aws_cloudwatch_event_rule.topology[each.key].event_bus_name
  target_id      = "${each.value.target}-queue"
  arn            = module.queue[each.value.target].queue_arn

  # EventBridge retries a failed delivery (e.g. a throttled SendMessage) for up to a day.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }
}
