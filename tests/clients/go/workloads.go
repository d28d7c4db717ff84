package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// tasks: RunTask of two tasks, the TasksRunning waiter, DescribeTasks and ListTasks by pages,
// StopTask with a reason and the TasksStopped waiter.
func (s *scenario) tasks() {
	run, err := s.ecs.RunTask(s.ctx, &ecs.RunTaskInput{
		Cluster: &s.cluster, TaskDefinition: aws.String(s.family + ":1"), Count: aws.Int32(2), StartedBy: aws.String("go-sdk"),
	})
	s.must("RunTask", err)
	emptyList(s, "RunTask failures", run.Failures)
	s.expect("RunTask: number of tasks", len(run.Tasks), 2)
	var arns []string
	for _, task := range run.Tasks {
		s.checkNewTask(task)
		arns = append(arns, str(task.TaskArn))
	}

	s.waitRunning(arns)
	for _, task := range s.describeTasks(arns) {
		s.checkRunningTask(task)
	}
	s.expect("ListTasks (RUNNING) by pages", sorted(s.listTasks(&ecs.ListTasksInput{})), sorted(arns))
	s.expect("ListTasks by family", sorted(s.listTasks(&ecs.ListTasksInput{Family: &s.family})), sorted(arns))

	reason := "conformance: stopped by the Go SDK"
	stopped, err := s.ecs.StopTask(s.ctx, &ecs.StopTaskInput{Cluster: &s.cluster, Task: &arns[0], Reason: &reason})
	s.must("StopTask", err)
	s.expect("StopTask desiredStatus", str(stopped.Task.DesiredStatus), "STOPPED")
	s.expect("StopTask stoppedReason", str(stopped.Task.StoppedReason), reason)
	s.waitStopped(arns[:1])
	task := s.describeTasks(arns[:1])[0]
	s.expect("stopped task lastStatus", str(task.LastStatus), "STOPPED")
	s.expect("stopped task stopCode", enum(s, "stopCode", task.StopCode, types.TaskStopCode("").Values()), types.TaskStopCodeUserInitiated)
	s.expect("stopped task stoppedReason", str(task.StoppedReason), reason)
	s.timestamp("stopped task stoppedAt", task.StoppedAt, s.timestamp("stopped task startedAt", task.StartedAt, s.started))
	s.expect("ListTasks (RUNNING) after StopTask", s.listTasks(&ecs.ListTasksInput{}), arns[1:])
	s.expect("ListTasks (STOPPED)", s.listTasks(&ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped}), arns[:1])

	_, err = s.ecs.StopTask(s.ctx, &ecs.StopTaskInput{Cluster: &s.cluster, Task: &arns[1]})
	s.must("StopTask", err)
	s.waitStopped(arns[1:])
}

// checkNewTask checks a task as RunTask answers it: not started, so nothing about its end shown.
func (s *scenario) checkNewTask(task types.Task) {
	arn := s.present("RunTask taskArn", task.TaskArn)
	s.expectTrue("taskArn names the cluster", strings.HasPrefix(arn, s.arnPrefix()+":task/"+s.cluster+"/"), ": ", arn)
	s.expect("new task clusterArn", str(task.ClusterArn), s.clusterArn)
	s.expect("new task taskDefinitionArn", str(task.TaskDefinitionArn), s.taskDefinitionArn(1))
	s.expectTrue("new task lastStatus PROVISIONING or PENDING",
		slices.Contains([]string{"PROVISIONING", "PENDING"}, str(task.LastStatus)), ": ", str(task.LastStatus))
	s.expect("new task desiredStatus", str(task.DesiredStatus), "RUNNING")
	s.expect("new task group, startedBy", []string{str(task.Group), str(task.StartedBy)}, []string{"family:" + s.family, "go-sdk"})
	s.expect("new task launchType", enum(s, "launchType", task.LaunchType, types.LaunchType("").Values()), types.LaunchTypeEc2)
	s.timestamp("new task createdAt", task.CreatedAt, s.started)
	s.absent("new task stoppedAt", task.StoppedAt)
	s.absent("new task stopCode", task.StopCode)
	s.absent("new task stoppedReason", task.StoppedReason)
	s.expect("new task: number of containers", len(task.Containers), 1)
	s.expect("container name", str(task.Containers[0].Name), "app")
	s.absent("new task container exitCode", task.Containers[0].ExitCode)
}

