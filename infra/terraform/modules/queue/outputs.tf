output "queue_arn" {
  value = aws_sqs_queue.this.arn
}

output "queue_url" {
  value = aws_sqs_queue.this.id
}

output "queue_name" {
  value = aws_sqs_queue.this.name
}

output "dlq_arn" {
  value = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  value = aws_sqs_queue.dlq.id
}

output "dlq_name" {
  value = aws_sqs_queue.dlq.name
}

output "redrive_policy" {
  description = "The queue's redrive policy (DLQ ARN and maxReceiveCount), decoded."
  value       = jsondecode(aws_sqs_queue.this.redrive_policy)
}

output "alarms" {
  description = "The queue's two alarms: the DLQ holds messages; the oldest message is too old."
  value = {
    for key, alarm in {
      dlq_not_empty  = aws_cloudwatch_metric_alarm.dlq_not_empty
      oldest_message = aws_cloudwatch_metric_alarm.oldest_message
    } : key => { name = alarm.alarm_name, queue_name = alarm.dimensions.QueueName, actions = alarm.alarm_actions }
  }
}
