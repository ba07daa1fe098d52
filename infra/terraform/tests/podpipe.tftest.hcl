# `terraform test` of the root module with a mocked AWS provider: no credentials, no network.
# The mock invents every computed attribute, so these runs pin what the configuration itself
# decides: the throttle (one llm task), a DLQ + alarms per queue, no wildcard IAM action, a
# private bucket, tasks without public IPs. Run from infra/terraform:
#   terraform init -backend=false [-plugin-dir=DIR] && terraform test

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  # Computed ARNs must look like ARNs: the provider validates the arguments they flow into.
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:tftest-topic"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:tftest-queue"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_cloudwatch_event_bus" {
    defaults = {
      arn = "arn:aws:events:us-east-1:123456789012:event-bus/tftest-events"
    }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:us-east-1:123456789012:rule/tftest-rule"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/tftest-role"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/podpipe/tftest/service"
    }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      arn = "arn:aws:ecr:us-east-1:123456789012:repository/tftest-service"
    }
  }

  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/tftest-service:1"
    }
  }

  mock_resource "aws_appautoscaling_policy" {
    defaults = {
      arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:00000000-0000-0000-0000-000000000000:resource/ecs/service/tftest/tftest-service:policyName/tftest"
    }
  }

  # The real provider renders the statements as JSON; the mock only has to return a document
  # (the statements themselves are configuration, and the assertions read them).
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name_prefix        = "tftest"
  notification_email = "hosts@example.com"
}

