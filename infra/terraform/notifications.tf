# Two topics: what the hosts read (the notify service publishes there) and what whoever runs
# podpipe must act on (every alarm). Both encrypted with the podpipe key.

# The topics come from topology.yaml too (local bootstrap creates the same names).
resource "aws_sns_topic" "topic" {
  for_each          = toset(local.topology.topics)
  name              = "${var.name_prefix}-${each.key}"
  kms_master_key_id = aws_kms_key.podpipe.arn
}

locals {
  notifications_topic_arn = aws_sns_topic.topic["notifications"].arn
  alerts_topic_arn        = aws_sns_topic.topic["alerts"].arn
  # One topic for every guest; each guest's subscription filters on the "guest" attribute.
  guests_topic_arn = aws_sns_topic.topic["guests"].arn
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = local.alerts_topic_arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

data "aws_iam_policy_document" "alerts_topic" {
  statement {
    sid       = "CloudWatchAlarmsOfThisAccount"
    actions   = ["sns:Publish"]
    resources = [local.alerts_topic_arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# E-mail subscriptions stay "pending confirmation" until the recipient clicks the link AWS sends.
resource "aws_sns_topic_subscription" "notifications_email" {
  count     = var.notification_email != "" ? 1 : 0
  topic_arn = local.notifications_topic_arn
  protocol  = "email"
  endpoint  = var.notification_email
}

resource "aws_sns_topic_subscription" "alerts_email" {
  count     = local.alert_email != "" ? 1 : 0
  topic_arn = local.alerts_topic_arn
  protocol  = "email"
  endpoint  = local.alert_email
}
