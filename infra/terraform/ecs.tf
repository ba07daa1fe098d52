#trivy:ignore:AWS-0034 Container Insights bills per task metric even while idle (see the checkov skip below).
resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:Container Insights bills per task metric even while idle; the services emit their own EMF metrics (namespace podpipe) and SQS metrics drive scaling.
  name = var.name_prefix
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
}

locals {
  # Service-specific settings, by the names each service's settings class reads (PODPIPE_ prefix).
  service_environment = {
    transcode = {
      PODPIPE_WORK_DIR = "/tmp"
    }
    clips = {
      PODPIPE_WORK_DIR = "/tmp"
    }
    transcribe = merge(
      {
        PODPIPE_TRANSCRIBE_BACKEND          = var.transcription_backend
        PODPIPE_TRANSCRIBE_AWS_MAX_SPEAKERS = tostring(var.transcribe_max_speakers)
        # The image bakes the model into /opt/whisper (PODPIPE_WHISPER_MODEL); anything
        # fetched at run time lands on the writable volume.
        PODPIPE_WHISPER_CACHE_DIR = "/tmp/whisper"
      },
      var.transcribe_language != "" ? { PODPIPE_TRANSCRIBE_LANGUAGE = var.transcribe_language } : {},
    )
    llm = merge(
      {
        PODPIPE_LLM_PROVIDER            = var.llm_provider
        PODPIPE_LLM_MODEL               = var.default_model
        PODPIPE_LLM_REQUESTS_PER_MINUTE = tostring(var.default_requests_per_minute)
        PODPIPE_LLM_TOKENS_PER_MINUTE   = tostring(var.default_tokens_per_minute)
        PODPIPE_LLM_RATE_LIMITS         = jsonencode(var.model_rate_limits)
      },
      var.openai_base_url != "" ? { PODPIPE_LLM_OPENAI_BASE_URL = var.openai_base_url } : {},
    )
    notify = merge(
      {
        PODPIPE_NOTIFY_TOPIC_ARN        = local.notifications_topic_arn
        PODPIPE_NOTIFY_GUESTS_TOPIC_ARN = local.guests_topic_arn
      },
      # Only the secret's ARN travels in the task definition; notify reads the URL once at startup.
      var.slack_webhook_secret_arn != "" && !local.slack_secret_is_ssm ? { PODPIPE_NOTIFY_SLACK_WEBHOOK_SECRET_ID = var.slack_webhook_secret_arn } : {},
      local.slack_secret_is_ssm ? { PODPIPE_NOTIFY_SLACK_WEBHOOK_SSM_PARAMETER = var.slack_webhook_secret_arn } : {},
    )
    promote = local.promote_environment # promote.tf
  }

  # Secrets ECS injects as environment variables at start (the execution role reads them), so
  # nothing secret sits in the task definition.
  service_secrets = {
    transcode  = {}
    clips      = {}
    transcribe = {}
    llm        = var.openai_api_key_secret_arn != "" ? { PODPIPE_LLM_OPENAI_API_KEY = var.openai_api_key_secret_arn } : {}
    notify     = {}
    promote    = {}
  }

  service_common = {
    name_prefix = var.name_prefix
    region      = var.region
    # Through the capacity-provider association, so no service is created before
    # FARGATE / FARGATE_SPOT are attached to the cluster.
    cluster_name       = aws_ecs_cluster_capacity_providers.this.cluster_name
    subnet_ids         = local.subnet_ids
    security_group_ids = [aws_security_group.tasks.id]
    log_retention_days = var.log_retention_days
    kms_key_arn        = aws_kms_key.podpipe.arn
    cpu_architecture   = var.cpu_architecture
  }
}

# The queue services: one module call each, differing only in what this table says.
locals {
  services = {
    # Transcode: scales from zero on its queue; Spot, since an interruption only redelivers
    # the upload.
    transcode = {
      task_policy_json = data.aws_iam_policy_document.transcode_task.json
      use_spot         = var.use_fargate_spot
      single_instance  = false
      max_tasks        = var.transcode_max_tasks
    }
    # Clips: scales from zero on its own queue like transcode; Spot, since an interruption
    # only redelivers the picks (or the media event) and the render starts again.
    clips = {
      task_policy_json = data.aws_iam_policy_document.clips_task.json
      use_spot         = var.use_fargate_spot
      single_instance  = false
      max_tasks        = var.clips_max_tasks
    }
    # Transcribe: scales from zero like transcode.
    transcribe = {
      task_policy_json = data.aws_iam_policy_document.transcribe_task.json
      use_spot         = var.use_fargate_spot
      single_instance  = false
      max_tasks        = var.transcribe_max_tasks
    }
    # The LLM dispatcher + worker: EXACTLY one task, no autoscaling. It is the throttle: one
    # consumer of the llm queue with a client-side rate limiter sized to the account's quota.
    # On-demand Fargate (not Spot) so the one task is never left waiting for Spot capacity.
    llm = {
      task_policy_json = data.aws_iam_policy_document.llm_task.json
      use_spot         = false
      single_instance  = true
      max_tasks        = null
    }
    # Notify: one small task on Spot (an interruption delays a message by a minute, loses
    # nothing).
    notify = {
      task_policy_json = data.aws_iam_policy_document.notify_task.json
      use_spot         = var.use_fargate_spot
      single_instance  = false
      max_tasks        = null
    }
    # Promote: one small task, one post at a time (networks rate-limit per account).
    promote = {
      task_policy_json = data.aws_iam_policy_document.promote_task.json
      use_spot         = var.use_fargate_spot
      single_instance  = false
      max_tasks        = null
    }
  }
}

module "service" {
  for_each = local.services
  source   = "./modules/service"

  name                  = each.key
  image                 = local.images[each.key]
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service[each.key].arn : null
  cpu                   = local.task_sizes[each.key].cpu
  memory                = local.task_sizes[each.key].memory
  ephemeral_storage_gib = local.task_sizes[each.key].ephemeral_storage_gib
  environment           = merge(local.core_environment, local.service_environment[each.key])
  secrets               = local.service_secrets[each.key]
  task_policy_json      = each.value.task_policy_json
  use_spot              = each.value.use_spot
  desired_count         = 1
  single_instance       = each.value.single_instance
  # Scaled from zero on the service's own queue depth, or (max_tasks null) always one task.
  autoscaling = each.value.max_tasks == null ? null : {
    queue_name   = module.queue[each.key].queue_name
    max_tasks    = each.value.max_tasks
    idle_minutes = var.scale_in_idle_minutes
  }

  name_prefix        = local.service_common.name_prefix
  region             = local.service_common.region
  cluster_name       = local.service_common.cluster_name
  subnet_ids         = local.service_common.subnet_ids
  security_group_ids = local.service_common.security_group_ids
  log_retention_days = local.service_common.log_retention_days
  kms_key_arn        = local.service_common.kms_key_arn
  cpu_architecture   = local.service_common.cpu_architecture
}

# Each service had its own module call before: state moves with it, nothing is replaced.
moved {
  from = module.transcode
  to   = module.service["transcode"]
}

moved {
  from = module.clips
  to   = module.service["clips"]
}

moved {
  from = module.transcribe
  to   = module.service["transcribe"]
}

moved {
  from = module.llm
  to   = module.service["llm"]
}

moved {
  from = module.notify
  to   = module.service["notify"]
}

moved {
  from = module.promote
  to   = module.service["promote"]
}
