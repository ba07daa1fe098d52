variable "name" {
  description = "Queue name (<prefix>-<queue>)."
  type        = string
}

variable "dlq_name" {
  description = "Dead-letter queue name (<prefix>-<queue>-dlq)."
  type        = string
}

variable "visibility_timeout" {
  description = "Seconds; the runtime's heartbeat extends it while a handler runs."
  type        = number
}

variable "retention" {
  description = "Message retention of the queue (seconds)."
  type        = number
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the DLQ."
  type        = number
}

variable "dlq_retention" {
  description = "Message retention of the DLQ (seconds); longer than the queue's, as a message's age counts from its first enqueue."
  type        = number
}

variable "allowed_source_arns" {
  description = "EventBridge rule ARNs allowed to send to the queue."
  type        = list(string)
}

variable "alarm_topic_arn" {
  description = "SNS topic of the DLQ and oldest-message alarms."
  type        = string
}

variable "oldest_message_age_alarm_seconds" {
  description = "Alarm when the oldest message has waited longer than this."
  type        = number
}