# Distinct ARNs for the prep task's pieces, so the scheduler role's scope means something (the
# mock would give every task definition and role the same one).
override_resource {
  target = module.prep.aws_ecs_task_definition.this
  values = { arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/tftest-prep:7" }
}
override_resource {
  target = module.prep.aws_iam_role.task
  values = { arn = "arn:aws:iam::123456789012:role/tftest-prep-task" }
}
override_resource {
  target = module.prep.aws_iam_role.execution
  values = { arn = "arn:aws:iam::123456789012:role/tftest-prep-execution" }
}
override_resource {
  target = aws_ecs_cluster.this
  values = { arn = "arn:aws:ecs:us-east-1:123456789012:cluster/tftest" }
}

run "the_release_consumer_is_deployed_and_the_scheduler_only_sends_to_it" {
  # First: resources keep the ARNs of the run that created them, so the overrides below only
  # take effect in the run that creates the release queue.
  # The mock gives every queue the same ARN; distinct ones make the comparisons below mean something.
  override_resource {
    target = module.release_queue.aws_sqs_queue.this
    values = { arn = "arn:aws:sqs:us-east-1:123456789012:tftest-release" }
  }
  override_resource {
    target = module.release_queue.aws_sqs_queue.dlq
    values = { arn = "arn:aws:sqs:us-east-1:123456789012:tftest-release-dlq" }
  }

  assert {
    condition     = module.release.container.command == ["python", "-m", "podpipe.release"] && module.release.ecs_service.desired_count == 1
    error_message = "One ECS task must run `python -m podpipe.release`, or scheduled releases never fire."
  }
  assert {
    condition     = module.release.container.image == local.images.notify && try(module.service["notify"].container.command, null) == null
    error_message = "The release consumer runs from the notify image (it carries the kernel); notify keeps its own CMD."
  }
  assert {
    condition = alltrue([
      for name, value in {
        PODPIPE_RELEASE_SCHEDULER           = "eventbridge"
        PODPIPE_RELEASE_SCHEDULE_GROUP      = aws_scheduler_schedule_group.releases.name
        PODPIPE_RELEASE_SCHEDULE_TARGET_ARN = "arn:aws:sqs:us-east-1:123456789012:tftest-release"
        PODPIPE_RELEASE_SCHEDULE_ROLE_ARN   = aws_iam_role.release_scheduler.arn
      } : contains(module.release.container.environment, { name = name, value = value })
    ])
    error_message = "The release task consumes and schedules through EventBridge Scheduler, the group, queue and role of this stack."
  }
  assert {
    # The role EventBridge Scheduler assumes: one action on one resource, the release queue.
    condition = length(data.aws_iam_policy_document.release_scheduler.statement) == 1 && alltrue([
      for statement in data.aws_iam_policy_document.release_scheduler.statement :
      statement.actions == toset(["sqs:SendMessage"]) && statement.resources == toset(["arn:aws:sqs:us-east-1:123456789012:tftest-release"])
    ])
    error_message = "The scheduler role may do more than send to the release queue."
  }
  assert {
    condition = alltrue([
      for condition in one(data.aws_iam_policy_document.scheduler_assume.statement).condition :
      tolist(condition.values) == tolist(["arn:aws:scheduler:${var.region}:123456789012:schedule/tftest-releases/*"]) if condition.variable == "aws:SourceArn"
    ]) && length(one(data.aws_iam_policy_document.scheduler_assume.statement).condition) == 2
    error_message = "Only this account's schedules in the releases group may assume the scheduler role."
  }
  assert {
    condition = alltrue(flatten([
      for statement in data.aws_iam_policy_document.release_task.statement : [
        !anytrue([for action in statement.actions : strcontains(action, "*")]),
        !contains(statement.actions, "sqs:SendMessage") || statement.resources == toset(["arn:aws:sqs:us-east-1:123456789012:tftest-release-dlq"]),
        !contains(statement.actions, "sqs:ReceiveMessage") || statement.resources == toset(["arn:aws:sqs:us-east-1:123456789012:tftest-release"]),
      ]
    ]))
    error_message = "The release task may use a wildcard action, consume another queue, or send anywhere but its DLQ."
  }
  assert {
    condition     = module.release.ecs_service.assign_public_ip == false && module.release.container.readonlyRootFilesystem && module.release.container.user == "10001:10001"
    error_message = "The release task runs like the others: no public IP, read-only root, non-root."
  }
}

run "the_weekly_brief_runs_the_prep_task_and_its_scheduler_may_only_start_it" {
  variables {
    prep_schedule          = "cron(30 7 ? * TUE *)"
    prep_schedule_timezone = "Europe/Berlin"
  }

  assert {
    condition     = aws_scheduler_schedule.prep.schedule_expression == "cron(30 7 ? * TUE *)" && aws_scheduler_schedule.prep.schedule_expression_timezone == "Europe/Berlin" && aws_scheduler_schedule.prep.state == "ENABLED"
    error_message = "The prep schedule must be the recurring prep_schedule, in its time zone."
  }
  assert {
    condition = (
      one(aws_scheduler_schedule.prep.target).arn == "arn:aws:ecs:us-east-1:123456789012:cluster/tftest"
      && one(one(aws_scheduler_schedule.prep.target).ecs_parameters).task_definition_arn == "arn:aws:ecs:us-east-1:123456789012:task-definition/tftest-prep:7"
      && one(one(aws_scheduler_schedule.prep.target).ecs_parameters).task_count == 1
      && one(one(one(aws_scheduler_schedule.prep.target).ecs_parameters).network_configuration).assign_public_ip == false
      && one(aws_scheduler_schedule.prep.target).role_arn == aws_iam_role.prep_scheduler.arn
    )
    error_message = "The schedule must start one task of the prep task definition in this cluster, without a public IP, as the prep scheduler role."
  }
  assert {
    condition     = module.prep.container.command == ["python", "-m", "podpipe_llm.prep"] && module.prep.container.image == local.images.llm
    error_message = "The prep task runs `python -m podpipe_llm.prep` from the llm image."
  }
  assert {
    condition     = module.prep.ecs_service == null && module.prep.autoscaling == null
    error_message = "prep is a task the schedule starts, not an ECS service."
  }
  assert {
    condition     = contains(module.prep.container.environment, { name = "PODPIPE_PREP_REQUESTS_PER_MINUTE", value = "0.5" }) && contains(module.prep.container.environment, { name = "PODPIPE_LLM_PROVIDER", value = var.llm_provider })
    error_message = "The prep task gets the llm settings and prep's own budget."
  }
  assert {
    # Exactly two statements: RunTask on the one task definition in this cluster, PassRole of its two roles to ECS.
    condition = length(data.aws_iam_policy_document.prep_scheduler.statement) == 2 && alltrue([
      for statement in data.aws_iam_policy_document.prep_scheduler.statement : (
        statement.actions == toset(["ecs:RunTask"])
        ? statement.resources == toset(["arn:aws:ecs:us-east-1:123456789012:task-definition/tftest-prep:7"]) && toset(one(statement.condition).values) == toset(["arn:aws:ecs:us-east-1:123456789012:cluster/tftest"])
        : statement.actions == toset(["iam:PassRole"]) && statement.resources == toset(["arn:aws:iam::123456789012:role/tftest-prep-task", "arn:aws:iam::123456789012:role/tftest-prep-execution"]) && toset(one(statement.condition).values) == toset(["ecs-tasks.amazonaws.com"])
      )
    ])
    error_message = "The prep scheduler role may do more than start the prep task and pass its roles."
  }
  assert {
    condition = alltrue([
      for condition in one(data.aws_iam_policy_document.prep_scheduler_assume.statement).condition :
      tolist(condition.values) == tolist(["arn:aws:scheduler:${var.region}:123456789012:schedule/default/tftest-prep-weekly"]) if condition.variable == "aws:SourceArn"
    ])
    error_message = "Only the prep schedule may assume the prep scheduler role."
  }
  assert {
    # The task's writes stay under prep/; it publishes only on the podpipe bus.
    condition = alltrue(flatten([
      for statement in data.aws_iam_policy_document.prep_task.statement : [
        !anytrue([for action in statement.actions : strcontains(action, "*")]),
        !contains(statement.actions, "s3:PutObject") || alltrue([for r in statement.resources : startswith(r, "${local.bucket_arn}/prep/")]),
        !contains(statement.actions, "s3:GetObject") || alltrue([for r in statement.resources : startswith(r, "${local.bucket_arn}/prep/")]),
        !contains(statement.actions, "events:PutEvents") || statement.resources == toset([aws_cloudwatch_event_bus.podpipe.arn]),
      ]
    ]))
    error_message = "The prep task may read or write outside prep/, publish elsewhere, or use a wildcard action."
  }
}

run "llm_is_one_task_that_never_autoscales" {
  assert {
    condition     = module.service["llm"].ecs_service.desired_count == 1
    error_message = "The llm service must run exactly one task: it is the throttle."
  }
  assert {
    condition     = module.service["llm"].autoscaling == null
    error_message = "The llm service must not autoscale."
  }
  assert {
    # A deployment stops the old task before the new one starts: never two consumers.
    condition     = module.service["llm"].ecs_service.deployment_maximum_percent == 100 && module.service["llm"].ecs_service.deployment_minimum_healthy_percent == 0
    error_message = "An llm deployment may run two tasks at once."
  }
  assert {
    condition     = module.service["llm"].ecs_service.capacity_provider == "FARGATE"
    error_message = "The one llm task runs on on-demand Fargate, never waiting for Spot capacity."
  }
  assert {
    condition = alltrue([
      for service in [module.service["transcode"], module.service["clips"], module.service["transcribe"]] :
      service.autoscaling.min_capacity == 0 && service.ecs_service.desired_count == 0
    ])
    error_message = "transcode, clips and transcribe scale from zero."
  }
  assert {
    condition     = module.service["transcode"].autoscaling.queue_name == "tftest-transcode" && module.service["clips"].autoscaling.queue_name == "tftest-clips" && module.service["transcribe"].autoscaling.queue_name == "tftest-transcribe"
    error_message = "Each media service scales on its own queue."
  }
}

run "every_queue_has_its_dlq_and_alarms" {
  assert {
    condition     = toset(keys(module.queue)) == toset(keys(local.topology.queues)) && length(module.queue) == 7
    error_message = "One queue module per topology.yaml queue."
  }
  assert {
    condition = alltrue([
      for name, queue in module.queue :
      queue.redrive_policy.deadLetterTargetArn == queue.dlq_arn
      && queue.redrive_policy.maxReceiveCount == local.topology.queues[name].max_receive_count
      && queue.dlq_name == "tftest-${name}-dlq"
    ])
    error_message = "Every queue dead-letters into its own DLQ after topology.yaml's max_receive_count."
  }
  assert {
    condition = alltrue([
      for name, queue in module.queue :
      queue.alarms.dlq_not_empty.queue_name == queue.dlq_name
      && queue.alarms.oldest_message.queue_name == queue.queue_name
      && queue.alarms.dlq_not_empty.actions == toset([aws_sns_topic.topic["alerts"].arn])
      && queue.alarms.oldest_message.actions == toset([aws_sns_topic.topic["alerts"].arn])
    ])
    error_message = "Every queue has a DLQ alarm and an age alarm that page the alerts topic."
  }
  assert {
    condition = alltrue([
      for name, target in aws_cloudwatch_event_target.topology :
      target.arn == module.queue[local.topology.rules[name].target].queue_arn
    ])
    error_message = "Every rule delivers to the queue topology.yaml names."
  }
}

run "no_wildcard_action_and_no_public_bucket" {
  assert {
    # "*" alone grants everything; task roles may not even use service wildcards ("s3:Get*").
    condition = alltrue(flatten([
      for document in [
        data.aws_iam_policy_document.transcode_task,
        data.aws_iam_policy_document.clips_task,
        data.aws_iam_policy_document.transcribe_task,
        data.aws_iam_policy_document.llm_task,
        data.aws_iam_policy_document.notify_task,
        values(data.aws_iam_policy_document.runtime)[0],
        values(data.aws_iam_policy_document.runtime)[1],
        values(data.aws_iam_policy_document.media)[0],
        values(data.aws_iam_policy_document.media)[1],
        ] : [
        for statement in document.statement : alltrue([for action in statement.actions : !strcontains(action, "*")])
      ]
    ]))
    error_message = "A task role policy grants a wildcard action."
  }
  assert {
    condition = alltrue(flatten([
      for document in [
        data.aws_iam_policy_document.kms,
        data.aws_iam_policy_document.alerts_topic,
        data.aws_iam_policy_document.media_bucket,
        ] : [
        for statement in document.statement : !contains(statement.actions, "*")
      ]
    ]))
    error_message = "A resource policy allows the action \"*\"."
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.media.block_public_acls,
      aws_s3_bucket_public_access_block.media.block_public_policy,
      aws_s3_bucket_public_access_block.media.ignore_public_acls,
      aws_s3_bucket_public_access_block.media.restrict_public_buckets,
      aws_s3_bucket_public_access_block.media.bucket == aws_s3_bucket.media.id,
    ])
    error_message = "The media bucket must block every kind of public access."
  }
  assert {
    # The bucket policy names everyone ("*") only to deny them plain HTTP.
    condition = alltrue([
      for statement in data.aws_iam_policy_document.media_bucket.statement :
      statement.effect == "Deny" if anytrue([for p in statement.principals : contains(p.identifiers, "*")])
    ])
    error_message = "The bucket policy allows something to everyone."
  }
}

