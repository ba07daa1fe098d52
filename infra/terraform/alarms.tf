# Per-queue alarms (DLQ not empty, oldest message too old) live in modules/queue, one pair per
# topology queue. This one watches the LLM quota: the LLM worker emits an EMF metric
# "Throttled" (namespace podpipe, dimension service=llm) each time the provider throttles it.
# A few are expected (the rate limiter backs off); a steady stream means the configured
# requests/tokens per minute are above the account's real Bedrock quota.
resource "aws_cloudwatch_metric_alarm" "llm_throttled" {
  alarm_name          = "${var.name_prefix}-llm-throttled"
  alarm_description   = "The LLM provider throttled podpipe more than ${var.llm_throttle_alarm_threshold} times in 15 min: lower model_rate_limits or raise the Bedrock quota."
  namespace           = "podpipe"
  metric_name         = "Throttled"
  dimensions          = { service = "llm" }
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.llm_throttle_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alerts_topic_arn]
  ok_actions          = [local.alerts_topic_arn]
}
