# Release day: the public feed and its files through CloudFront, and the scheduled releases.
#
# * CloudFront with Origin Access Control serves ONLY the bucket's public/ prefix (origin path
#   /public); the bucket stays private (public access block on, no public ACL or policy).
#   Public files are stored SSE-S3 by podpipe (podpipe.release.store), so CloudFront needs no
#   grant on the KMS key that protects everything else. A show's base_url is the distribution's
#   URL (output release_public_base_url): its feed is <base_url>/<show-id>/feed.xml.
# * `podpipe publish EP --at TIME` (with PODPIPE_RELEASE_SCHEDULER=eventbridge) creates a
#   one-time EventBridge Scheduler schedule, at(...) in UTC, in the releases group, that sends a
#   "Release Time Reached" event to the release queue and deletes itself after running. The
#   consumer (`python -m podpipe.release`, the ECS service module.release below) publishes
#   with a compare-and-swap, so it fires once.

locals {
  release_schedule_group = "${var.name_prefix}-releases"
  public_origin_id       = "media-public"
}

# --------------------------------------------------------------------------- public files

resource "aws_cloudfront_origin_access_control" "public" {
  count                             = var.public_cdn ? 1 : 0
  name                              = "${var.name_prefix}-public"
  description                       = "podpipe public/ prefix (feeds, MP3s, transcripts, chapters, artwork)"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

#trivy:ignore:AWS-0010 Access logs need a second bucket with ACLs enabled (see the checkov skip CKV_AWS_86).
#trivy:ignore:AWS-0011 No WAF in front of a public podcast feed (see the checkov skip CKV_AWS_68).
resource "aws_cloudfront_distribution" "public" {
  count = var.public_cdn ? 1 : 0
  #checkov:skip=CKV_AWS_68:A public podcast feed and its MP3s; a WAF web ACL costs more per month than the whole idle stack and protects no write path.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68); the origin is static S3 objects, nothing runs Log4j.
  #checkov:skip=CKV_AWS_86:Access logs need a second bucket with ACLs enabled; podcast hosts count downloads with their analytics prefix instead.
  #checkov:skip=CKV_AWS_310:One origin: a failover origin would need a second, replicated bucket.
  #checkov:skip=CKV_AWS_374:Podcasts are listened to everywhere; no geo restriction.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate; a custom domain (and TLSv1.2_2021) comes with an ACM certificate the team owns.
  #checkov:skip=CKV2_AWS_42:See CKV_AWS_174: a custom certificate needs the team's own domain.
  enabled         = true
  comment         = "${var.name_prefix}: public feeds and episode files"
  price_class     = "PriceClass_100"
  is_ipv6_enabled = true
  http_version    = "http2and3"
  # Apps fetch <show-id>/feed.xml; there is no public/index.html, so / answers 403 and lists nothing.
  default_root_object = "index.html"

  origin {
    origin_id                = local.public_origin_id
    domain_name              = aws_s3_bucket.media.bucket_regional_domain_name
    origin_path              = "/public"
    origin_access_control_id = aws_cloudfront_origin_access_control.public[0].id
  }

  default_cache_behavior {
    target_origin_id       = local.public_origin_id
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true
    # Managed CachingOptimized (the feed says max-age=300 itself).
    cache_policy_id            = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    response_headers_policy_id = aws_cloudfront_response_headers_policy.public[0].id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

# Security headers, and CORS for the web players that fetch chapters and transcripts.
resource "aws_cloudfront_response_headers_policy" "public" {
  count = var.public_cdn ? 1 : 0
  name  = "${var.name_prefix}-public"

  cors_config {
    access_control_allow_credentials = false
    origin_override                  = true
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD"]
    }
    access_control_allow_origins {
      items = ["*"]
    }
  }

  security_headers_config {
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
}

# Merged into the bucket policy (storage.tf): this distribution, and nothing else, may read
# public/*. Everything else in the bucket stays reachable only with IAM credentials.
data "aws_iam_policy_document" "public_via_cloudfront" {
  count = var.public_cdn ? 1 : 0
  statement {
    sid       = "CloudFrontReadsPublicPrefixOnly"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/public/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.public[0].arn]
    }
  }
}

# --------------------------------------------------------------------------- scheduled releases

# Where the one-time schedules deliver; with its DLQ and alarms like every topology queue.
module "release_queue" {
  source = "./modules/queue"

  name               = "${var.name_prefix}-release"
  dlq_name           = "${var.name_prefix}-release-dlq"
  visibility_timeout = 120
  retention          = 1209600
  max_receive_count  = 5
  dlq_retention      = 1209600

  # EventBridge Scheduler sends with the role below (identity-based, same account).
  allowed_source_arns = []

  alarm_topic_arn                  = local.alerts_topic_arn
  oldest_message_age_alarm_seconds = 900
}

resource "aws_scheduler_schedule_group" "releases" {
  name = local.release_schedule_group
}

data "aws_iam_policy_document" "scheduler_assume" {
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
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:scheduler:${var.region}:${local.account_id}:schedule/${local.release_schedule_group}/*"]
    }
  }
}

resource "aws_iam_role" "release_scheduler" {
  name               = "${var.name_prefix}-release-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "release_scheduler" {
  statement {
    sid       = "SendReleaseTimeReached"
    actions   = ["sqs:SendMessage"]
    resources = [module.release_queue.queue_arn]
  }
}

resource "aws_iam_role_policy" "release_scheduler" {
  name   = "send-to-release-queue"
  role   = aws_iam_role.release_scheduler.id
  policy = data.aws_iam_policy_document.release_scheduler.json
}

# What the people who release episodes (and the release consumer) may do beyond reading the
# bucket: attach to their role or group.
#trivy:ignore:AWS-0342 PassRole is limited to the one scheduler role, whose only right is sending to the release queue.
data "aws_iam_policy_document" "release_operator" {
  statement {
    sid       = "ReleasesAndPublicFiles"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.bucket_arn}/episodes/*", "${local.bucket_arn}/releases/*", "${local.bucket_arn}/release-schedule/*", "${local.bucket_arn}/public/*"]
  }
  statement {
    sid       = "ReadShows"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/shows/*", "${local.bucket_arn}/uploads/*"]
  }
  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.podpipe.arn]
  }
  statement {
    sid       = "OneTimeSchedules"
    actions   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"]
    resources = ["arn:${local.partition}:scheduler:${var.region}:${local.account_id}:schedule/${local.release_schedule_group}/*"]
  }
  statement {
    sid       = "PassSchedulerRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.release_scheduler.arn]
  }
  statement {
    sid       = "PublishEpisodePublished"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.podpipe.arn]
  }
}

resource "aws_iam_policy" "release_operator" {
  name        = "${var.name_prefix}-release-operator"
  description = "podpipe release / publish / unpublish / feed rebuild"
  policy      = data.aws_iam_policy_document.release_operator.json
}

output "release_public_base_url" {
  description = "base_url for shows/<show-id>.json: the feed is <this>/<show-id>/feed.xml."
  value       = var.public_cdn ? "https://${aws_cloudfront_distribution.public[0].domain_name}" : null
}

output "release_environment" {
  description = "What the CLI (and the release consumer) need to schedule releases on AWS."
  value       = local.release_environment
}

# --------------------------------------------------------------------------- the release consumer

# `python -m podpipe.release` with PODPIPE_RELEASE_SCHEDULER=eventbridge: consumes the release
# queue and fires each release. It is part of the kernel (src/podpipe/release), which every
# service image carries; it runs from the notify image (the smallest: no ffmpeg, no model) with
# the command overridden, so no sixth image and repository exist just for it.
locals {
  release_environment = {
    PODPIPE_RELEASE_SCHEDULER           = "eventbridge"
    PODPIPE_RELEASE_SCHEDULE_GROUP      = local.release_schedule_group
    PODPIPE_RELEASE_SCHEDULE_TARGET_ARN = module.release_queue.queue_arn
    PODPIPE_RELEASE_SCHEDULE_ROLE_ARN   = aws_iam_role.release_scheduler.arn
  }
  release_command = ["python", "-m", "podpipe.release"]
}

# The operator's rights (a retry of a publish may reschedule, so it keeps the scheduler
# rights), plus the runtime's: consume the release queue and dead-letter into its DLQ.
data "aws_iam_policy_document" "release_task" {
  source_policy_documents = [data.aws_iam_policy_document.release_operator.json]

  statement {
    sid       = "ConsumeReleaseQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [module.release_queue.queue_arn]
  }

  statement {
    sid       = "DeadLetterPoisonReleases"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [module.release_queue.dlq_arn]
  }
}

# One small task, on Spot like notify: an interruption only delays a release (the schedule's
# message waits in the queue), and the compare-and-swap makes a redelivery publish once.
module "release" {
  source = "./modules/service"

  name                  = "release"
  image                 = local.images.notify
  command               = local.release_command
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["notify"].arn : null
  cpu                   = 256
  memory                = 512
  ephemeral_storage_gib = 21
  environment           = merge(local.core_environment, local.release_environment)
  secrets               = {}
  task_policy_json      = data.aws_iam_policy_document.release_task.json
  use_spot              = var.use_fargate_spot
  desired_count         = 1
  autoscaling           = null

  name_prefix        = local.service_common.name_prefix
  region             = local.service_common.region
  cluster_name       = local.service_common.cluster_name
  subnet_ids         = local.service_common.subnet_ids
  security_group_ids = local.service_common.security_group_ids
  log_retention_days = local.service_common.log_retention_days
  kms_key_arn        = local.service_common.kms_key_arn
  cpu_architecture   = local.service_common.cpu_architecture
}
