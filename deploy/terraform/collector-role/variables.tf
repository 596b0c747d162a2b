variable "collector_principal_arn" {
  description = "ARN of the principal iamreview's collector runs as (its role or user)."
  type        = string
}

variable "external_id" {
  description = "The ExternalId iamreview sends when it assumes the role."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224
    error_message = "external_id must be 2 to 1224 characters."
  }
}

variable "role_name" {
  description = "Name of the read-only role."
  type        = string
  default     = "IAMReviewReadOnly"
}

variable "organization_discovery" {
  description = "true in the management (or delegated-admin) account: allow listing the Organization's accounts."
  type        = bool
  default     = false
}

variable "policy_generation_trail_bucket" {
  description = "S3 bucket of the CloudTrail logs; set it to create the Access Analyzer policy-generation service role."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for the roles."
  type        = map(string)
  default     = {}
}
