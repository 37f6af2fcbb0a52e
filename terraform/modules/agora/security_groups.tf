# Least privilege between the four groups:
#
#   clients (api_ingress_cidrs) ──443──▶ load balancer ──server_port──▶ servers ──6379──▶ Redis
#   agents ──────────────────────443──▶ load balancer
#   Prometheus ──server_port──▶ servers, ──agent_metrics_port──▶ agents
#
# Servers and agents go out on 443 only (SSM, Secrets Manager, S3, the binary's URL, the load
# balancer); agents' tasks reach each other on 1024-65535. Nothing is open to SSH.

resource "aws_security_group" "lb" {
  name_prefix = "${var.name}-lb-"
  description = "Agora ${var.name}: the API load balancer"
  vpc_id      = local.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.name}-lb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "servers" {
  name_prefix = "${var.name}-servers-"
  description = "Agora ${var.name}: agora server replicas"
  vpc_id      = local.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.name}-servers" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "store" {
  name_prefix = "${var.name}-store-"
  description = "Agora ${var.name}: the Redis store"
  vpc_id      = local.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.name}-store" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "agents" {
  name_prefix = "${var.name}-agents-"
  description = "Agora ${var.name}: agents and their tasks"
  vpc_id      = local.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.name}-agents" })

  lifecycle {
    create_before_destroy = true
  }
}

# --- The load balancer -------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "lb_from_clients" {
  for_each          = toset(var.api_ingress_cidrs)
  security_group_id = aws_security_group.lb.id
  description       = "HTTPS API from an allowed client network"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "lb_from_agents" {
  security_group_id            = aws_security_group.lb.id
  description                  = "HTTPS API from the agents"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.agents.id
}

resource "aws_vpc_security_group_egress_rule" "lb_to_servers" {
  security_group_id            = aws_security_group.lb.id
  description                  = "To the servers' API port (requests and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.server_port
  to_port                      = var.server_port
  referenced_security_group_id = aws_security_group.servers.id
}

# --- Servers -------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "servers_from_lb" {
  security_group_id            = aws_security_group.servers.id
  description                  = "API from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.server_port
  to_port                      = var.server_port
  referenced_security_group_id = aws_security_group.lb.id
}

resource "aws_vpc_security_group_ingress_rule" "servers_from_prometheus_cidrs" {
  for_each          = toset(var.prometheus_cidrs)
  security_group_id = aws_security_group.servers.id
  description       = "Prometheus scrapes /metrics"
  ip_protocol       = "tcp"
  from_port         = var.server_port
  to_port           = var.server_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "servers_from_prometheus_sg" {
  count                        = var.prometheus_security_group_id == null ? 0 : 1
  security_group_id            = aws_security_group.servers.id
  description                  = "Prometheus scrapes /metrics"
  ip_protocol                  = "tcp"
  from_port                    = var.server_port
  to_port                      = var.server_port
  referenced_security_group_id = var.prometheus_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "servers_to_store" {
  security_group_id            = aws_security_group.servers.id
  description                  = "To Redis"
  ip_protocol                  = "tcp"
  from_port                    = aws_elasticache_replication_group.store.port
  to_port                      = aws_elasticache_replication_group.store.port
  referenced_security_group_id = aws_security_group.store.id
}

resource "aws_vpc_security_group_egress_rule" "servers_https" {
  security_group_id = aws_security_group.servers.id
  description       = "HTTPS out: SSM, Secrets Manager, S3 and the binary's URL"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# --- Redis ---------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "store_from_servers" {
  security_group_id            = aws_security_group.store.id
  description                  = "Redis from the servers only"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.servers.id
}

# --- Agents --------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "agents_metrics_from_prometheus_cidrs" {
  for_each          = toset(var.prometheus_cidrs)
  security_group_id = aws_security_group.agents.id
  description       = "Prometheus scrapes the agents' /metrics"
  ip_protocol       = "tcp"
  from_port         = var.agent_metrics_port
  to_port           = var.agent_metrics_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "agents_metrics_from_prometheus_sg" {
  count                        = var.prometheus_security_group_id == null ? 0 : 1
  security_group_id            = aws_security_group.agents.id
  description                  = "Prometheus scrapes the agents' /metrics"
  ip_protocol                  = "tcp"
  from_port                    = var.agent_metrics_port
  to_port                      = var.agent_metrics_port
  referenced_security_group_id = var.prometheus_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "agents_tasks_from_agents" {
  #checkov:skip=CKV_AWS_25:False positive: the source is the agents' own group (referenced_security_group_id), which this check does not read for aws_vpc_security_group_ingress_rule, so it takes the rule for 0.0.0.0/0
  security_group_id            = aws_security_group.agents.id
  description                  = "Tasks reach each other's ports"
  ip_protocol                  = "tcp"
  from_port                    = 1024
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.agents.id
}

resource "aws_vpc_security_group_ingress_rule" "agents_tasks_from_cidrs" {
  for_each          = toset(var.agent_task_ingress_cidrs)
  security_group_id = aws_security_group.agents.id
  description       = "Clients of the tasks' services"
  ip_protocol       = "tcp"
  from_port         = 1024
  to_port           = 65535
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "agents_tasks_to_agents" {
  security_group_id            = aws_security_group.agents.id
  description                  = "Tasks reach each other's ports"
  ip_protocol                  = "tcp"
  from_port                    = 1024
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.agents.id
}

resource "aws_vpc_security_group_egress_rule" "agents_https" {
  security_group_id = aws_security_group.agents.id
  description       = "HTTPS out: the API load balancer, SSM, S3, the binary's URL, image registries"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
