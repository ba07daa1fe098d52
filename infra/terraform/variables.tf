# Everything a team sets to stand podpipe up in its own account. Only `notification_email`
# is worth setting on day one; the rest has working defaults (see terraform.tfvars.example).

variable "region" {
  description = "AWS region to deploy into (Bedrock model access must be enabled there)."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name; the services read it as PODPIPE_NAME_PREFIX."
  type        = string
  default     = "podpipe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name_prefix))
    error_message = "name_prefix: 2-20 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

# --- images -------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the four service images (ECR repositories are immutable: use a version, not 'latest')."
  type        = string
  default     = "0.1.0"
}

variable "image_tags" {
  description = "Per-service tag overrides, e.g. { llm = \"0.1.1\" }."
  type        = map(string)
  default     = {}
}

variable "image_registry" {
  description = "Registry/namespace holding podpipe-<service> images. Empty: create one ECR repository per service and use it."
  type        = string
  default     = ""
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64 (Graviton is about 20% cheaper; build the images for that platform)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

# --- notifications and alerts -------------------------------------------------------------

variable "notification_email" {
  description = "E-mail that receives the hosts' notifications (audio ready, outputs, episode digest). Empty: no subscription."
  type        = string
  default     = ""
}

variable "alert_email" {
  description = "E-mail that receives operational alarms (DLQs, throttling, stuck queues). Empty: notification_email."
  type        = string
  default     = ""
}

variable "slack_webhook_secret_arn" {
  description = "ARN of the Secrets Manager secret (or SSM SecureString parameter) holding the Slack incoming-webhook URL. Empty: no Slack."
  type        = string
  default     = ""
}

# --- transcription ------------------------------------------------------------------------

variable "transcription_backend" {
  description = "whisper (faster-whisper inside the container, compute only) or aws (Amazon Transcribe, $0.024/min)."
  type        = string
  default     = "whisper"

  validation {
    condition     = contains(["whisper", "aws"], var.transcription_backend)
    error_message = "transcription_backend must be whisper or aws."
  }
}

variable "transcribe_max_speakers" {
  description = "Speaker labels (aws backend): most speakers to tell apart."
  type        = number
  default     = 4
}

variable "transcribe_language" {
  description = "Spoken language (whisper: ISO 639-1 like en; aws: en-US). Empty: detect automatically."
  type        = string
  default     = ""
}

# --- LLM ----------------------------------------------------------------------------------

variable "llm_provider" {
  description = "bedrock, openai (an OpenAI-compatible server) or extractive (no LLM)."
  type        = string
  default     = "bedrock"

  validation {
    condition     = contains(["bedrock", "openai", "extractive"], var.llm_provider)
    error_message = "llm_provider must be bedrock, openai or extractive."
  }
}

variable "default_model" {
  description = "Model of prompts whose catalog entry says `model: default` (Bedrock model id or inference profile id)."
  type        = string
  default     = "anthropic.claude-3-5-haiku-20241022-v1:0"
}

variable "model_rate_limits" {
  description = "Per-model client-side quotas, sized to the account's Bedrock quotas. Every model named here is also allowed by IAM."
  type = map(object({
    requests_per_minute = number
    tokens_per_minute   = number
  }))
  default = {}
}

variable "default_requests_per_minute" {
  description = "Quota of models not named in model_rate_limits (new accounts: about 1 request/minute)."
  type        = number
  default     = 1
}

variable "default_tokens_per_minute" {
  description = "Token quota of models not named in model_rate_limits (0 = no client-side token limit)."
  type        = number
  default     = 0
}

variable "additional_models" {
  description = "Further Bedrock model or inference-profile ids prompts may name (IAM allows exactly default_model, these and the keys of model_rate_limits)."
  type        = list(string)
  default     = []
}

variable "openai_base_url" {
  description = "OpenAI-compatible endpoint when llm_provider = openai (e.g. a vLLM or Ollama server reachable from the private subnets)."
  type        = string
  default     = ""
}

variable "openai_api_key_secret_arn" {
  description = "Secrets Manager secret with the bearer token of the OpenAI-compatible endpoint, if it needs one."
  type        = string
  default     = ""
}

# --- storage ------------------------------------------------------------------------------

variable "bucket_name" {
  description = "Media bucket name. Empty: <prefix>-media-<account>-<region>."
  type        = string
  default     = ""
}

variable "uploads_archive_days" {
  description = "Raw uploads move to Glacier Instant Retrieval after this many days (the MP3 and transcript stay in Standard)."
  type        = number
  default     = 30
}

variable "uploads_expiration_days" {
  description = "Raw uploads are deleted after this many days (0 = keep them)."
  type        = number
  default     = 365
}

variable "noncurrent_version_days" {
  description = "Overwritten or deleted object versions are kept this long (versioning protects against accidents, not forever)."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the service logs."
  type        = number
  default     = 365
}

# --- network ------------------------------------------------------------------------------

variable "vpc_id" {
  description = "Existing VPC to run the tasks in. Null: create a minimal VPC (private subnets, one NAT gateway, an S3 gateway endpoint)."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Private subnets of vpc_id with a route to the internet (NAT) or the needed VPC endpoints; required with vpc_id."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when vpc_id is null."
  type        = string
  default     = "10.42.0.0/16"
}

variable "az_count" {
  description = "Availability zones of the created VPC's private subnets (the single NAT gateway lives in the first)."
  type        = number
  default     = 2
}

# --- compute ------------------------------------------------------------------------------

variable "use_fargate_spot" {
  description = "Run transcode, clips, transcribe and notify on Fargate Spot (about 70% cheaper; an interruption only redelivers a message)."
  type        = bool
  default     = true
}

variable "transcode_max_tasks" {
  description = "Most transcode tasks at once (each converts one episode at a time)."
  type        = number
  default     = 2
}

variable "clips_max_tasks" {
  description = "Most clips tasks at once (each renders one episode's clips at a time)."
  type        = number
  default     = 1
}

variable "transcribe_max_tasks" {
  description = "Most transcribe tasks at once."
  type        = number
  default     = 2
}

variable "task_sizes" {
  description = "Fargate CPU units / memory MiB / ephemeral storage GiB per service (overrides merge with the defaults)."
  type = map(object({
    cpu                   = number
    memory                = number
    ephemeral_storage_gib = number
  }))
  default = {}
}

variable "scale_in_idle_minutes" {
  description = "Minutes a queue must be empty (nothing visible, nothing in flight) before its service scales to zero."
  type        = number
  default     = 10
}

variable "oldest_message_age_alarm_seconds" {
  description = "Per-queue threshold of the ApproximateAgeOfOldestMessage alarm; queues not named use 3600 s."
  type        = map(number)
  default     = {}
}

variable "llm_throttle_alarm_threshold" {
  description = "Throttled LLM calls (podpipe/Throttled, service=llm) in 15 minutes that raise an alarm."
  type        = number
  default     = 10
}

variable "public_cdn" {
  description = "Serve the bucket's public/ prefix (feeds, MP3s, transcripts) through CloudFront. Off only where CloudFront does not exist (the LocalStack apply test)."
  type        = bool
  default     = true
}
