package clusterconfig

// Example is the commented cluster.yaml printed by `cortex cluster example-config`.
const Example = `# cluster.yaml: configuration of a cortex cluster on AWS.
# Create it with: cortex cluster up cluster.yaml
# Every field is optional; the values shown are the defaults unless marked "example".

# Name of the cluster: 3-54 lowercase letters, digits and hyphens (it is part of the S3 bucket name).
cluster_name: cortex

# AWS region.
region: us-east-1

# Either availability_zones (cortex creates a VPC with subnets in these zones; default: the
# region's first 3 zones) or subnets (existing subnets, at least 2 zones). Not both.
# availability_zones: [us-east-1a, us-east-1b]            # example
# subnets:                                                 # example
#   - availability_zone: us-east-1a
#     subnet_id: subnet-0123456789abcdef0
#   - availability_zone: us-east-1b
#     subnet_id: subnet-0123456789abcdef1

# IPv4 range of the VPC cortex creates (/16 to /20).
vpc_cidr: 192.168.0.0/16

# public: the instances get public IPs. private: they don't, and reach the internet through NAT.
subnet_visibility: public

# NAT gateways for private subnets: none | single | highly_available (one per zone).
# none is not allowed with private subnets; private defaults to single.
nat_gateway: none

# Load balancer schemes: internet-facing | internal (internal ones live in the private subnets
# when subnet_visibility is private).
operator_load_balancer_scheme: internet-facing
api_load_balancer_scheme: internet-facing

# IPv4 networks allowed to connect to each load balancer.
operator_load_balancer_cidr_allowlist: [0.0.0.0/0]
api_load_balancer_cidr_allowlist: [0.0.0.0/0]

# Extra IAM policies attached to the nodes' role (next to the cluster's default policy). APIs
# never use the nodes' role: an API that needs AWS names iam_policy_arns in its own cortex.yaml.
iam_policy_arns: []
# iam_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]    # example

# What APIs may be given as an AWS identity of their own (iam_policy_arns, iam_role_arn in an
# API's spec). Any identity that may deploy writes specs, so the cluster's admin decides here:
# exact ARNs, no wildcards. Empty (the default): APIs get no AWS identity, and a deploy that asks
# for one is refused. Never list a policy that grants IAM (AdministratorAccess, IAMFullAccess):
# whoever may deploy would get it. cluster configure changes the list on a running cluster (an ARN
# a deployed API uses cannot be removed); about 130 ARNs fit IAM's size limit of the operator's
# role policy.
# api_iam:    # example
#   allowed_policy_arns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]    # example
#   allowed_role_arns: [arn:aws:iam::123456789012:role/team-reader]          # example

# ACM certificate of the API load balancer (default: the cluster's own CA, pinned by clients).
# With it, APIs are called at api_domain (default: the certificate's first name that is not a
# wildcard), which you point at the API load balancer (CNAME); clients verify it against their
# system roots. The operator keeps the cluster's CA.
# ssl_certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012    # example
# api_domain: api.example.com    # example

# Tags added to every resource (cortex adds cortex.dev/cluster-name and cortex.dev/cluster-id).
# tags:                                                    # example
#   team: ml

# EKS managed node groups.
node_groups:
  - name: ng-cpu
    instance_type: m5.large
    min_instances: 1
    max_instances: 5
    spot: false

# Who may use the cluster besides its creator (always admin; do not list it): a 12-digit account
# id or an IAM user/role ARN, with role read, deploy or admin. cluster up applies each rule as
# cortex cluster access grant does (the operator's rule and, for users and roles, the EKS access
# entry); cluster configure grants, changes and revokes what changes here, and leaves alone grants
# made with cortex cluster access grant.
# access:                                                  # example
#   - principal: arn:aws:iam::123456789012:role/ml-engineers
#     role: deploy

# Who may use the cluster without an access rule. account (the default): every IAM user and role
# of the cluster's account gets account_role (deploy, or read), granted or not, and revoking one
# of them leaves it that role. rules: only the creator and the principals of access (and of cortex
# cluster access grant); recommended, together with access above. cluster configure changes both
# on a running cluster.
# auth_mode: rules                                         # example
# account_role: read        # with auth_mode: account only: read or deploy (default deploy)
#   - principal: "123456789012"
#     role: read
`
