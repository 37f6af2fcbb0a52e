# Instance roles. Servers read the store password, and create or read the cluster key and the
# two tokens in SSM (the first server creates them: README "Bootstrap"); agents read their
# token and nothing else. Both may read the binary when it is in S3.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# --- Servers -------------------------------------------------------------------------------------

resource "aws_iam_role" "server" {
  name_prefix        = "${var.name}-server-"
  description        = "Agora ${var.name}: agora server instances"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = local.common_tags
}

data "aws_iam_policy_document" "server" {
  statement {
    sid       = "ReadTheStorePassword"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.store_password.arn]
  }

  # PutParameter without --overwrite is how the first server claims the cluster key: a second
  # server's put fails (ParameterAlreadyExists) and it reads the first one's.
  statement {
    sid       = "CreateAndReadTheClusterKeyAndTokens"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = local.server_parameter_arns
  }

  statement {
    sid       = "UseTheClusterKmsKeyThroughSsmAndSecretsManager"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com", "secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = local.binary_s3_object_arn == null ? [] : [local.binary_s3_object_arn]
    content {
      sid       = "ReadTheBinary"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "server" {
  name   = "agora-server"
  role   = aws_iam_role.server.id
  policy = data.aws_iam_policy_document.server.json
}

resource "aws_iam_instance_profile" "server" {
  name_prefix = "${var.name}-server-"
  role        = aws_iam_role.server.name
  tags        = local.common_tags
}

# --- Agents --------------------------------------------------------------------------------------

resource "aws_iam_role" "agent" {
  name_prefix        = "${var.name}-agent-"
  description        = "Agora ${var.name}: agora agent instances"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = local.common_tags
}

data "aws_iam_policy_document" "agent" {
  statement {
    sid       = "ReadTheAgentToken"
    actions   = ["ssm:GetParameter"]
    resources = [local.agent_token_parameter_arn]
  }

  statement {
    sid       = "DecryptTheAgentTokenThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = local.binary_s3_object_arn == null ? [] : [local.binary_s3_object_arn]
    content {
      sid       = "ReadTheBinary"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "agent" {
  name   = "agora-agent"
  role   = aws_iam_role.agent.id
  policy = data.aws_iam_policy_document.agent.json
}

resource "aws_iam_instance_profile" "agent" {
  name_prefix = "${var.name}-agent-"
  role        = aws_iam_role.agent.name
  tags        = local.common_tags
}

# Session Manager shells instead of SSH (no port is opened for it).
resource "aws_iam_role_policy_attachment" "ssm_core" {
  for_each   = var.enable_ssm_session ? { server = aws_iam_role.server.name, agent = aws_iam_role.agent.name } : {}
  role       = each.value
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# --- The EC2 autoscaler (agora-autoscaler, a later binary) ---------------------------------------
#
# Not attached to anything: output autoscaler_policy_json, for the role that will run it. It
# may launch agents only from the agents' launch template, in the cluster's subnets, and only
# tagged as its own; tag only at launch; terminate only instances tagged as its own.

locals {
  autoscaler_tag_key   = "agora:autoscaler"
  autoscaler_tag_value = var.name
}

data "aws_iam_policy_document" "autoscaler" {
  statement {
    sid     = "RunAgentsFromTheLaunchTemplateOnly"
    actions = ["ec2:RunInstances"]
    resources = [
      aws_launch_template.agent.arn,
      "arn:${local.partition}:ec2:${local.region}::image/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/${aws_security_group.agents.id}",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*",
    ]
  }

  statement {
    sid     = "RunAgentsInTheClustersSubnetsOnly"
    actions = ["ec2:RunInstances"]
    resources = [
      for id in local.private_subnet_ids : "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/${id}"
    ]
  }

  # The instance itself must be tagged as the autoscaler's and the cluster's at launch.
  statement {
    sid       = "RunOnlyInstancesTaggedAsItsOwn"
    actions   = ["ec2:RunInstances"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.autoscaler_tag_key}"
      values   = [local.autoscaler_tag_value]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/agora:cluster"
      values   = [var.name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/agora:role"
      values   = ["agent"]
    }
  }

  statement {
    sid       = "TagOnlyWhileLaunching"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:*/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }

  statement {
    sid       = "TerminateOnlyItsOwnInstances"
    actions   = ["ec2:TerminateInstances"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.autoscaler_tag_key}"
      values   = [local.autoscaler_tag_value]
    }
  }

  # The Describe calls it needs (not ec2:Describe*, which includes some that can be limited
  # to resources). These cannot be: EC2 answers them for the whole region or not at all.
  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeInstanceTypeOfferings",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeInstances",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:DescribeLaunchTemplates",
      "ec2:DescribeSpotPriceHistory",
      "ec2:DescribeSubnets",
      "ec2:DescribeTags",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "PassTheAgentRoleToEc2Only"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.agent.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadTheAgentToken"
    actions   = ["ssm:GetParameter"]
    resources = [local.agent_token_parameter_arn]
  }

  statement {
    sid       = "DecryptTheAgentTokenThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }
}
