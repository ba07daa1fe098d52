data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # THE topology declaration, shared with `podpipe local bootstrap`: the bus, every queue
  # (with its DLQ) and every rule below come from this file, so LocalStack and AWS cannot drift.
  topology = yamldecode(file("${path.module}/../../src/podpipe/topology.yaml"))

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Names follow podpipe.topology: "<prefix>-<name>", DLQs "<prefix>-<queue>-dlq".
  bus_name    = "${var.name_prefix}-${local.topology.bus}"
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.name_prefix}-${local.topology.bucket}-${local.account_id}-${var.region}"
  bucket_arn  = "arn:${local.partition}:s3:::${local.bucket_name}"

  # Which ECS service consumes which topology queue. Every queue has exactly one consumer
  # (tests/unit/test_infra_terraform.py checks this against topology.yaml).
  service_queues = {
    transcode  = ["transcode"]
    clips      = ["clips"]
    transcribe = ["transcribe"]
    llm        = ["llm-dispatch", "llm"]
    notify     = ["notify"]
    promote    = ["promote"]
  }
  service_names = sort(keys(local.service_queues))

  default_task_sizes = {
    # ffmpeg's loudnorm is single-threaded per pass; 1 vCPU is enough, the disk holds a 4 h WAV.
    transcode = { cpu = 1024, memory = 2048, ephemeral_storage_gib = 30 }
    # x264 audiograms and picture cuts use what they get; the disk holds the MP3 and video.mp4.
    clips = { cpu = 1024, memory = 2048, ephemeral_storage_gib = 30 }
    # faster-whisper int8 uses every core it gets; 2 vCPU ~ 2.5x real time for Whisper base.
    transcribe = { cpu = 2048, memory = 4096, ephemeral_storage_gib = 30 }
    # The LLM worker mostly waits on the model and the rate limiter.
    llm    = { cpu = 256, memory = 512, ephemeral_storage_gib = 21 }
    notify = { cpu = 256, memory = 512, ephemeral_storage_gib = 21 }
    # One post at a time: it waits on the network.
    promote = { cpu = 256, memory = 512, ephemeral_storage_gib = 21 }
  }
  task_sizes = merge(local.default_task_sizes, var.task_sizes)

  image_tags = { for name in local.service_names : name => lookup(var.image_tags, name, var.image_tag) }
  images = {
    for name in local.service_names : name => (
      var.image_registry != ""
      ? "${var.image_registry}/${var.name_prefix}-${name}:${local.image_tags[name]}"
      : "${aws_ecr_repository.service[name].repository_url}:${local.image_tags[name]}"
    )
  }

  # The Bedrock models IAM allows: exactly the configured ones.
  llm_models = distinct(concat([var.default_model], keys(var.model_rate_limits), var.additional_models))

  alert_email = var.alert_email != "" ? var.alert_email : var.notification_email

  # What every service reads (podpipe.settings.CoreSettings).
  core_environment = {
    PODPIPE_NAME_PREFIX = var.name_prefix
    PODPIPE_BUCKET      = local.bucket_name
    PODPIPE_BUS_NAME    = local.bus_name
    PODPIPE_LOG_LEVEL   = "INFO"
    PODPIPE_LOG_JSON    = "true"
    AWS_REGION          = var.region
    # Read-only root filesystem: every scratch file and cache goes to the /tmp volume.
    TMPDIR = "/tmp"
    HOME   = "/tmp"
  }
}
