# The module's inputs. Values that end up in the instances' user data are validated so that
# they cannot break out of the single quotes the scripts put them in.

variable "name" {
  description = "The cluster's name: it prefixes every resource, tags every instance (agora:cluster) and names the SSM parameters (/agora/NAME/...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name: 3 to 24 lowercase letters, digits and dashes, starting with a letter (it must fit in load balancer and ElastiCache names)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "create_vpc" {
  description = "Create a VPC (public subnets for the load balancer and a NAT gateway, private subnets for the instances and Redis). When false, give vpc_id, private_subnet_ids and, for an internet-facing load balancer, public_subnet_ids."
  type        = bool
  default     = true
}

variable "vpc_cidr" {
  description = "The CIDR of the VPC the module creates (create_vpc = true)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zone_count" {
  description = "How many availability zones the created VPC spans (at least 2: ElastiCache's Multi-AZ needs its replica in another zone)."
  type        = number
  default     = 2

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 6
    error_message = "availability_zone_count: between 2 and 6."
  }
}

variable "availability_zones" {
  description = "The zones of the created VPC, by name (at least 2). Empty: the first availability_zone_count available ones. Naming them keeps the subnets where they are whatever AWS adds."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) >= 2
    error_message = "availability_zones: none, or at least 2."
  }
}

variable "vpc_id" {
  description = "An existing VPC (create_vpc = false)."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Existing private subnets, in at least two availability zones, for the servers, agents and Redis (create_vpc = false). They need a route to the internet (NAT) or VPC endpoints for SSM, Secrets Manager, S3 and the binary's URL."
  type        = list(string)
  default     = []
}

variable "public_subnet_ids" {
  description = "Existing public subnets for an internet-facing load balancer (create_vpc = false and load_balancer_internal = false)."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# The API: load balancer, name, certificate
# ---------------------------------------------------------------------------------------------

variable "api_domain_name" {
  description = "The name clients and agents reach the API by, e.g. agora.example.com. The ACM certificate must cover it; agents check the certificate against it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", var.api_domain_name))
    error_message = "api_domain_name: a DNS name in lowercase."
  }
}

variable "certificate_arn" {
  description = "The ACM certificate (covering api_domain_name) of the load balancer's HTTPS listener."
  type        = string
}

variable "route53_zone_id" {
  description = "A Route 53 hosted zone to create api_domain_name in (an alias to the load balancer). Null: make the record yourself (output load_balancer_dns_name)."
  type        = string
  default     = null
}

variable "load_balancer_internal" {
  description = "Whether the load balancer is internal (reachable inside the VPC and what is peered or connected to it). An internet-facing one is reached by the agents through the NAT gateway: add its address to api_ingress_cidrs then."
  type        = bool
  default     = true
}

variable "api_ingress_cidrs" {
  description = "CIDRs allowed to reach the API on 443 at the load balancer, besides the agents (operators, frameworks, CI)."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancer. Turn it off before destroying."
  type        = bool
  default     = true
}

variable "waf_web_acl_arn" {
  description = "A WAFv2 web ACL to associate with the load balancer (null: none)."
  type        = string
  default     = null
}

variable "access_logs_bucket" {
  description = "An S3 bucket (with the ELB log delivery policy) for the load balancer's access logs; null: no access logs."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------------------------

variable "prometheus_cidrs" {
  description = "CIDRs of Prometheus servers allowed to scrape the servers' /metrics (server_port) and the agents' metrics port."
  type        = list(string)
  default     = []
}

variable "prometheus_security_group_id" {
  description = "A security group of Prometheus servers allowed to scrape, as prometheus_cidrs."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# The binary
# ---------------------------------------------------------------------------------------------

variable "agora_version" {
  description = "The Agora version, for tags and the launch templates' descriptions."
  type        = string
}

variable "agora_binary_url" {
  description = "Where instances download the `agora` binary (for the AMI's architecture): an https:// URL or an s3://BUCKET/KEY location (the instance roles may read that one object)."
  type        = string

  validation {
    condition     = can(regex("^(https://|s3://)[^'\\s]+$", var.agora_binary_url))
    error_message = "agora_binary_url: an https:// or s3:// location, without quotes or spaces."
  }
}

variable "agora_binary_sha256" {
  description = "The SHA-256 of the binary, in hex. Instances refuse a download that does not match."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.agora_binary_sha256))
    error_message = "agora_binary_sha256: 64 lowercase hex digits."
  }
}

