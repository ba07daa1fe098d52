# Task roles: exactly the AWS calls each service's code makes (tests/unit/test_infra_iam.py
# scans the code that `python -m podpipe_<name>` imports for boto3 calls and compares).
# No "*" action anywhere; every resource is this stack's bucket, queues, bus, topic or models.

locals {
  region_prefix = "arn:${local.partition}:%s:${var.region}:${local.account_id}"

  # Bedrock: exactly the configured models. A cross-region inference profile id
  # ("us.anthropic...") needs the profile and the foundation model in each Region it routes to.
  bedrock_geo_prefixes = ["us", "eu", "apac", "global", "us-gov"]
  bedrock_model_arns = flatten([
    for model in local.llm_models : (
      contains(local.bedrock_geo_prefixes, split(".", model)[0])
      ? [
        "arn:${local.partition}:bedrock:${var.region}:${local.account_id}:inference-profile/${model}",
        "arn:${local.partition}:bedrock:*::foundation-model/${join(".", slice(split(".", model), 1, length(split(".", model))))}",
      ]
      : ["arn:${local.partition}:bedrock:${var.region}::foundation-model/${model}"]
    )
  ])

  slack_secret_is_ssm = length(regexall(":ssm:", var.slack_webhook_secret_arn)) > 0
}

# The runtime every service runs: consume its own queues, dead-letter poison messages itself,
# publish the handlers' events on the podpipe bus.
data "aws_iam_policy_document" "runtime" {
  for_each = local.service_queues

  statement {
    sid       = "ConsumeOwnQueues"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [for queue in each.value : module.queue[queue].queue_arn]
  }

  statement {
    sid       = "DeadLetterPoisonMessages"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [for queue in each.value : module.queue[queue].dlq_arn]
  }

  statement {
    sid       = "PublishEvents"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.podpipe.arn]
  }
}

