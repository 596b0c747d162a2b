output "collector_role_arn" {
  description = "Give this ARN to iamreview (aws_accounts add --role-arn, or the Collection page)."
  value       = aws_iam_role.collector.arn
}

output "policy_generation_role_arn" {
  description = "The Access Analyzer policy-generation service role, when created."
  value       = local.generation_role_arn
}
