output "bucket_name" {
  description = "The media bucket: uploads/ in, episodes/<id>/ out."
  value       = aws_s3_bucket.media.bucket
}

output "cli_environment" {
  description = "What the podpipe CLI needs to talk to this stack (plus your AWS credentials)."
  value       = "export AWS_REGION=${var.region} PODPIPE_NAME_PREFIX=${var.name_prefix} PODPIPE_BUCKET=${aws_s3_bucket.media.bucket} PODPIPE_BUS_NAME=${aws_cloudwatch_event_bus.podpipe.name}"
}

output "upload_command" {
  description = "Upload an episode; its id is printed and every stage starts from this one upload."
  value       = "AWS_REGION=${var.region} PODPIPE_NAME_PREFIX=${var.name_prefix} PODPIPE_BUCKET=${aws_s3_bucket.media.bucket} podpipe upload episode.m4a --title \"Episode title\" --show \"Show name\" --number 1"
}

output "event_bus_name" {
  value = aws_cloudwatch_event_bus.podpipe.name
}

output "queue_urls" {
  description = "Queue URL per topology queue."
  value       = { for name, queue in module.queue : name => queue.queue_url }
}

output "dlq_urls" {
  description = "Dead-letter queue URL per topology queue."
  value       = { for name, queue in module.queue : name => queue.dlq_url }
}

output "replay" {
  description = "How to inspect and replay failed messages (a failed prompt sits alone in the llm DLQ)."
  value = {
    list          = "podpipe dlq list"
    one_prompt    = "podpipe dlq replay --queue llm --episode <episode-id> --prompt <prompt-id>"
    other_model   = "podpipe dlq replay --queue llm --episode <episode-id> --prompt <prompt-id> --model <model-id>"
    whole_queue   = "podpipe dlq replay --queue <queue> --all"
    without_cli   = "aws sqs start-message-move-task --source-arn <dlq-arn>  # moves a whole DLQ back to its source queue"
    dlq_arns      = join(" ", [for name, queue in module.queue : queue.dlq_arn])
    cli_variables = "AWS_REGION=${var.region} PODPIPE_NAME_PREFIX=${var.name_prefix} PODPIPE_BUCKET=${aws_s3_bucket.media.bucket}"
  }
}

output "ecr_repository_urls" {
  description = "Push each service image here (docs/deploy.md)."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.repository_url }
}

output "images" {
  description = "The image each ECS service runs."
  value       = local.images
}

output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "notifications_topic_arn" {
  value = local.notifications_topic_arn
}

output "alerts_topic_arn" {
  value = local.alerts_topic_arn
}

output "log_groups" {
  # Every queue service's (promote's was missing when each had its own line).
  value = { for name, service in module.service : name => service.log_group_name }
}
