# The store: ElastiCache Redis OSS, a primary and one replica in another zone, with automatic
# failover, TLS in transit, encryption at rest and an AUTH token kept in Secrets Manager.
#
# Servers connect to the primary endpoint: a DNS name that ElastiCache points at the new
# primary on a failover, which the servers reach again by reconnecting (README: "Why the
# primary endpoint and not Sentinel").

# The AUTH token, made by Secrets Manager (GetRandomPassword) through the aws provider: no other
# provider to install. ElastiCache takes 16 to 128 printable characters, and of the
# non-alphanumeric ones only ! & # $ ^ < > - (no '@', '"', '/', '%' or spaces): letters and digits
# only, 64 of them, need no quoting anywhere.
#
# A data source is read again on every plan, so each plan sees a new password: the secret
# version takes the first one and ignores the later ones (ignore_changes), and the replication
# group's auth_token is that version's secret_string, so the token stays the one of the first
# apply. The Terraform caller needs secretsmanager:GetRandomPassword.
#
# Rotation (README: "The store's AUTH token"): `terraform apply -replace=` this secret version
# puts a new password in the secret and changes the group's auth_token with the ROTATE strategy
# (Redis accepts the old and the new token); then an instance refresh of the servers (they read
# the secret at boot); then `aws elasticache modify-replication-group
# --auth-token-update-strategy SET` with the new token drops the old one. auth_token is
# deliberately not in an ignore_changes: should the secret version ever be made again, the
# group follows it (ROTATE) instead of keeping a token the secret no longer holds.
data "aws_secretsmanager_random_password" "store" {
  password_length     = 64
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "store_password" {
  #checkov:skip=CKV2_AWS_57:Rotating the AUTH token needs ElastiCache's ROTATE strategy and a restart of every server with the new one; no Lambda of ours does that yet (README: checkov skips)
  name                    = "agora/${var.name}/store-password"
  description             = "AUTH token of the Redis store of Agora cluster ${var.name}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
  tags                    = local.common_tags
}

resource "aws_secretsmanager_secret_version" "store_password" {
  secret_id     = aws_secretsmanager_secret.store_password.id
  secret_string = data.aws_secretsmanager_random_password.store.random_password

  lifecycle {
    # Only the first password: a new one is read at every plan (above).
    ignore_changes = [secret_string]
  }
}

resource "aws_elasticache_subnet_group" "store" {
  name       = "${var.name}-store"
  subnet_ids = local.private_subnet_ids
  tags       = local.common_tags
}

# Agora's state must never be evicted: a full Redis refuses writes instead (noeviction), which
# the servers report as errors rather than silently losing tasks.
resource "aws_elasticache_parameter_group" "store" {
  name   = "${var.name}-store"
  family = "redis${split(".", var.redis_engine_version)[0]}"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  tags = local.common_tags
}

resource "aws_elasticache_replication_group" "store" {
  replication_group_id = "${var.name}-store"
  description          = "Agora cluster ${var.name}: the state store"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.store.name
  subnet_group_name    = aws_elasticache_subnet_group.store.name
  security_group_ids   = [aws_security_group.store.id]

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true

  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  auth_token                 = aws_secretsmanager_secret_version.store_password.secret_string
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  snapshot_window            = "03:00-04:00"
  maintenance_window         = "sun:05:00-sun:06:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = local.common_tags
}