variable "ami_ssm_parameter" {
  description = "The SSM public parameter naming the AMI (Amazon Linux 2023 by default: it has systemd, curl and the AWS CLI). Its architecture must match the binary's and the instance types'."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "ami_id" {
  description = "An AMI to use instead of ami_ssm_parameter's (with systemd, curl, sha256sum and the AWS CLI v2)."
  type        = string
  default     = null
}

# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------

variable "server_instance_type" {
  description = "Instance type of the `agora server` replicas."
  type        = string
  default     = "t3.small"
}

variable "server_count" {
  description = "How many `agora server` replicas (the autoscaling group keeps exactly this many)."
  type        = number
  default     = 2

  validation {
    condition     = var.server_count >= 1
    error_message = "server_count: at least 1."
  }
}

variable "server_port" {
  description = "The port `agora server` listens on (HTTPS, a self-signed certificate: the load balancer does not check targets' certificates)."
  type        = number
  default     = 5050
}

variable "server_root_volume_gb" {
  description = "Root volume of the servers, in GiB."
  type        = number
  default     = 20
}

variable "admin_token_ttl_days" {
  description = "Lifetime of the operator token the first server puts in SSM (/agora/NAME/admin-token)."
  type        = number
  default     = 90
}

variable "agent_token_ttl_days" {
  description = "Lifetime of the agent token the first server puts in SSM (/agora/NAME/agent-token). Agents read it at boot: an agent running when it expires is refused until restarted with a new one."
  type        = number
  default     = 365
}

# ---------------------------------------------------------------------------------------------
# Store
# ---------------------------------------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type (two nodes: a primary and a replica in another zone)."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_engine_version" {
  description = "ElastiCache Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily ElastiCache snapshots kept."
  type        = number
  default     = 7
}

# ---------------------------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------------------------

variable "agent_instance_type" {
  description = "Instance type of the agents."
  type        = string
  default     = "t3.large"
}

variable "agent_min_size" {
  description = "Least number of agents."
  type        = number
  default     = 1
}

variable "agent_max_size" {
  description = "Most agents."
  type        = number
  default     = 10
}

variable "agent_desired_capacity" {
  description = "Agents to start with (changes later are ignored, so that an autoscaler may own the number)."
  type        = number
  default     = 2
}

variable "agent_root_volume_gb" {
  description = "Root volume of the agents (sandboxes, image cache), in GiB."
  type        = number
  default     = 50
}

variable "agent_metrics_port" {
  description = "The port agents serve Prometheus metrics on (`--metrics-listen`)."
  type        = number
  default     = 5051
}

variable "agent_attributes" {
  description = "Attributes every agent offers (`--attributes`), besides zone, instance_type, instance_id and cluster, which the user data adds."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.agent_attributes : can(regex("^[A-Za-z0-9._-]+$", k)) && can(regex("^[A-Za-z0-9._-]+$", v))])
    error_message = "agent_attributes: keys and values of letters, digits, dots, dashes and underscores."
  }
}

variable "agent_task_ingress_cidrs" {
  description = "CIDRs allowed to reach the agents' task ports (tasks' own services), 1024-65535. Agents always reach each other's."
  type        = list(string)
  default     = []
}

variable "enable_ssm_session" {
  description = "Attach AmazonSSMManagedInstanceCore to both roles, for Session Manager shells (no SSH is opened)."
  type        = bool
  default     = true
}

variable "flow_logs_retention_days" {
  description = "Retention of the created VPC's flow logs in CloudWatch Logs."
  type        = number
  default     = 365
}
