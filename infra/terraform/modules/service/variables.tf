variable "name" {
  description = "Service name: transcode, transcribe, llm or notify (the container runs python -m podpipe_<name>)."
  type        = string
}

variable "name_prefix" {
  description = "Stack prefix of every name."
  type        = string
}

variable "region" {
  description = "Region of the log group."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name (pass it through the capacity-provider association so services wait for it)."
  type        = string
}

variable "image" {
  description = "Full image reference (repository:tag)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository the execution role may pull from; null for an image outside this account's ECR."
  type        = string
  default     = null
}

variable "cpu" {
  description = "Fargate CPU units."
  type        = number
}

variable "memory" {
  description = "Fargate memory (MiB)."
  type        = number
}

variable "ephemeral_storage_gib" {
  description = "Fargate ephemeral storage (GiB, 21-200); the /tmp volume lives there."
  type        = number
  default     = 21
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64."
  type        = string
  default     = "X86_64"
}

variable "command" {
  description = "Overrides the image's CMD (one image may carry more than one process); null keeps it."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "Plain environment variables (never secrets)."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variable name => Secrets Manager ARN, injected by ECS at start (the execution role reads them)."
  type        = map(string)
  default     = {}
}

variable "task_policy_json" {
  description = "The task role's only policy: exactly the AWS calls this service's code makes."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "desired_count" {
  description = "Tasks to run when autoscaling is null (the LLM worker: exactly 1)."
  type        = number
  default     = 1
}

variable "single_instance" {
  description = "Never run two tasks at once, not even during a deployment (stop the old one first): the LLM worker is the rate limiter."
  type        = bool
  default     = false
}

variable "use_spot" {
  description = "Run on Fargate Spot (an interruption sends SIGTERM; the runtime releases its messages)."
  type        = bool
  default     = false
}

variable "autoscaling" {
  description = "Scale between 0 and max_tasks on the queue's depth; null for a fixed desired_count."
  type = object({
    queue_name   = string
    max_tasks    = number
    idle_minutes = number
  })
  default = null
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention."
  type        = number
}

variable "kms_key_arn" {
  description = "Key encrypting the log group."
  type        = string
}

variable "run_as_service" {
  description = "false: only the task definition (and its roles and log group), for a task something else starts, e.g. an EventBridge Scheduler RunTask."
  type        = bool
  default     = true

  validation {
    condition     = var.run_as_service || var.autoscaling == null
    error_message = "Autoscaling scales an ECS service: with run_as_service = false, set autoscaling = null."
  }
}
