# The shared facts every file of the module uses.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0
  name  = var.ami_ssm_parameter
}

data "aws_vpc" "existing" {
  count = var.create_vpc ? 0 : 1
  id    = var.vpc_id
}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  vpc_id             = var.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  vpc_cidr           = var.create_vpc ? aws_vpc.this[0].cidr_block : data.aws_vpc.existing[0].cidr_block
  private_subnet_ids = var.create_vpc ? aws_subnet.private[*].id : var.private_subnet_ids
  public_subnet_ids  = var.create_vpc ? aws_subnet.public[*].id : var.public_subnet_ids
  lb_subnet_ids      = var.load_balancer_internal ? local.private_subnet_ids : local.public_subnet_ids

  ami_id  = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.ami[0].insecure_value
  api_url = "https://${var.api_domain_name}"

  # The SSM parameters the first server creates (SecureString, under the module's KMS key): the
  # cluster key that signs tokens, an operator token and the agents' token. Terraform does not
  # manage them (see README: "Bootstrap"), so their names are fixed here for the IAM policies.
  parameter_prefix          = "/agora/${var.name}"
  parameter_arn_prefix      = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.parameter_prefix}"
  cluster_key_parameter     = "${local.parameter_prefix}/cluster-key"
  admin_token_parameter     = "${local.parameter_prefix}/admin-token"
  agent_token_parameter     = "${local.parameter_prefix}/agent-token"
  server_parameter_arns     = ["${local.parameter_arn_prefix}/cluster-key", "${local.parameter_arn_prefix}/admin-token", "${local.parameter_arn_prefix}/agent-token"]
  agent_token_parameter_arn = "${local.parameter_arn_prefix}/agent-token"

  # s3://BUCKET/KEY: the one object both roles may read. Null for an https:// URL.
  binary_s3_object_arn = startswith(var.agora_binary_url, "s3://") ? "arn:${local.partition}:s3:::${trimprefix(var.agora_binary_url, "s3://")}" : null

  agent_extra_attributes = join(",", [for k, v in var.agent_attributes : "${k}:${v}"])

  common_tags = merge(var.tags, {
    "agora:cluster" = var.name
    "agora:version" = var.agora_version
  })
}
