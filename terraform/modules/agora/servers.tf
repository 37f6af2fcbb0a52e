# agora server replicas: an autoscaling group of exactly server_count instances in the private
# subnets, registered with the load balancer's target group, replaced when unhealthy there.

resource "aws_launch_template" "server" {
  name_prefix            = "${var.name}-server-"
  description            = "agora server ${var.agora_version}"
  image_id               = local.ami_id
  instance_type          = var.server_instance_type
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.server.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.servers.id]
  }

  # IMDSv2 only, and one hop: a container on the instance cannot reach it.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.server_root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/server-user-data.sh.tftpl", {
    cluster_name          = var.name
    region                = local.region
    binary_url            = var.agora_binary_url
    binary_sha256         = var.agora_binary_sha256
    store_url             = "rediss://${aws_elasticache_replication_group.store.primary_endpoint_address}:${aws_elasticache_replication_group.store.port}"
    store_secret_id       = aws_secretsmanager_secret.store_password.arn
    kms_key_id            = aws_kms_key.this.arn
    cluster_key_parameter = local.cluster_key_parameter
    admin_token_parameter = local.admin_token_parameter
    agent_token_parameter = local.agent_token_parameter
    admin_token_ttl_secs  = var.admin_token_ttl_days * 86400
    agent_token_ttl_secs  = var.agent_token_ttl_days * 86400
    listen_host           = "0.0.0.0"
    server_port           = var.server_port
    trusted_proxies       = local.vpc_cidr
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.common_tags, { Name = "${var.name}-server", "agora:role" = "server" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.common_tags, { Name = "${var.name}-server", "agora:role" = "server" })
  }

  tags = local.common_tags
}

resource "aws_autoscaling_group" "server" {
  name_prefix               = "${var.name}-server-"
  min_size                  = var.server_count
  max_size                  = var.server_count
  desired_capacity          = var.server_count
  vpc_zone_identifier       = local.private_subnet_ids
  target_group_arns         = [aws_lb_target_group.servers.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.server.id
    version = aws_launch_template.server.latest_version
  }

  # A new launch template (a new version of Agora) replaces the servers one at a time: the
  # others keep serving meanwhile.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(local.common_tags, { Name = "${var.name}-server", "agora:role" = "server" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # The store and the secrets are there before the first server boots.
  depends_on = [aws_secretsmanager_secret_version.store_password, aws_iam_role_policy.server]
}