func (s *scenario) checkRunningTask(task types.Task) {
	s.expect("running task lastStatus", str(task.LastStatus), "RUNNING")
	created := s.timestamp("running task createdAt", task.CreatedAt, s.started)
	s.timestamp("running task startedAt", task.StartedAt, created)
	instance := s.present("running task containerInstanceArn", task.ContainerInstanceArn)
	s.expectTrue("running task's container instance is one ListContainerInstances listed", slices.Contains(s.instances, instance), ": ", instance)
	s.present("running task availabilityZone", task.AvailabilityZone)
	if task.HealthStatus != "" {
		enum(s, "healthStatus", task.HealthStatus, types.HealthStatus("").Values())
	}
	if task.Connectivity != "" {
		enum(s, "connectivity", task.Connectivity, types.Connectivity("").Values())
	}
	s.absent("running task stoppedAt", task.StoppedAt)
	s.expect("running task container lastStatus", str(task.Containers[0].LastStatus), "RUNNING")
	s.absent("running task container exitCode", task.Containers[0].ExitCode)
}

// essentialContainerExit: a task whose only (essential) container exits with code 3 after 2 s,
// on a node that simulates it, stops by itself: EssentialContainerExited, exit code 3.
func (s *scenario) essentialContainerExit() {
	environment := []types.KeyValuePair{
		{Name: aws.String("SIMULATED_RUN_SECONDS"), Value: aws.String("2")},
		{Name: aws.String("SIMULATED_EXIT_CODE"), Value: aws.String("3")},
	}
	run, err := s.ecs.RunTask(s.ctx, &ecs.RunTaskInput{
		Cluster: &s.cluster, TaskDefinition: aws.String(s.family + ":1"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Environment: environment}}},
	})
	s.must("RunTask", err)
	emptyList(s, "RunTask failures", run.Failures)
	s.expect("RunTask: number of tasks", len(run.Tasks), 1)
	arn := str(run.Tasks[0].TaskArn)
	overrides := run.Tasks[0].Overrides
	s.expectTrue("RunTask echoes the container override", overrides != nil && len(overrides.ContainerOverrides) == 1 &&
		len(overrides.ContainerOverrides[0].Environment) == 2)

	s.waitStopped([]string{arn})
	task := s.describeTasks([]string{arn})[0]
	s.expect("exited task lastStatus", str(task.LastStatus), "STOPPED")
	s.expect("exited task stopCode", task.StopCode, types.TaskStopCodeEssentialContainerExited)
	s.expect("exited task stoppedReason", str(task.StoppedReason), "Essential container in task exited")
	s.expect("exited task container lastStatus", str(task.Containers[0].LastStatus), "STOPPED")
	s.expect("exited task container exitCode", task.Containers[0].ExitCode, aws.Int32(3))
	started := s.timestamp("exited task startedAt", task.StartedAt, s.started)
	s.timestamp("exited task stoppedAt", task.StoppedAt, started)
}

