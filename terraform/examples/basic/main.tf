# The smallest production-shaped Agora on AWS: a VPC of its own across two zones, two servers
# behind an internal HTTPS load balancer, ElastiCache Redis (primary and replica), two agents.
#
#   terraform init
#   terraform apply -var certificate_arn=arn:aws:acm:... -var api_domain_name=agora.example.com \
#     -var route53_zone_id=Z123... -var agora_binary_url=https://.../agora -var agora_binary_sha256=...
#   $(terraform output -raw admin_token_command)      # the operator token, once a server is up

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
  }
}

provider "aws" {
  region = var.region
}

module "agora" {
  source = "../../modules/agora"

  name                = var.name
  agora_version       = var.agora_version
  agora_binary_url    = var.agora_binary_url
  agora_binary_sha256 = var.agora_binary_sha256

  api_domain_name   = var.api_domain_name
  certificate_arn   = var.certificate_arn
  route53_zone_id   = var.route53_zone_id
  api_ingress_cidrs = var.api_ingress_cidrs
  prometheus_cidrs  = var.prometheus_cidrs

  server_instance_type = "t3.small"
  server_count         = 2
  redis_node_type      = "cache.t4g.small"

  agent_instance_type    = "t3.large"
  agent_min_size         = 1
  agent_max_size         = 4
  agent_desired_capacity = 2
  agent_attributes       = { pool = "general" }

  # Apply with -var deletion_protection=false before `terraform destroy`.
  deletion_protection = var.deletion_protection

  tags = { project = "agora-example" }
}
