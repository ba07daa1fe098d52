# Tasks never get a public IP. They reach AWS APIs, Bedrock and Slack through ONE NAT gateway
# (~$33/month + $0.045/GB), the cheapest way out for 8+ services: interface endpoints for
# ECR (2), Logs, SQS, EventBridge, SNS, Bedrock Runtime, Transcribe and Secrets Manager cost
# ~$7.30/month each per AZ (~$66/month in one AZ) and Slack still needs the internet.
# S3 goes through a free gateway endpoint, so audio never pays NAT data charges.
# With an existing VPC (vpc_id), its private subnets must already have such a route.

locals {
  create_vpc  = var.vpc_id == null
  vpc_id      = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  subnet_ids  = local.create_vpc ? aws_subnet.private[*].id : var.private_subnet_ids
  azs         = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  public_cidr = cidrsubnet(var.vpc_cidr, 8, 0)
}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first az_count zones by name are used (local.azs), and a new zone gets the next letter, so it never enters that slice; the subnets name their zone, so any change would show as a plan diff, never silently.
  state = "available"
}

#trivy:ignore:AWS-0178 VPC flow logs are opt-in (see the checkov skip below).
resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:VPC flow logs are opt-in (they bill per GB and the traffic is mostly S3 through the gateway endpoint); enable them account-wide if policy requires.
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.name_prefix }
}

# The default security group of the created VPC allows nothing.
resource "aws_default_security_group" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
}

resource "aws_subnet" "private" {
  count             = local.create_vpc ? var.az_count : 0
  vpc_id            = aws_vpc.this[0].id
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, count.index + 10)
  availability_zone = local.azs[count.index]
  # The AWS default, stated: a task here never gets a public IP, whatever launches it.
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name_prefix}-private-${local.azs[count.index]}" }
}

# Holds only the NAT gateway; nothing in it gets a public IP on launch.
resource "aws_subnet" "public" {
  count                   = local.create_vpc ? 1 : 0
  vpc_id                  = aws_vpc.this[0].id
  cidr_block              = local.public_cidr
  availability_zone       = local.azs[0]
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name_prefix}-nat" }
}

resource "aws_internet_gateway" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
}

resource "aws_eip" "nat" {
  count  = local.create_vpc ? 1 : 0
  domain = "vpc"
}

resource "aws_nat_gateway" "this" {
  count         = local.create_vpc ? 1 : 0
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this[0].id
  }
}

resource "aws_route_table_association" "public" {
  count          = local.create_vpc ? 1 : 0
  subnet_id      = aws_subnet.public[0].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_route_table" "private" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[0].id
  }
}

resource "aws_route_table_association" "private" {
  count          = local.create_vpc ? var.az_count : 0
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
}

resource "aws_vpc_endpoint" "s3" {
  count             = local.create_vpc ? 1 : 0
  vpc_id            = aws_vpc.this[0].id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private[0].id]
}

# The tasks listen on nothing; they only call out over HTTPS.
resource "aws_security_group" "tasks" {
  name        = "${var.name_prefix}-tasks"
  description = "podpipe ECS tasks: no inbound, HTTPS out"
  vpc_id      = local.vpc_id

  egress {
    description = "HTTPS to AWS APIs, Bedrock, ECR and the Slack webhook"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    # Slack and Bedrock have no prefix list or fixed range: HTTPS to anywhere, through the NAT.
    #trivy:ignore:AWS-0104
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    precondition {
      condition     = var.vpc_id == null || length(var.private_subnet_ids) > 0
      error_message = "With vpc_id, set private_subnet_ids (private subnets with a NAT route or VPC endpoints)."
    }
  }
}
