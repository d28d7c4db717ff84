package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// scenario is one run against the shim, in a cluster and with task definition families of its
// own (named with `suffix`), removed afterwards whatever the outcome.
type scenario struct {
	ctx           context.Context
	ecs           *ecs.Client
	wire          *recordingClient
	started       time.Time
	suffix        string
	simulatedExit bool

	cluster     string
	clusterArn  string
	family      string
	revisions   []string // task definition ARNs registered, in order
	instances   []string // the cluster's container instance ARNs
	serviceArns []string
}

type step struct {
	name string
	run  func(*scenario)
}

// Waiters poll every second or two instead of every 6 to 15 s.
const (
	waiterMinDelay = time.Second
	waiterMaxDelay = 2 * time.Second
	waitAtMost     = 90 * time.Second
)

func (s *scenario) steps() []step {
	steps := []step{
		{"clusters", (*scenario).clusters},
		{"task definitions", (*scenario).taskDefinitions},
		{"typed errors", (*scenario).typedErrors},
		{"container instances", (*scenario).containerInstances},
		{"tasks", (*scenario).tasks},
	}
	if s.simulatedExit {
		steps = append(steps, step{"essential container exit", (*scenario).essentialContainerExit})
	}
	return append(steps,
		step{"service", (*scenario).service},
		step{"cluster deletion", (*scenario).deleteCluster},
	)
}

// run runs every step in order and returns the exit status: 0 when all passed, 1 at the first
// divergence (after cleaning up).
func (s *scenario) run() int {
	s.cluster = "go-sdk-" + s.suffix
	s.family = "go-sdk-" + s.suffix
	fmt.Printf("conformance: AWS SDK for Go v2 against the shim, cluster %s\n", s.cluster)
	for _, current := range s.steps() {
		began := time.Now()
		if failure := s.attempt(current.run); failure != "" {
			fmt.Fprintf(os.Stderr, "DIVERGENCE in step %q: %s\nlast exchange: %s\n", current.name, failure, s.wire.Last())
			s.cleanUp()
			return 1
		}
		fmt.Printf("ok   %-26s %5.1f s\n", current.name, time.Since(began).Seconds())
	}
	fmt.Printf("conformance: all steps passed in %.1f s\n", time.Since(s.started).Seconds())
	return 0
}

func (s *scenario) attempt(run func(*scenario)) (failure string) {
	defer func() {
		if recovered := recover(); recovered != nil {
			if d, ok := recovered.(divergence); ok {
				failure = d.message
				return
			}
			panic(recovered)
		}
	}()
	run(s)
	return ""
}

// cleanUp removes, as far as it can, what a failed run left: services, tasks, task definition
// revisions and the cluster. Problems are reported, not fatal: the divergence is the news.
func (s *scenario) cleanUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	warn := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "cleanup: %s: %v\n", what, err)
		}
	}
	if s.clusterArn != "" {
		services := ecs.NewListServicesPaginator(s.ecs, &ecs.ListServicesInput{Cluster: &s.cluster})
		for services.HasMorePages() {
			page, err := services.NextPage(ctx)
			if err != nil {
				warn("ListServices", err)
				break
			}
			for _, arn := range page.ServiceArns {
				_, err := s.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: &s.cluster, Service: &arn, Force: aws.Bool(true)})
				warn("DeleteService", err)
			}
		}
		s.stopEveryTask(ctx, warn)
	}
	for _, arn := range s.revisions {
		_, err := s.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: &arn})
		var gone *types.ClientException // already INACTIVE
		if !errors.As(err, &gone) {
			warn("DeregisterTaskDefinition", err)
		}
	}
	if s.clusterArn != "" {
		warn("DeleteCluster", s.deleteWhenEmpty(ctx))
	}
}

func (s *scenario) stopEveryTask(ctx context.Context, warn func(string, error)) {
	tasks := ecs.NewListTasksPaginator(s.ecs, &ecs.ListTasksInput{Cluster: &s.cluster})
	for tasks.HasMorePages() {
		page, err := tasks.NextPage(ctx)
		if err != nil {
			warn("ListTasks", err)
			return
		}
		for _, arn := range page.TaskArns {
			_, err := s.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: &s.cluster, Task: &arn, Reason: aws.String("conformance cleanup")})
			warn("StopTask", err)
		}
	}
}

// deleteWhenEmpty deletes the cluster, retrying while ECS still counts tasks or services in it
// (stopped tasks and drained services take a moment to leave).
func (s *scenario) deleteWhenEmpty(ctx context.Context) error {
	for {
		_, err := s.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: &s.cluster})
		var tasks *types.ClusterContainsTasksException
		var services *types.ClusterContainsServicesException
		if !errors.As(err, &tasks) && !errors.As(err, &services) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster still holds tasks or services: %w", err)
		case <-time.After(time.Second):
		}
	}
}
