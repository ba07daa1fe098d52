# One customer-managed key ($1/month) for the bucket, the SNS topics, the log groups and ECR.
# A CMK (not the AWS-managed aws/sns key) because CloudWatch alarms can only publish to an
# encrypted topic whose key policy lets cloudwatch.amazonaws.com use the key.
resource "aws_kms_key" "podpipe" {
  description             = "${var.name_prefix}: media bucket, SNS topics, logs, images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "podpipe" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.podpipe.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's resource "*" means "this key"; the account root statement delegates to IAM as AWS recommends.
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" means "this key"; write access is limited to this account's IAM principals.
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" means "this key".
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopics"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptServiceLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/podpipe/${var.name_prefix}/*"]
    }
  }
}
