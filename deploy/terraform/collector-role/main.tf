# iamreview collector role: read-only, assumed with an ExternalId. The policy documents are the
# JSON files in deploy/policies (the same ones the CloudFormation template inlines).

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  policies            = "${path.module}/../../policies"
  generates_policies  = var.policy_generation_trail_bucket != ""
  generation_role_arn = local.generates_policies ? aws_iam_role.policy_generation[0].arn : ""
}

data "aws_iam_policy_document" "trust_the_collector" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.collector_principal_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "collector" {
  name                 = var.role_name
  description          = "iamreview read-only collector"
  max_session_duration = 3600
  assume_role_policy   = data.aws_iam_policy_document.trust_the_collector.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "read_only" {
  name   = "IAMReviewReadOnly"
  role   = aws_iam_role.collector.id
  policy = file("${local.policies}/collector-read-only.json")
}

resource "aws_iam_role_policy" "organization_discovery" {
  count  = var.organization_discovery ? 1 : 0
  name   = "IAMReviewOrganizationDiscovery"
  role   = aws_iam_role.collector.id
  policy = file("${local.policies}/organization-reader.json")
}

# Optional: the service role IAM Access Analyzer assumes to generate policies from CloudTrail.
data "aws_iam_policy_document" "trust_access_analyzer" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["access-analyzer.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "policy_generation" {
  count              = local.generates_policies ? 1 : 0
  name               = "${var.role_name}PolicyGeneration"
  description        = "Assumed by IAM Access Analyzer to read CloudTrail logs for policy generation"
  assume_role_policy = data.aws_iam_policy_document.trust_access_analyzer.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "policy_generation_service" {
  count = local.generates_policies ? 1 : 0
  name  = "ReadCloudTrailForPolicyGeneration"
  role  = aws_iam_role.policy_generation[0].id
  policy = templatefile("${local.policies}/policy-generation-service.json", {
    partition    = data.aws_partition.current.partition
    trail_bucket = var.policy_generation_trail_bucket
  })
}

resource "aws_iam_role_policy" "policy_generation_start" {
  count = local.generates_policies ? 1 : 0
  name  = "IAMReviewPolicyGeneration"
  role  = aws_iam_role.collector.id
  policy = templatefile("${local.policies}/policy-generation-start.json", {
    generation_role_arn = local.generation_role_arn
  })
}
