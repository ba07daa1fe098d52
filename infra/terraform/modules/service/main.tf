# One podpipe service on ECS Fargate: log group, task role (least privilege, given by the
# caller), execution role, task definition (non-root, read-only root filesystem, a writable
# /tmp volume) and the ECS service; autoscaling.tf adds queue-depth scaling from zero.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  full_name = "${var.name_prefix}-${var.name}"
  partition = data.aws_partition.current.partition
  # The images create this user (docker/base.Dockerfile); the task enforces it too.
  container_user = "10001:10001"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/podpipe/${var.name_prefix}/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    # Confused-deputy guard: only tasks of this account assume the roles.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "task" {
  name               = "${local.full_name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task" {
  name   = "${local.full_name}-task"
  role   = aws_iam_role.task.id
  policy = var.task_policy_json
}

resource "aws_iam_role" "execution" {
  name               = "${local.full_name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "${local.full_name}-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [var.ecr_repository_arn]
    content {
      sid       = "PullOwnImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.ecr_repository_arn == null ? [] : [1]
    content {
      # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets) > 0 ? [1] : []
    content {
      sid       = "InjectSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = distinct(values(var.secrets))
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.full_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gib
  }

  # The only writable place in the container: ffmpeg's and Whisper's scratch files.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = var.name
    image                  = var.image
    command                = var.command # null: the image's CMD
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    privileged             = false
    # SIGTERM first; the runtime drains within PODPIPE_SHUTDOWN_GRACE_SECONDS (25 s) of this.
    stopTimeout = 30
    environment = [for key in sort(keys(var.environment)) : { name = key, value = var.environment[key] }]
    secrets     = [for key in sort(keys(var.secrets)) : { name = key, valueFrom = var.secrets[key] }]
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = var.region
        awslogs-stream-prefix = var.name
        mode                  = "non-blocking"
        max-buffer-size       = "4m"
      }
    }
  }])
}

resource "aws_ecs_service" "fixed" {
  count           = var.run_as_service && var.autoscaling == null ? 1 : 0
  name            = local.full_name
  cluster         = var.cluster_name
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = var.desired_count
  propagate_tags  = "SERVICE"

  platform_version = "LATEST"

  capacity_provider_strategy {
    capacity_provider = var.use_spot ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
  }

  # single_instance: stop the old task before starting the new one, so a deployment never
  # runs two consumers of a queue whose whole point is one consumer.
  deployment_minimum_healthy_percent = var.single_instance ? 0 : 100
  deployment_maximum_percent         = var.single_instance ? 100 : 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }
}

resource "aws_ecs_service" "scaled" {
  count           = var.autoscaling != null ? 1 : 0
  name            = local.full_name
  cluster         = var.cluster_name
  task_definition = aws_ecs_task_definition.this.arn
  # Starts at zero: the queue-depth policy starts a task when work arrives.
  desired_count  = 0
  propagate_tags = "SERVICE"

  platform_version = "LATEST"

  capacity_provider_strategy {
    capacity_provider = var.use_spot ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
  }

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  # Application Auto Scaling owns the count; a later apply must not reset it.
  lifecycle {
    ignore_changes = [desired_count]
  }
}
