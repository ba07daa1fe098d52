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

# Transcode: scales from zero on its queue; Spot, since an interruption only redelivers the upload.
module "transcode" {
  source = "./modules/service"

  name                  = "transcode"
  image                 = local.images.transcode
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["transcode"].arn : null
  cpu                   = local.task_sizes.transcode.cpu
  memory                = local.task_sizes.transcode.memory
  ephemeral_storage_gib = local.task_sizes.transcode.ephemeral_storage_gib
  environment           = merge(local.core_environment, local.service_environment.transcode)
  secrets               = local.service_secrets.transcode
  task_policy_json      = data.aws_iam_policy_document.transcode_task.json
  use_spot              = var.use_fargate_spot
  autoscaling = {
    queue_name   = module.queue["transcode"].queue_name
    max_tasks    = var.transcode_max_tasks
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

# Clips: scales from zero on its own queue like transcode; Spot, since an interruption only
# redelivers the picks (or the media event) and the render starts again.
module "clips" {
  source = "./modules/service"

  name                  = "clips"
  image                 = local.images.clips
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["clips"].arn : null
  cpu                   = local.task_sizes.clips.cpu
  memory                = local.task_sizes.clips.memory
  ephemeral_storage_gib = local.task_sizes.clips.ephemeral_storage_gib
  environment           = merge(local.core_environment, local.service_environment.clips)
  secrets               = local.service_secrets.clips
  task_policy_json      = data.aws_iam_policy_document.clips_task.json
  use_spot              = var.use_fargate_spot
  autoscaling = {
    queue_name   = module.queue["clips"].queue_name
    max_tasks    = var.clips_max_tasks
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

# Transcribe: scales from zero like transcode.
module "transcribe" {
  source = "./modules/service"

  name                  = "transcribe"
  image                 = local.images.transcribe
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["transcribe"].arn : null
  cpu                   = local.task_sizes.transcribe.cpu
  memory                = local.task_sizes.transcribe.memory
  ephemeral_storage_gib = local.task_sizes.transcribe.ephemeral_storage_gib
  environment           = merge(local.core_environment, local.service_environment.transcribe)
  secrets               = local.service_secrets.transcribe
  task_policy_json      = data.aws_iam_policy_document.transcribe_task.json
  use_spot              = var.use_fargate_spot
  autoscaling = {
    queue_name   = module.queue["transcribe"].queue_name
    max_tasks    = var.transcribe_max_tasks
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

# The LLM dispatcher + worker: EXACTLY one task, no autoscaling. It is the throttle: one
# consumer of the llm queue with a client-side rate limiter sized to the account's quota.
# On-demand Fargate (not Spot) so the one task is never left waiting for Spot capacity.
module "llm" {
  source = "./modules/service"

  name                  = "llm"
  image                 = local.images.llm
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["llm"].arn : null
  cpu                   = local.task_sizes.llm.cpu
  memory                = local.task_sizes.llm.memory
  ephemeral_storage_gib = local.task_sizes.llm.ephemeral_storage_gib
  environment           = merge(local.core_environment, local.service_environment.llm)
  secrets               = local.service_secrets.llm
  task_policy_json      = data.aws_iam_policy_document.llm_task.json
  use_spot              = false
  desired_count         = 1
  single_instance       = true
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

# Notify: one small task on Spot (an interruption delays a message by a minute, loses nothing).
module "notify" {
  source = "./modules/service"

  name                  = "notify"
  image                 = local.images.notify
  ecr_repository_arn    = var.image_registry == "" ? aws_ecr_repository.service["notify"].arn : null
  cpu                   = local.task_sizes.notify.cpu
  memory                = local.task_sizes.notify.memory
  ephemeral_storage_gib = local.task_sizes.notify.ephemeral_storage_gib
  environment           = merge(local.core_environment, local.service_environment.notify)
  secrets               = local.service_secrets.notify
  task_policy_json      = data.aws_iam_policy_document.notify_task.json
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
