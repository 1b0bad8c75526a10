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
