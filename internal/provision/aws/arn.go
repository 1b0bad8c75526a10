package aws

import (
	"fmt"
	"strings"
)

type arnParts struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arnParts, error) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" {
		return arnParts{}, fmt.Errorf("not an ARN: %q", s)
	}
	return arnParts{partition: f[1], service: f[2], region: f[3], account: f[4], resource: f[5]}, nil
}

// PrincipalARN turns a caller ARN into the IAM principal it acts as: an assumed-role session
// becomes its role (without the path, which the session ARN does not carry).
func PrincipalARN(callerARN string) (arn string, kind string, name string, err error) {
	a, err := parseARN(callerARN)
	if err != nil {
		return "", "", "", err
	}
	switch {
	case a.service == "sts" && strings.HasPrefix(a.resource, "assumed-role/"):
		parts := strings.Split(a.resource, "/")
		if len(parts) < 3 {
			return "", "", "", fmt.Errorf("malformed assumed-role ARN %q", callerARN)
		}
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", a.partition, a.account, parts[1]), "role", parts[1], nil
	case a.service == "iam" && strings.HasPrefix(a.resource, "user/"):
		parts := strings.Split(a.resource, "/")
		return callerARN, "user", parts[len(parts)-1], nil
	case a.service == "iam" && strings.HasPrefix(a.resource, "role/"):
		parts := strings.Split(a.resource, "/")
		return callerARN, "role", parts[len(parts)-1], nil
	case a.service == "iam" && a.resource == "root":
		return callerARN, "root", "root", nil
	}
	return callerARN, "other", "", nil
}
