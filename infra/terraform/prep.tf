# The week's brief on a schedule (services/llm/src/podpipe_llm/prep): an EventBridge Scheduler
# recurring schedule starts one ECS task (RunTask) of the prep task definition — the llm image
# with its command overridden to `python -m podpipe_llm.prep`, which does what `podpipe prep`
# does and exits. It is a task, not a service: nothing runs between two briefs.
#
# Prep does not go through the llm queue (SQS has no priority: a dozen item calls would hold
# episode prompts back); it has its own budget, PODPIPE_PREP_REQUESTS_PER_MINUTE, to size so
# that it plus default_requests_per_minute stays within the account's quota.

variable "prep_schedule" {
  description = "When the weekly brief is written: an EventBridge Scheduler cron() or rate() expression, in prep_schedule_timezone. Default Monday 06:00."
  type        = string
  default     = "cron(0 6 ? * MON *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.prep_schedule))
    error_message = "prep_schedule is a recurring expression: cron(...) or rate(...)."
  }
}

variable "prep_schedule_timezone" {
  description = "IANA time zone of prep_schedule (e.g. Europe/Berlin)."
  type        = string
  default     = "UTC"
}

variable "prep_schedule_enabled" {
  description = "false pauses the weekly brief (the schedule stays, disabled)."
  type        = bool
  default     = true
}

variable "prep_requests_per_minute" {
  description = "prep's own LLM request budget (PODPIPE_PREP_REQUESTS_PER_MINUTE); keep it plus default_requests_per_minute within the account's quota."
  type        = number
  default     = 0.5
}

locals {
  prep_command = ["python", "-m", "podpipe_llm.prep"]
  prep_environment = merge(
    local.service_environment.llm,
    { PODPIPE_PREP_REQUESTS_PER_MINUTE = tostring(var.prep_requests_per_minute) },
  )
  prep_schedule_name = "${var.name_prefix}-prep-weekly"
  prep_schedule_arn  = "arn:${local.partition}:scheduler:${var.region}:${local.account_id}:schedule/default/${local.prep_schedule_name}"
}

# What `python -m podpipe_llm.prep` calls (tests/unit/test_infra_iam.py compares this with the
# boto3 calls of the code it imports): the team's config, prompt overrides and earlier briefs
# under prep/, the new brief, the LLM, and "Brief Prepared" on the bus.
data "aws_iam_policy_document" "prep_task" {
  # brief_dates / read_prompt_overrides list prep/; and without ListBucket a missing key
  # (no earlier brief, no prompt override) answers 403 instead of 404.
  statement {
    sid       = "ListPrep"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ReadPrepConfigPromptsAndBriefs"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/prep/*"]
  }

  statement {
    sid       = "WriteTheBrief"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/prep/*/brief.md", "${local.bucket_arn}/prep/*/brief.json"]
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

  statement {
    sid       = "PublishBriefPrepared"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.podpipe.arn]
  }

  # Converse = bedrock:InvokeModel, on exactly the configured models (as the llm service).
  dynamic "statement" {
    for_each = var.llm_provider == "bedrock" ? [1] : []
    content {
      sid       = "InvokeConfiguredModels"
      actions   = ["bedrock:InvokeModel"]
      resources = local.bedrock_model_arns
    }
  }
}

# A task definition only (no ECS service): the schedule below starts it once a week.
module "prep" {
  source = "./modules/service"

  name                  = "prep"
  image                 = local.images.llm
  command               = local.prep_command
  run_as_service        = false
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["llm"].arn : null
  cpu                   = local.task_sizes.llm.cpu
  memory                = local.task_sizes.llm.memory
  ephemeral_storage_gib = local.task_sizes.llm.ephemeral_storage_gib
  environment           = merge(local.core_environment, local.prep_environment)
  secrets               = local.service_secrets.llm
  task_policy_json      = data.aws_iam_policy_document.prep_task.json
  use_spot              = false
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

# ----------------------------------------------------------------------------- the schedule

data "aws_iam_policy_document" "prep_scheduler_assume" {
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
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.prep_schedule_arn]
    }
  }
}

resource "aws_iam_role" "prep_scheduler" {
  name               = "${var.name_prefix}-prep-scheduler"
  assume_role_policy = data.aws_iam_policy_document.prep_scheduler_assume.json
}

# Start exactly this task definition, in this cluster, and hand it its two roles: nothing else.
data "aws_iam_policy_document" "prep_scheduler" {
  statement {
    sid       = "RunThePrepTask"
    actions   = ["ecs:RunTask"]
    resources = [module.prep.task_definition_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }
  statement {
    sid       = "PassThePrepTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [module.prep.task_role_arn, module.prep.execution_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "prep_scheduler" {
  name   = "run-prep-task"
  role   = aws_iam_role.prep_scheduler.id
  policy = data.aws_iam_policy_document.prep_scheduler.json
}

resource "aws_scheduler_schedule" "prep" {
  name                         = local.prep_schedule_name
  description                  = "podpipe prep: the week's brief before the recording"
  schedule_expression          = var.prep_schedule
  schedule_expression_timezone = var.prep_schedule_timezone
  state                        = var.prep_schedule_enabled ? "ENABLED" : "DISABLED"
  # The target's settings (network, task definition) encrypted with the stack's key.
  kms_key_arn = aws_kms_key.podpipe.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.this.arn
    role_arn = aws_iam_role.prep_scheduler.arn

    ecs_parameters {
      task_definition_arn     = module.prep.task_definition_arn
      task_count              = 1
      launch_type             = "FARGATE"
      platform_version        = "LATEST"
      enable_ecs_managed_tags = true
      propagate_tags          = "TASK_DEFINITION"

      network_configuration {
        subnets          = local.subnet_ids
        security_groups  = [aws_security_group.tasks.id]
        assign_public_ip = false
      }
    }

    # RunTask can fail for capacity; a brief a few minutes late is fine, two briefs are not
    # (a retry after a started task would write the same date again, which is harmless).
    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }
}

# ----------------------------------------------------------------------------- the operator

# What the people who run `podpipe prep` / `prep run` / `prep show` / `prep choose` by hand
# (and the studio's prep page) need: the prep task's own rights plus writing running orders.
data "aws_iam_policy_document" "prep_operator" {
  source_policy_documents = [data.aws_iam_policy_document.prep_task.json]

  statement {
    sid       = "WriteRunningOrders"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/prep/running-orders/*"]
  }
}

resource "aws_iam_policy" "prep_operator" {
  name        = "${var.name_prefix}-prep-operator"
  description = "podpipe prep (run, show, choose) and the studio's prep page"
  policy      = data.aws_iam_policy_document.prep_operator.json
}

output "prep_schedule" {
  description = "The weekly brief: schedule name, expression and the task definition it runs."
  value = {
    name                = aws_scheduler_schedule.prep.name
    expression          = aws_scheduler_schedule.prep.schedule_expression
    timezone            = aws_scheduler_schedule.prep.schedule_expression_timezone
    task_definition_arn = module.prep.task_definition_arn
    command             = local.prep_command
  }
}