// service: created, stable, listed by pages with a second one, rolled forward to revision 2,
// stable again, scaled to 0 and deleted until INACTIVE; typed errors on the way.
func (s *scenario) service() {
	web := s.createService("web", 2)
	idle := s.createService("idle", 0)
	s.serviceArns = []string{str(web.ServiceArn), str(idle.ServiceArn)}
	first := web.Deployments[0]
	s.expect("ListServices by pages", sorted(s.listServices()), sorted(s.serviceArns))
	s.waitStable(s.serviceArns)

	stable := s.settled("web")
	s.expect("stable service counts (running, pending, desired)", []int32{stable.RunningCount, stable.PendingCount, stable.DesiredCount}, []int32{2, 0, 2})
	s.checkSettled(stable, str(first.Id), s.taskDefinitionArn(1))
	s.expectTrue("stable service has events", len(stable.Events) > 0)
	for _, event := range stable.Events {
		s.present("event id", event.Id)
		s.present("event message", event.Message)
		s.timestamp("event createdAt", event.CreatedAt, s.started)
	}

	_, err := s.ecs.DeleteService(s.ctx, &ecs.DeleteServiceInput{Cluster: &s.cluster, Service: aws.String("web")})
	failsWith[*types.InvalidParameterException](s, "DeleteService of a service with tasks, without force", err)

	updated, err := s.ecs.UpdateService(s.ctx, &ecs.UpdateServiceInput{
		Cluster: &s.cluster, Service: aws.String("web"), TaskDefinition: aws.String(s.taskDefinitionArn(2)),
	})
	s.must("UpdateService to revision 2", err)
	s.expect("UpdateService taskDefinition", str(updated.Service.TaskDefinition), s.taskDefinitionArn(2))
	s.expect("UpdateService: number of deployments", len(updated.Service.Deployments), 2)
	primary, replaced := updated.Service.Deployments[0], updated.Service.Deployments[1]
	s.expect("new deployment status, taskDefinition", []string{str(primary.Status), str(primary.TaskDefinition)}, []string{"PRIMARY", s.taskDefinitionArn(2)})
	s.expect("replaced deployment id, status", []string{str(replaced.Id), str(replaced.Status)}, []string{str(first.Id), "ACTIVE"})
	s.expectTrue("the new deployment has a new id", str(primary.Id) != str(first.Id))
	s.waitStable(s.serviceArns[:1])
	s.checkSettled(s.settled("web"), str(primary.Id), s.taskDefinitionArn(2))

	scaled, err := s.ecs.UpdateService(s.ctx, &ecs.UpdateServiceInput{Cluster: &s.cluster, Service: aws.String("web"), DesiredCount: aws.Int32(0)})
	s.must("UpdateService to desiredCount 0", err)
	s.expect("scaled desiredCount", scaled.Service.DesiredCount, int32(0))
	s.waitStable(s.serviceArns[:1])
	s.expect("runningCount after scaling to 0", s.describeService("web").RunningCount, int32(0))

	for _, name := range []string{"web", "idle"} {
		deleted, err := s.ecs.DeleteService(s.ctx, &ecs.DeleteServiceInput{Cluster: &s.cluster, Service: aws.String(name)})
		s.must("DeleteService "+name, err)
		// DRAINING while tasks remain to be stopped, INACTIVE at once when there are none.
		status := str(deleted.Service.Status)
		s.expectTrue("DeleteService status DRAINING or INACTIVE", status == "DRAINING" || status == "INACTIVE", ": ", status)
	}
	for _, arn := range s.serviceArns {
		s.waitInactive(arn) // one at a time: the waiter succeeds when any of its services is INACTIVE
	}
	s.expect("deleted service status", str(s.describeService("web").Status), "INACTIVE")
	_, err = s.ecs.UpdateService(s.ctx, &ecs.UpdateServiceInput{Cluster: &s.cluster, Service: aws.String("web"), DesiredCount: aws.Int32(1)})
	failsWith[*types.ServiceNotActiveException](s, "UpdateService of a deleted service", err)
	s.expect("ListServices after deletion", s.listServices(), []string(nil))
}

