# One customer-managed key for the cluster's secrets: the store password (Secrets Manager), the
# SSM parameters the servers create (cluster key, tokens), Redis at rest and the flow logs.

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy: its resource "*" means this key only, and the account-root statement is AWS's default one, which hands control to IAM policies
  #checkov:skip=CKV_AWS_356:A key policy: its resource "*" means this key only
  #checkov:skip=CKV_AWS_109:A key policy: the account-root statement is AWS's default one, which hands control to IAM policies (without it the key cannot be managed at all)
  # The account administers and uses the key through IAM policies (the instance roles' own
  # policies grant them exactly what they need, through SSM and Secrets Manager only).
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the flow logs' group with it, for this account's log groups only.
  statement {
    sid       = "CloudWatchLogsEncryptsTheClustersLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/agora/${var.name}/*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "Agora cluster ${var.name}: store password, cluster key and tokens, Redis at rest, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.common_tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/agora-${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
