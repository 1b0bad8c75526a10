package client

import "strings"

// DescribeSource turns aws-sdk-go-v2's credential Source into words a user recognizes.
func DescribeSource(source string) string {
	name, detail, _ := strings.Cut(source, ": ")
	var d string
	switch name {
	case "EnvConfigCredentials":
		d = "environment variables (AWS_ACCESS_KEY_ID)"
	case "SharedConfigCredentials":
		d = "shared credentials file"
	case "SSOProvider":
		d = "AWS IAM Identity Center (SSO)"
	case "AssumeRoleProvider":
		d = "assumed role"
	case "WebIdentityCredentials":
		d = "web identity (OIDC) role"
	case "EC2RoleProvider":
		d = "EC2 instance role"
	case "CredentialsEndpointProvider":
		d = "container credentials endpoint"
	case "ProcessProvider":
		d = "credential_process"
	case "":
		return "unknown"
	default:
		d = name
	}
	if detail != "" {
		d += " " + detail
	}
	return d
}
