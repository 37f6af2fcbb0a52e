variable "region" {
  description = "The AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "The cluster's name."
  type        = string
  default     = "agora-basic"
}

variable "agora_version" {
  description = "The Agora version the binary is."
  type        = string
  default     = "0.1.0"
}

variable "agora_binary_url" {
  description = "https:// or s3:// location of the agora binary for x86_64 Linux."
  type        = string
}

variable "agora_binary_sha256" {
  description = "Its SHA-256, in hex."
  type        = string
}

variable "api_domain_name" {
  description = "The API's DNS name, covered by the certificate."
  type        = string
}

variable "certificate_arn" {
  description = "The ACM certificate of api_domain_name, in var.region."
  type        = string
}

variable "route53_zone_id" {
  description = "The hosted zone to create api_domain_name in (null: make the record yourself)."
  type        = string
  default     = null
}

variable "api_ingress_cidrs" {
  description = "Networks allowed to call the API (a VPN, an office), besides the agents."
  type        = list(string)
  default     = []
}

variable "prometheus_cidrs" {
  description = "Networks of the Prometheus servers that scrape the cluster."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancer: apply with false before destroying."
  type        = bool
  default     = true
}
