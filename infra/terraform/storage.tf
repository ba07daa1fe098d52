# The one media bucket: uploads/ (raw recordings, the only thing people write), episodes/<id>/
# (every artifact), prompts/ (catalog overrides). Its "Object Created" events go to
# EventBridge, where the topology's default-bus rules route uploads/ to transcode + transcribe.
#trivy:ignore:AWS-0089 Server access logs need a second bucket (see the checkov skip below).
resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket and double the object count; CloudTrail data events are the better audit trail if one is required.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; every artifact except the upload can be re-derived from it.
  bucket = local.bucket_name
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.podpipe.arn
    }
    # S3 Bucket Keys cut KMS requests (and their cost) by orders of magnitude.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket     = aws_s3_bucket.media.id
  depends_on = [aws_s3_bucket_versioning.media]

  # Raw recordings are large and read once (by transcode and transcribe); the published MP3
  # lives under episodes/. Archive them, then delete them.
  rule {
    id     = "uploads"
    status = "Enabled"
    filter {
      prefix = "uploads/"
    }
    transition {
      days          = var.uploads_archive_days
      storage_class = "GLACIER_IR"
    }
    dynamic "expiration" {
      for_each = var.uploads_expiration_days > 0 ? [var.uploads_expiration_days] : []
      content {
        days = expiration.value
      }
    }
  }

  rule {
    id     = "housekeeping"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }
}

resource "aws_s3_bucket_notification" "media" {
  bucket      = aws_s3_bucket.media.id
  eventbridge = true
}

# TLS only.
resource "aws_s3_bucket_policy" "media" {
  bucket     = aws_s3_bucket.media.id
  policy     = data.aws_iam_policy_document.media_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.media]
}

data "aws_iam_policy_document" "media_bucket" {
  # CloudFront (release.tf) may read public/* and nothing else.
  source_policy_documents = [for doc in data.aws_iam_policy_document.public_via_cloudfront : doc.json]

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
