package eksfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// What EKS does for a managed node group and moto (5.2.x) does not: moto's CreateNodegroup names
// an Auto Scaling group in the node group's resources but creates none, so nothing stands behind
// a load balancer's target group. With Options.NodeGroupASGs the fake forwards CreateNodegroup to
// moto and then creates that group in moto, from a launch template of the same name (an image
// moto has, t3.medium) with one instance in the node group's subnets; DeleteNodegroup deletes the
// group (and so its instance) and the template before forwarding, as EKS removes them with the
// node group. Sizes are not followed: one instance stands for the node group (the e2e test has
// one real node).

// nodeGroupResponse is the part of CreateNodegroup's answer the fake reads.
type nodeGroupResponse struct {
	Nodegroup struct {
		Subnets   []string `json:"subnets"`
		Resources struct {
			AutoScalingGroups []struct {
				Name string `json:"name"`
			} `json:"autoScalingGroups"`
		} `json:"resources"`
	} `json:"nodegroup"`
}

func (s *Server) upstreamConfig() aws.Config {
	// moto with authentication off: any key will do.
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.opts.Upstream),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "eksfake", ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}}
}

func (s *Server) createNodegroup(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	if rec.Code/100 == 2 {
		var ng nodeGroupResponse
		err := json.Unmarshal(rec.Body.Bytes(), &ng)
		if err == nil {
			err = s.makeASGs(r.Context(), signedRegion(r), ng)
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "ServerException", "eksfake: the node group's Auto Scaling group: "+err.Error())
			return
		}
	}
	copyResponse(w, rec, nil)
}

func (s *Server) makeASGs(ctx context.Context, region string, ng nodeGroupResponse) error {
	cfg := s.upstreamConfig()
	cfg.Region = region
	ec, ac := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
	imgs, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil {
		return err
	}
	if len(imgs.Images) == 0 {
		return errors.New("moto has no image")
	}
	for _, a := range ng.Nodegroup.Resources.AutoScalingGroups {
		if _, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(a.Name),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium}}); err != nil {
			return err
		}
		if _, err := ac.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(a.Name),
			LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(a.Name)},
			MinSize:        aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
			VPCZoneIdentifier: aws.String(strings.Join(ng.Nodegroup.Subnets, ","))}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) deleteNodegroup(w http.ResponseWriter, r *http.Request) {
	cfg := s.upstreamConfig()
	cfg.Region = signedRegion(r)
	ctx := r.Context()
	// The group's name, as moto recorded it for the node group.
	d := httptest.NewRecorder()
	get := r.Clone(ctx)
	get.Method, get.Body, get.ContentLength = http.MethodGet, http.NoBody, 0
	s.proxy.ServeHTTP(d, get)
	var ng nodeGroupResponse
	if d.Code/100 == 2 && json.Unmarshal(d.Body.Bytes(), &ng) == nil {
		ec, ac := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
		for _, a := range ng.Nodegroup.Resources.AutoScalingGroups {
			if _, err := ac.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(a.Name), ForceDelete: aws.Bool(true)}); err != nil && !strings.Contains(err.Error(), "not found") {
				writeError(w, http.StatusInternalServerError, "ServerException", fmt.Sprintf("eksfake: delete Auto Scaling group %s: %v", a.Name, err))
				return
			}
			_, _ = ec.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String(a.Name)})
		}
	}
	s.proxy.ServeHTTP(w, r)
}
