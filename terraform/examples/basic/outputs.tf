output "api_url" {
  description = "The API's URL (AGORA_ADDR)."
  value       = module.agora.api_url
}

output "admin_token_command" {
  description = "Prints the operator token (AGORA_TOKEN)."
  value       = module.agora.admin_token_command
}

output "load_balancer_dns_name" {
  description = "Where api_domain_name must point."
  value       = module.agora.load_balancer_dns_name
}

output "prometheus_scrape_config" {
  description = "scrape_configs entries that find the instances by tag."
  value       = module.agora.prometheus_scrape_config
}

output "autoscaler_policy_json" {
  description = "The IAM policy of the future agora-autoscaler."
  value       = module.agora.autoscaler_policy_json
}

output "cleanup_command" {
  description = "Run after terraform destroy: deletes the SSM parameters the servers made."
  value       = module.agora.cleanup_command
}