func (s *scenario) createService(name string, desired int32) *types.Service {
	created, err := s.ecs.CreateService(s.ctx, &ecs.CreateServiceInput{
		Cluster: &s.cluster, ServiceName: &name, TaskDefinition: aws.String(s.family + ":1"), DesiredCount: &desired,
	})
	s.must("CreateService "+name, err)
	service := created.Service
	s.expect("created service arn", str(service.ServiceArn), s.arnPrefix()+":service/"+s.cluster+"/"+name)
	s.expect("created service status, taskDefinition", []string{str(service.Status), str(service.TaskDefinition)}, []string{"ACTIVE", s.taskDefinitionArn(1)})
	s.expect("created service desiredCount", service.DesiredCount, desired)
	s.expect("created service launchType", enum(s, "launchType", service.LaunchType, types.LaunchType("").Values()), types.LaunchTypeEc2)
	s.expect("created service schedulingStrategy", enum(s, "schedulingStrategy", service.SchedulingStrategy, types.SchedulingStrategy("").Values()), types.SchedulingStrategyReplica)
	s.timestamp("created service createdAt", service.CreatedAt, s.started)
	configuration := service.DeploymentConfiguration
	s.expectTrue("created service has a deploymentConfiguration", configuration != nil)
	s.expect("deploymentConfiguration maximumPercent, minimumHealthyPercent",
		[]*int32{configuration.MaximumPercent, configuration.MinimumHealthyPercent}, []*int32{aws.Int32(200), aws.Int32(100)})
	s.expect("created service: number of deployments", len(service.Deployments), 1)
	deployment := service.Deployments[0]
	s.expect("deployment status", str(deployment.Status), "PRIMARY")
	s.expectTrue("deployment id is ecs-svc/...", strings.HasPrefix(str(deployment.Id), "ecs-svc/"), ": ", str(deployment.Id))
	s.timestamp("deployment createdAt", deployment.CreatedAt, s.started)
	return service
}

