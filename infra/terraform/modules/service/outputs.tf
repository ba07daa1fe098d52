output "service_name" {
  value = local.full_name
}

output "task_role_arn" {
  value = aws_iam_role.task.arn
}

output "execution_role_arn" {
  value = aws_iam_role.execution.arn
}

# The revision Terraform created: a schedule that runs the task (RunTask) names exactly it.
output "task_definition_arn" {
  value = aws_ecs_task_definition.this.arn
}

output "task_role_name" {
  value = aws_iam_role.task.name
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.this.name
}

# What the ECS service and its task actually run with, for `terraform test`
# (tests/*.tftest.hcl) and for anyone reading the state.
output "ecs_service" {
  description = "The service's task count, deployment limits, capacity provider and network (null without a service)."
  value = one([
    for service in concat(aws_ecs_service.fixed, aws_ecs_service.scaled) : {
      desired_count                      = service.desired_count
      deployment_minimum_healthy_percent = service.deployment_minimum_healthy_percent
      deployment_maximum_percent         = service.deployment_maximum_percent
      capacity_provider                  = one(service.capacity_provider_strategy).capacity_provider
      assign_public_ip                   = one(service.network_configuration).assign_public_ip
    }
  ])
}

output "autoscaling" {
  description = "Queue-depth scaling bounds; null for a fixed desired_count."
  value = local.scaled ? {
    min_capacity = aws_appautoscaling_target.this[0].min_capacity
    max_capacity = aws_appautoscaling_target.this[0].max_capacity
    queue_name   = local.scaled_queue
  } : null
}

output "container" {
  description = "The container definition ECS starts (user, read-only root, capabilities, mounts)."
  value       = one(jsondecode(aws_ecs_task_definition.this.container_definitions))
}