# Every service reads uploads and artifacts and writes artifacts under episodes/.
data "aws_iam_policy_document" "media" {
  for_each = local.service_queues

  # Without ListBucket a missing key answers 403 instead of 404, and the idempotency checks
  # ("does the output exist?") would fail instead of doing the work.
  statement {
    sid       = "ListMedia"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ReadMedia"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/uploads/*", "${local.bucket_arn}/episodes/*"]
  }

  statement {
    sid       = "WriteArtifacts"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/episodes/*"]
  }

  statement {
    sid       = "BucketEncryptionKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.podpipe.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "transcode_task" {
  source_policy_documents = [
    data.aws_iam_policy_document.runtime["transcode"].json,
    data.aws_iam_policy_document.media["transcode"].json,
  ]

  # upload_file switches to a multipart upload for large MP3s (and the managed copy that moves
  # an old version aside to a multipart copy) and aborts it on failure.
  statement {
    sid       = "AbortOwnMultipartUploads"
    actions   = ["s3:AbortMultipartUpload"]
    resources = ["${local.bucket_arn}/episodes/*"]
  }

  # A new recording under the same name moves the previous version's outputs aside
  # (copy to episodes/<id>/versions/<n>/, delete the original; podpipe.versions).
  statement {
    sid       = "MoveOldVersionsAside"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.bucket_arn}/episodes/*"]
  }

  # An upload whose name is no episode is kept on record under rejected/.
  statement {
    sid       = "RecordRejectedUploads"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/rejected/*"]
  }
}

data "aws_iam_policy_document" "clips_task" {
  source_policy_documents = [
    data.aws_iam_policy_document.runtime["clips"].json,
    data.aws_iam_policy_document.media["clips"].json,
  ]

  # upload_file switches to a multipart upload for a large clip video and aborts it on failure.
  statement {
    sid       = "AbortOwnMultipartUploads"
    actions   = ["s3:AbortMultipartUpload"]
    resources = ["${local.bucket_arn}/episodes/*/clips/*"]
  }

  # New picks replace the clips: the ones the new picks no longer have are deleted.
  statement {
    sid       = "RemoveStaleClips"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.bucket_arn}/episodes/*/clips/*"]
  }

  # The show files (a video episode's clip_crop_box) and the show's cover art, which
  # PODPIPE_CLIPS_COVER_ART_KEY names under shows/.
  statement {
    sid       = "ReadShowFiles"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/shows/*"]
  }
}

data "aws_iam_policy_document" "transcribe_task" {
  source_policy_documents = [
    data.aws_iam_policy_document.runtime["transcribe"].json,
    data.aws_iam_policy_document.media["transcribe"].json,
  ]

  # Only with the aws backend. Transcribe reads the upload and writes its JSON with the
  # caller's permissions (ReadMedia / WriteArtifacts above). Job names are
  # "<prefix>-<episode>--<etag>"; each job is tagged with its episode on creation.
  dynamic "statement" {
    for_each = var.transcription_backend == "aws" ? [1] : []
    content {
      sid       = "AmazonTranscribeJobs"
      actions   = ["transcribe:StartTranscriptionJob", "transcribe:GetTranscriptionJob", "transcribe:TagResource"]
      resources = ["${format(local.region_prefix, "transcribe")}:transcription-job/${var.name_prefix}-*"]
    }
  }

  # A new recording under the same name moves the previous version's outputs aside
  # (whichever of transcode and transcribe meets it first; podpipe.versions): a managed copy,
  # multipart for a large file (aborted if it fails), then the original is deleted.
  statement {
    sid       = "MoveOldVersionsAside"
    actions   = ["s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.bucket_arn}/episodes/*"]
  }

  # The poll fallback: a delayed self-check message on its own queue, in case a job's
  # state-change event never arrives (they are best effort).
  statement {
    sid       = "QueueJobSelfCheck"
    actions   = ["sqs:SendMessage"]
    resources = [module.queue["transcribe"].queue_arn]
  }
}

data "aws_iam_policy_document" "llm_task" {
  source_policy_documents = [
    data.aws_iam_policy_document.runtime["llm"].json,
    data.aws_iam_policy_document.media["llm"].json,
  ]

  # The team's catalog overrides (prompts/ in the bucket) win over the packaged prompts.
  statement {
    sid       = "ReadPromptOverrides"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/prompts/*"]
  }

  # `podpipe prep choose` writes the episode's running order; show-notes links its items.
  statement {
    sid       = "ReadPrepRunningOrders"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/prep/running-orders/*"]
  }

  # Converse = bedrock:InvokeModel, on exactly the configured models.
  dynamic "statement" {
    for_each = var.llm_provider == "bedrock" ? [1] : []
    content {
      sid       = "InvokeConfiguredModels"
      actions   = ["bedrock:InvokeModel"]
      resources = local.bedrock_model_arns
    }
  }
}

data "aws_iam_policy_document" "notify_task" {
  source_policy_documents = [
    data.aws_iam_policy_document.runtime["notify"].json,
    data.aws_iam_policy_document.media["notify"].json,
  ]

  statement {
    sid       = "PublishNotifications"
    actions   = ["sns:Publish"]
    resources = [local.notifications_topic_arn, local.guests_topic_arn]
  }

  # The brief reaches each guest through the guests topic: notify subscribes a new guest's
  # address (filtered to their own messages) and checks that they confirmed before sending.
  statement {
    sid       = "SubscribeGuests"
    actions   = ["sns:Subscribe", "sns:ListSubscriptionsByTopic"]
    resources = [local.guests_topic_arn]
  }

  statement {
    sid       = "ReadGuestSubscriptionFilters"
    actions   = ["sns:GetSubscriptionAttributes"]
    resources = ["${local.guests_topic_arn}:*"]
  }

  # A brief has no episode folder: its delivery markers live under prep/<date>/notifications/.
  statement {
    sid       = "BriefDeliveryMarkers"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arn}/prep/*/notifications/*"]
  }

  # Nor has an upload whose name is no episode: its "Upload failed" markers live beside its
  # record, under rejected/<hash>/notifications/.
  statement {
    sid       = "RejectedUploadDeliveryMarkers"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arn}/rejected/*/notifications/*"]
  }

  # "Brief Prepared" links the week's brief (prep/<date>/brief.md) with a presigned URL,
  # which is signed with this role's credentials.
  statement {
    sid       = "ReadPrepBriefs"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/prep/*/brief.md"]
  }

  statement {
    sid       = "NotificationTopicKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.podpipe.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.region}.amazonaws.com"]
    }
  }

  # The Slack webhook URL, read once at startup from wherever slack_webhook_secret_arn points.
  dynamic "statement" {
    for_each = var.slack_webhook_secret_arn != "" && !local.slack_secret_is_ssm ? [var.slack_webhook_secret_arn] : []
    content {
      sid       = "ReadSlackWebhookSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.slack_secret_is_ssm ? [var.slack_webhook_secret_arn] : []
    content {
      sid       = "ReadSlackWebhookParameter"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }
}
