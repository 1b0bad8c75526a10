package clusterconfig

import (
	"crypto/sha256"
	"encoding/hex"
)

// BucketName is the cluster's S3 bucket: <cluster_name>-<first 8 hex chars of sha256(account+region)>.
func BucketName(clusterName, accountID, region string) string {
	sum := sha256.Sum256([]byte(accountID + region))
	return clusterName + "-" + hex.EncodeToString(sum[:])[:8]
}

// PolicyName is the name of the cluster's default IAM policy.
func PolicyName(clusterName, region string) string { return "cortex-" + clusterName + "-" + region }

// LogGroupName is the cluster's CloudWatch log group.
func LogGroupName(clusterName string) string { return clusterName }

// RolePrefix is the prefix of the IAM roles cortex makes for a cluster: cortex-<name>-<hash of
// name and region>, short enough that every role name stays within IAM's 64 characters.
func RolePrefix(clusterName, region string) string {
	sum := sha256.Sum256([]byte(clusterName + "/" + region))
	name := clusterName
	if len(name) > 40 {
		name = name[:40]
	}
	return "cortex-" + name + "-" + hex.EncodeToString(sum[:])[:8]
}

// RoleName is one of the cluster's IAM roles (kind is "cluster" or "node").
func RoleName(clusterName, region, kind string) string {
	return RolePrefix(clusterName, region) + "-" + kind
}

// LoadBalancerName is the name of the operator or api load balancer (at most 32 characters).
func LoadBalancerName(clusterName, region, kind string) string {
	sum := sha256.Sum256([]byte(clusterName + "/" + region))
	return "cortex-" + hex.EncodeToString(sum[:])[:12] + "-" + kind
}
