output "api_url" {
  description = "The API's URL, for the CLI (AGORA_ADDR), frameworks and agents."
  value       = local.api_url
}

output "load_balancer_dns_name" {
  description = "The load balancer's DNS name: point api_domain_name at it (a CNAME or an alias) unless route53_zone_id made the record."
  value       = aws_lb.api.dns_name
}

output "load_balancer_zone_id" {
  description = "The load balancer's hosted zone, for an alias record."
  value       = aws_lb.api.zone_id
}

output "admin_token_parameter" {
  description = "The SSM parameter (SecureString) holding the operator token the first server issued."
  value       = local.admin_token_parameter
}

output "admin_token_command" {
  description = "The command that prints the operator token (it exists once the first server has booted)."
  value       = "aws ssm get-parameter --region ${local.region} --name ${local.admin_token_parameter} --with-decryption --query Parameter.Value --output text"
}

output "agent_token_parameter" {
  description = "The SSM parameter (SecureString) agents read their token from."
  value       = local.agent_token_parameter
}

output "cluster_key_parameter" {
  description = "The SSM parameter (SecureString) holding the key that signs every token: whoever reads it can mint any token."
  value       = local.cluster_key_parameter
}

output "cleanup_command" {
  description = "Deletes the SSM parameters the servers created, which Terraform does not manage: run it after terraform destroy."
  value       = "aws ssm delete-parameters --region ${local.region} --names ${local.cluster_key_parameter} ${local.admin_token_parameter} ${local.agent_token_parameter}"
}

output "store_primary_endpoint" {
  description = "The Redis primary endpoint (a DNS name that follows failovers)."
  value       = aws_elasticache_replication_group.store.primary_endpoint_address
}

output "store_password_secret_arn" {
  description = "The Secrets Manager secret holding Redis's AUTH token."
  value       = aws_secretsmanager_secret.store_password.arn
}

output "kms_key_arn" {
  description = "The cluster's KMS key."
  value       = aws_kms_key.this.arn
}

output "vpc_id" {
  description = "The VPC the cluster is in."
  value       = local.vpc_id
}

output "private_subnet_ids" {
  description = "The subnets of the instances and Redis."
  value       = local.private_subnet_ids
}

output "security_group_ids" {
  description = "The security groups: add rules to `agents` for what tasks need beyond HTTPS."
  value = {
    lb      = aws_security_group.lb.id
    servers = aws_security_group.servers.id
    agents  = aws_security_group.agents.id
    store   = aws_security_group.store.id
  }
}

output "server_autoscaling_group_name" {
  description = "The servers' autoscaling group."
  value       = aws_autoscaling_group.server.name
}

output "agent_autoscaling_group_name" {
  description = "The agents' autoscaling group."
  value       = aws_autoscaling_group.agent.name
}

output "agent_launch_template_id" {
  description = "The agents' launch template (the autoscaler launches from it)."
  value       = aws_launch_template.agent.id
}

output "agent_role_arn" {
  description = "The agents' IAM role (the autoscaler passes it to the instances it launches)."
  value       = aws_iam_role.agent.arn
}

output "server_role_arn" {
  description = "The servers' IAM role."
  value       = aws_iam_role.server.arn
}

output "autoscaler_policy_json" {
  description = "The IAM policy the EC2 autoscaler (agora-autoscaler) needs: run agents from their launch template tagged agora:autoscaler=NAME, tag at launch, terminate only instances so tagged, describe, pass the agent role, read the agent token."
  value       = data.aws_iam_policy_document.autoscaler.json
}

output "prometheus_scrape_config" {
  description = "scrape_configs entries for Prometheus that find the servers and agents by their tags (ec2_sd_configs; Prometheus needs ec2:DescribeInstances and ec2:DescribeAvailabilityZones)."
  value       = <<-EOT
    - job_name: agora-servers
      scheme: https
      tls_config:
        # Each server's certificate is its own self-signed one (README: "Prometheus").
        insecure_skip_verify: true
      ec2_sd_configs:
        - region: ${local.region}
          port: ${var.server_port}
          filters:
            - name: tag:agora:cluster
              values: [${var.name}]
            - name: tag:agora:role
              values: [server]
      relabel_configs:
        - source_labels: [__meta_ec2_instance_id]
          target_label: instance
        - source_labels: [__meta_ec2_availability_zone]
          target_label: zone
    - job_name: agora-agents
      ec2_sd_configs:
        - region: ${local.region}
          port: ${var.agent_metrics_port}
          filters:
            - name: tag:agora:cluster
              values: [${var.name}]
            - name: tag:agora:role
              values: [agent]
      relabel_configs:
        - source_labels: [__meta_ec2_instance_id]
          target_label: instance
        - source_labels: [__meta_ec2_availability_zone]
          target_label: zone
  EOT
}
