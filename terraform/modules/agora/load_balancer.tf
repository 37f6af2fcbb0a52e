# The API: an Application Load Balancer with an HTTPS listener (the ACM certificate), forwarding
# to the servers over HTTPS (each server's own self-signed certificate: the load balancer does
# not check targets' certificates, but the token never crosses the VPC in clear text).
# Event streams are long-lived requests; servers send heartbeats every 15 s, within the idle
# timeout.

resource "aws_lb" "api" {
  name                       = "${var.name}-api"
  internal                   = var.load_balancer_internal
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.lb.id]
  subnets                    = local.lb_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 120

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "agora-${var.name}"
      enabled = true
    }
  }

  tags = local.common_tags
}

resource "aws_lb_target_group" "servers" {
  name                 = "${var.name}-servers"
  port                 = var.server_port
  protocol             = "HTTPS"
  vpc_id               = local.vpc_id
  target_type          = "instance"
  deregistration_delay = 30

  health_check {
    protocol            = "HTTPS"
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.common_tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.servers.arn
  }

  tags = local.common_tags
}

# /metrics is for Prometheus, which scrapes each server directly (output prometheus_scrape_config):
# the load balancer does not serve it.
resource "aws_lb_listener_rule" "no_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not here"
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  tags = local.common_tags
}

resource "aws_wafv2_web_acl_association" "api" {
  count        = var.waf_web_acl_arn == null ? 0 : 1
  resource_arn = aws_lb.api.arn
  web_acl_arn  = var.waf_web_acl_arn
}

resource "aws_route53_record" "api" {
  count   = var.route53_zone_id == null ? 0 : 1
  zone_id = var.route53_zone_id
  name    = var.api_domain_name
  type    = "A"

  alias {
    name                   = aws_lb.api.dns_name
    zone_id                = aws_lb.api.zone_id
    evaluate_target_health = true
  }
}