// settled describes the service until its one deployment is COMPLETED (or 30 s have passed): as on
// ECS, a deployment completes a moment after ServicesStable lets it go, once its tasks have stayed
// running.
func (s *scenario) settled(name string) types.Service {
	deadline := time.Now().Add(30 * time.Second)
	for {
		service := s.describeService(name)
		done := len(service.Deployments) == 1 && service.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted
		if done || time.Now().After(deadline) {
			return service
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkSettled checks a service that ServicesStable let go: one COMPLETED deployment, whose tasks
// are the service's and run its task definition.
func (s *scenario) checkSettled(service types.Service, deploymentID, taskDefinition string) {
	s.expect("stable service: number of deployments", len(service.Deployments), 1)
	deployment := service.Deployments[0]
	s.expect("stable deployment id, taskDefinition", []string{str(deployment.Id), str(deployment.TaskDefinition)}, []string{deploymentID, taskDefinition})
	s.expect("stable deployment rolloutState", enum(s, "rolloutState", deployment.RolloutState, types.DeploymentRolloutState("").Values()), types.DeploymentRolloutStateCompleted)
	s.timestamp("stable deployment updatedAt", deployment.UpdatedAt, s.started)
	tasks := s.listTasks(&ecs.ListTasksInput{ServiceName: service.ServiceName})
	s.expect("ListTasks of the service", len(tasks), int(service.DesiredCount))
	for _, task := range s.describeTasks(tasks) {
		s.expect("service task group, startedBy, taskDefinitionArn",
			[]string{str(task.Group), str(task.StartedBy), str(task.TaskDefinitionArn)},
			[]string{"service:" + str(service.ServiceName), deploymentID, taskDefinition})
	}
}

func (s *scenario) describeService(name string) types.Service {
	described, err := s.ecs.DescribeServices(s.ctx, &ecs.DescribeServicesInput{Cluster: &s.cluster, Services: []string{name}})
	s.must("DescribeServices", err)
	emptyList(s, "DescribeServices failures", described.Failures)
	s.expect("DescribeServices: number of services", len(described.Services), 1)
	return described.Services[0]
}

func (s *scenario) listServices() []string {
	pages := ecs.NewListServicesPaginator(s.ecs, &ecs.ListServicesInput{Cluster: &s.cluster, MaxResults: aws.Int32(1)})
	return s.walk("ListServices", func() ([]string, bool, error) {
		page, err := pages.NextPage(s.ctx)
		if err != nil {
			return nil, false, err
		}
		return page.ServiceArns, pages.HasMorePages(), nil
	}, 1)
}

// listTasks lists the cluster's tasks matching `input` by pages of one.
func (s *scenario) listTasks(input *ecs.ListTasksInput) []string {
	input.Cluster, input.MaxResults = &s.cluster, aws.Int32(1)
	pages := ecs.NewListTasksPaginator(s.ecs, input)
	return s.walk("ListTasks", func() ([]string, bool, error) {
		page, err := pages.NextPage(s.ctx)
		if err != nil {
			return nil, false, err
		}
		return page.TaskArns, pages.HasMorePages(), nil
	}, 1)
}

func (s *scenario) describeTasks(arns []string) []types.Task {
	described, err := s.ecs.DescribeTasks(s.ctx, &ecs.DescribeTasksInput{Cluster: &s.cluster, Tasks: arns})
	s.must("DescribeTasks", err)
	emptyList(s, "DescribeTasks failures", described.Failures)
	s.expect("DescribeTasks: number of tasks", len(described.Tasks), len(arns))
	byArn := map[string]types.Task{}
	for _, task := range described.Tasks {
		byArn[str(task.TaskArn)] = task
	}
	tasks := make([]types.Task, len(arns))
	for i, arn := range arns {
		task, found := byArn[arn]
		s.expectTrue("DescribeTasks describes "+arn, found)
		tasks[i] = task
	}
	return tasks
}

// deleteCluster deregisters the remaining revisions and deletes the cluster, which goes INACTIVE.
func (s *scenario) deleteCluster() {
	for _, arn := range s.revisions[:2] {
		deregistered, err := s.ecs.DeregisterTaskDefinition(s.ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: &arn})
		s.must("DeregisterTaskDefinition", err)
		s.expect("deregistered status", deregistered.TaskDefinition.Status, types.TaskDefinitionStatusInactive)
	}
	s.revisions = nil
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	s.must("DeleteCluster", s.deleteWhenEmpty(ctx))
	s.expect("deleted cluster status", str(s.describeCluster().Status), "INACTIVE")
	s.clusterArn = ""
}

func (s *scenario) waitRunning(arns []string) {
	waiter := ecs.NewTasksRunningWaiter(s.ecs, func(o *ecs.TasksRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	s.must("TasksRunning waiter", waiter.Wait(s.ctx, &ecs.DescribeTasksInput{Cluster: &s.cluster, Tasks: arns}, waitAtMost))
}

func (s *scenario) waitStopped(arns []string) {
	waiter := ecs.NewTasksStoppedWaiter(s.ecs, func(o *ecs.TasksStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	s.must("TasksStopped waiter", waiter.Wait(s.ctx, &ecs.DescribeTasksInput{Cluster: &s.cluster, Tasks: arns}, waitAtMost))
}

func (s *scenario) waitStable(arns []string) {
	waiter := ecs.NewServicesStableWaiter(s.ecs, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	s.must("ServicesStable waiter", waiter.Wait(s.ctx, &ecs.DescribeServicesInput{Cluster: &s.cluster, Services: arns}, waitAtMost))
}

func (s *scenario) waitInactive(arn string) {
	waiter := ecs.NewServicesInactiveWaiter(s.ecs, func(o *ecs.ServicesInactiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	s.must("ServicesInactive waiter", waiter.Wait(s.ctx, &ecs.DescribeServicesInput{Cluster: &s.cluster, Services: []string{arn}}, waitAtMost))
}

func sorted(items []string) []string {
	return slices.Sorted(slices.Values(items))
}
