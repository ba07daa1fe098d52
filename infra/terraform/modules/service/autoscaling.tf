# Scale from zero on the queue's depth (step scaling, Application Auto Scaling):
# - out: ApproximateNumberOfMessagesVisible > 0 adds tasks (one, or two when the backlog is
#   deeper than the running tasks can start soon), up to max_tasks; the alarm keeps invoking
#   the policy while it stays in ALARM, so a backlog grows the service step by step;
# - in: only to ZERO, and only once nothing is visible AND nothing is in flight for
#   idle_minutes, so no running conversion is ever stopped by a scale-in.
# SQS publishes these metrics once a minute; after hours of silence the first upload may
# take a few minutes to start a task (the price of paying nothing while idle).

locals {
  scaled           = var.autoscaling != null
  scaled_queue     = local.scaled ? var.autoscaling.queue_name : ""
  scaled_resource  = "service/${var.cluster_name}/${local.full_name}"
  service_resource = local.scaled ? aws_appautoscaling_target.this[0].resource_id : ""
}

resource "aws_appautoscaling_target" "this" {
  count              = local.scaled ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = local.scaled_resource
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = 0
  max_capacity       = var.autoscaling.max_tasks
  depends_on         = [aws_ecs_service.scaled]
}

resource "aws_appautoscaling_policy" "scale_out" {
  count              = local.scaled ? 1 : 0
  name               = "${local.full_name}-scale-out"
  policy_type        = "StepScaling"
  service_namespace  = "ecs"
  resource_id        = local.service_resource
  scalable_dimension = "ecs:service:DesiredCount"

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 300
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      metric_interval_upper_bound = 5
      scaling_adjustment          = 1
    }
    step_adjustment {
      metric_interval_lower_bound = 5
      scaling_adjustment          = 2
    }
  }
}

resource "aws_appautoscaling_policy" "scale_in" {
  count              = local.scaled ? 1 : 0
  name               = "${local.full_name}-scale-to-zero"
  policy_type        = "StepScaling"
  service_namespace  = "ecs"
  resource_id        = local.service_resource
  scalable_dimension = "ecs:service:DesiredCount"

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = 0
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "backlog" {
  count               = local.scaled ? 1 : 0
  alarm_name          = "${local.full_name}-backlog"
  alarm_description   = "Messages wait in ${local.scaled_queue}: add ${var.name} tasks."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = local.scaled_queue }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_out[0].arn]
}

resource "aws_cloudwatch_metric_alarm" "idle" {
  count              = local.scaled ? 1 : 0
  alarm_name         = "${local.full_name}-idle"
  alarm_description  = "Nothing visible or in flight in ${local.scaled_queue} for ${var.autoscaling.idle_minutes} min: scale ${var.name} to zero."
  evaluation_periods = var.autoscaling.idle_minutes
  # "Fewer than one message": the metric sits strictly below the threshold, inside the
  # scale-in step's (-inf, 0] interval.
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  # An inactive queue stops publishing metrics: no data means no work.
  treat_missing_data = "breaching"
  alarm_actions      = [aws_appautoscaling_policy.scale_in[0].arn]

  metric_query {
    id          = "backlog"
    expression  = "visible + inflight"
    label       = "Messages visible or in flight"
    return_data = true
  }

  metric_query {
    id = "visible"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = local.scaled_queue }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id = "inflight"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = local.scaled_queue }
      stat        = "Maximum"
      period      = 60
    }
  }
}