run "tasks_get_no_public_ip_and_run_hardened" {
  assert {
    condition = alltrue([
      for service in [module.service["transcode"], module.service["clips"], module.service["transcribe"], module.service["llm"], module.service["notify"]] :
      service.ecs_service.assign_public_ip == false
    ])
    error_message = "An ECS task gets a public IP."
  }
  assert {
    condition     = alltrue([for subnet in concat(aws_subnet.private, aws_subnet.public) : subnet.map_public_ip_on_launch == false]) && length(aws_subnet.private) == 2
    error_message = "The tasks' subnets hand out public IPs."
  }
  assert {
    condition = alltrue([
      for service in [module.service["transcode"], module.service["clips"], module.service["transcribe"], module.service["llm"], module.service["notify"]] :
      service.container.user == "10001:10001"
      && service.container.readonlyRootFilesystem
      && !service.container.privileged
      && service.container.linuxParameters.capabilities.drop == ["ALL"]
    ])
    error_message = "A container runs as root, with a writable root filesystem or with capabilities."
  }
  assert {
    condition     = length(aws_security_group.tasks.ingress) == 0
    error_message = "The tasks' security group accepts inbound traffic."
  }
}

# The guards fail where they should (so the runs above could fail too).
run "an_existing_vpc_needs_its_private_subnets" {
  command = plan
  variables {
    vpc_id = "vpc-0123456789abcdef0"
  }
  expect_failures = [aws_security_group.tasks]
}

run "name_prefix_is_validated" {
  command = plan
  variables {
    name_prefix = "Not_Valid"
  }
  expect_failures = [var.name_prefix]
}
