# Agents: an autoscaling group from a launch template whose user data installs `agora agent` as
# a systemd unit, with the agent token read from SSM at boot. The group's desired capacity is
# set once and then left alone, so that an autoscaler may own it.

resource "aws_launch_template" "agent" {
  name_prefix            = "${var.name}-agent-"
  description            = "agora agent ${var.agora_version}"
  image_id               = local.ami_id
  instance_type          = var.agent_instance_type
  update_default_version = true
  ebs_optimized          = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.agent.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.agents.id]
  }

  # IMDSv2 only, and one hop: tasks in containers cannot reach the agent role's credentials.
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
      volume_size           = var.agent_root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/agent-user-data.sh.tftpl", {
    cluster_name          = var.name
    region                = local.region
    binary_url            = var.agora_binary_url
    binary_sha256         = var.agora_binary_sha256
    master_url            = local.api_url
    agent_token_parameter = local.agent_token_parameter
    metrics_port          = var.agent_metrics_port
    extra_attributes      = local.agent_extra_attributes
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.common_tags, { Name = "${var.name}-agent", "agora:role" = "agent" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.common_tags, { Name = "${var.name}-agent", "agora:role" = "agent" })
  }

  tags = local.common_tags
}

resource "aws_autoscaling_group" "agent" {
  name_prefix               = "${var.name}-agent-"
  min_size                  = var.agent_min_size
  max_size                  = var.agent_max_size
  desired_capacity          = var.agent_desired_capacity
  vpc_zone_identifier       = local.private_subnet_ids
  health_check_type         = "EC2"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.agent.id
    version = aws_launch_template.agent.latest_version
  }

  dynamic "tag" {
    for_each = merge(local.common_tags, { Name = "${var.name}-agent", "agora:role" = "agent" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }

  depends_on = [aws_iam_role_policy.agent]
}
