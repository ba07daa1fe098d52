# Promotion (services/promote): the promote queue is a topology queue (messaging.tf makes it,
# with its DLQ and alarms); this file adds the service that consumes it, the role EventBridge
# Scheduler assumes to deliver "Promotion Item Due" to it (one one-time schedule per plan item,
# in the release schedule group), and what the service may call.

variable "bluesky_secret_arn" {
  description = "Secrets Manager secret (or SSM parameter ARN) with JSON {handle, app_password} for Bluesky; empty: every item is a 'ready to post' reminder."
  type        = string
  default     = ""
}

locals {
  bluesky_secret_is_ssm = startswith(var.bluesky_secret_arn, "arn:${local.partition}:ssm:")
  promote_environment = merge(
    {
      PODPIPE_RELEASE_SCHEDULER           = "eventbridge"
      PODPIPE_RELEASE_SCHEDULE_GROUP      = local.release_schedule_group
      PODPIPE_RELEASE_SCHEDULE_ROLE_ARN   = aws_iam_role.promote_scheduler.arn
      PODPIPE_PROMOTE_SCHEDULE_TARGET_ARN = module.queue["promote"].queue_arn
    },
    var.bluesky_secret_arn != "" && !local.bluesky_secret_is_ssm ? { PODPIPE_BLUESKY_SECRET_ID = var.bluesky_secret_arn } : {},
    local.bluesky_secret_is_ssm ? { PODPIPE_BLUESKY_SSM_PARAMETER = var.bluesky_secret_arn } : {},
  )
}

data "aws_iam_policy_document" "promote_scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "promote_scheduler" {
  name               = "${var.name_prefix}-promote-scheduler"
  assume_role_policy = data.aws_iam_policy_document.promote_scheduler_assume.json
}

data "aws_iam_policy_document" "promote_scheduler" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [module.queue["promote"].queue_arn]
  }
  statement {
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.podpipe.arn]
  }
}

resource "aws_iam_role_policy" "promote_scheduler" {
  name   = "send-to-promote-queue"
  role   = aws_iam_role.promote_scheduler.id
  policy = data.aws_iam_policy_document.promote_scheduler.json
}

data "aws_iam_policy_document" "promote_task" {
  source_policy_documents = [
    data.aws_iam_policy_document.runtime["promote"].json,
    data.aws_iam_policy_document.media["promote"].json,
  ]

  statement {
    sid       = "ReadReleasesAndShows"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/shows/*", "${local.bucket_arn}/promotion/*"]
  }

  statement {
    sid       = "ScheduleItems"
    actions   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
    resources = ["arn:${local.partition}:scheduler:${var.region}:${local.account_id}:schedule/${local.release_schedule_group}/${var.name_prefix}-promote-*"]
  }

  statement {
    sid       = "PassSchedulerRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.promote_scheduler.arn]
  }

  # The local scheduler's index (release's LocalScheduleIndex, shared code): unused with
  # EventBridge Scheduler, granted on its prefix only.
  statement {
    sid       = "CancelLocalIndexEntries"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.bucket_arn}/promote-schedule/*"]
  }

  # Bluesky's handle + app password, read once at startup from wherever bluesky_secret_arn points.
  dynamic "statement" {
    for_each = var.bluesky_secret_arn != "" && !local.bluesky_secret_is_ssm ? [var.bluesky_secret_arn] : []
    content {
      sid       = "ReadBlueskySecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.bluesky_secret_is_ssm ? [var.bluesky_secret_arn] : []
    content {
      sid       = "ReadBlueskyParameter"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }
}
