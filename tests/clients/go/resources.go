package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// clusters: CreateCluster, DescribeClusters (with a missing one and tags), ListClusters by pages.
func (s *scenario) clusters() {
	created, err := s.ecs.CreateCluster(s.ctx, &ecs.CreateClusterInput{
		ClusterName: &s.cluster,
		Tags:        []types.Tag{{Key: aws.String("suite"), Value: aws.String("go-sdk")}},
	})
	s.must("CreateCluster", err)
	if id, _ := awsmiddleware.GetRequestIDMetadata(created.ResultMetadata); id == "" {
		s.failf("CreateCluster: no x-amzn-RequestId in the response")
	}
	s.clusterArn = s.present("CreateCluster cluster.clusterArn", created.Cluster.ClusterArn)
	s.expectTrue("clusterArn names cluster/"+s.cluster, strings.HasSuffix(s.clusterArn, ":cluster/"+s.cluster), ": ", s.clusterArn)
	s.expect("CreateCluster cluster.status", str(created.Cluster.Status), "ACTIVE")

	missing := "go-sdk-missing-" + s.suffix
	described, err := s.ecs.DescribeClusters(s.ctx, &ecs.DescribeClustersInput{
		Clusters: []string{s.cluster, missing},
		Include:  []types.ClusterField{types.ClusterFieldTags},
	})
	s.must("DescribeClusters", err)
	s.expect("DescribeClusters: number of clusters", len(described.Clusters), 1)
	cluster := described.Clusters[0]
	s.expect("DescribeClusters clusterArn", str(cluster.ClusterArn), s.clusterArn)
	s.expect("DescribeClusters clusterName", str(cluster.ClusterName), s.cluster)
	s.expect("DescribeClusters status", str(cluster.Status), "ACTIVE")
	s.expect("DescribeClusters counts (running, pending, services)",
		[]int32{cluster.RunningTasksCount, cluster.PendingTasksCount, cluster.ActiveServicesCount}, []int32{0, 0, 0})
	s.expectTrue("DescribeClusters registeredContainerInstancesCount > 0", cluster.RegisteredContainerInstancesCount > 0)
	s.expect("DescribeClusters tags", tagsOf(cluster.Tags), map[string]string{"suite": "go-sdk"})
	s.expect("DescribeClusters: number of failures", len(described.Failures), 1)
	failure := described.Failures[0]
	s.expectTrue("failure arn names cluster/"+missing, strings.HasSuffix(str(failure.Arn), ":cluster/"+missing), ": ", str(failure.Arn))
	s.expect("failure reason", str(failure.Reason), "MISSING")

	pages := ecs.NewListClustersPaginator(s.ecs, &ecs.ListClustersInput{MaxResults: aws.Int32(2)})
	listed := s.walk("ListClusters", func() ([]string, bool, error) {
		page, err := pages.NextPage(s.ctx)
		if err != nil {
			return nil, false, err
		}
		return page.ClusterArns, pages.HasMorePages(), nil
	}, 2)
	s.expect("ListClusters: times the new cluster is listed", count(listed, s.clusterArn), 1)
}

// taskDefinitions: three revisions registered (ECS fills in defaults), described by family and
// revision, listed by pages and status, the third deregistered.
func (s *scenario) taskDefinitions() {
	first := s.register("busybox:1.36", []types.Tag{{Key: aws.String("team"), Value: aws.String("conformance")}})
	s.expect("revision 1 taskDefinitionArn", str(first.TaskDefinitionArn), s.taskDefinitionArn(1))
	s.expect("revision 1 family, revision", []any{str(first.Family), first.Revision}, []any{s.family, int32(1)})
	s.expect("revision 1 status", enum(s, "status", first.Status, types.TaskDefinitionStatus("").Values()), types.TaskDefinitionStatusActive)
	s.timestamp("revision 1 registeredAt", first.RegisteredAt, s.started)
	s.absent("revision 1 deregisteredAt", first.DeregisteredAt)
	for _, compatibility := range first.Compatibilities {
		enum(s, "compatibilities", compatibility, types.Compatibility("").Values())
	}
	s.expectTrue("compatibilities include EC2", slices.Contains(first.Compatibilities, types.CompatibilityEc2), ": ", first.Compatibilities)
	emptyList(s, "volumes", first.Volumes)
	emptyList(s, "placementConstraints", first.PlacementConstraints)
	s.expect("number of containerDefinitions", len(first.ContainerDefinitions), 1)
	app := first.ContainerDefinitions[0]
	s.expect("container cpu, memory, essential", []any{app.Cpu, app.Memory, app.Essential}, []any{int32(16), aws.Int32(64), aws.Bool(true)})
	emptyList(s, "container environment", app.Environment)
	emptyList(s, "container mountPoints", app.MountPoints)
	emptyList(s, "container volumesFrom", app.VolumesFrom)
	s.expect("number of portMappings", len(app.PortMappings), 1)
	mapping := app.PortMappings[0]
	s.expect("portMapping containerPort, hostPort", []*int32{mapping.ContainerPort, mapping.HostPort}, []*int32{aws.Int32(80), aws.Int32(0)})
	s.expect("portMapping protocol", enum(s, "protocol", mapping.Protocol, types.TransportProtocol("").Values()), types.TransportProtocolTcp)

	second := s.register("busybox:1.37", nil)
	s.expect("revision 2 taskDefinitionArn", str(second.TaskDefinitionArn), s.taskDefinitionArn(2))
	third := s.register("busybox:1.37", nil)
	s.expect("revision 3 revision", third.Revision, int32(3))
	deregistered, err := s.ecs.DeregisterTaskDefinition(s.ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: third.TaskDefinitionArn})
	s.must("DeregisterTaskDefinition", err)
	s.expect("deregistered status", deregistered.TaskDefinition.Status, types.TaskDefinitionStatusInactive)
	s.timestamp("deregistered deregisteredAt", deregistered.TaskDefinition.DeregisteredAt, s.started)

	latest := s.describeTaskDefinition(s.family)
	s.expect("DescribeTaskDefinition by family: the latest ACTIVE revision", str(latest.TaskDefinition.TaskDefinitionArn), s.taskDefinitionArn(2))
	tagged := s.describeTaskDefinition(fmt.Sprintf("%s:1", s.family), types.TaskDefinitionFieldTags)
	s.expect("DescribeTaskDefinition family:1 tags", tagsOf(tagged.Tags), map[string]string{"team": "conformance"})
	s.expect("DescribeTaskDefinition family:3 status", s.describeTaskDefinition(s.family+":3").TaskDefinition.Status, types.TaskDefinitionStatusInactive)

	s.expect("ListTaskDefinitions (ACTIVE, ascending)", s.listTaskDefinitions("", ""), []string{s.taskDefinitionArn(1), s.taskDefinitionArn(2)})
	s.expect("ListTaskDefinitions (ACTIVE, descending)", s.listTaskDefinitions("", types.SortOrderDesc), []string{s.taskDefinitionArn(2), s.taskDefinitionArn(1)})
	s.expect("ListTaskDefinitions (INACTIVE)", s.listTaskDefinitions(types.TaskDefinitionStatusInactive, ""), []string{s.taskDefinitionArn(3)})
}

func (s *scenario) register(image string, tags []types.Tag) *types.TaskDefinition {
	registered, err := s.ecs.RegisterTaskDefinition(s.ctx, &ecs.RegisterTaskDefinitionInput{
		Family: &s.family,
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String("app"),
			Image:        &image,
			Cpu:          16,
			Memory:       aws.Int32(64),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}},
		}},
		Tags: tags,
	})
	s.must("RegisterTaskDefinition", err)
	arn := s.present("RegisterTaskDefinition taskDefinitionArn", registered.TaskDefinition.TaskDefinitionArn)
	s.revisions = append(s.revisions, arn)
	return registered.TaskDefinition
}

func (s *scenario) taskDefinitionArn(revision int) string {
	return fmt.Sprintf("%s:task-definition/%s:%d", s.arnPrefix(), s.family, revision)
}

// arnPrefix is `arn:aws:ecs:<region>:<account>`, read from the cluster's ARN.
func (s *scenario) arnPrefix() string {
	return s.clusterArn[:strings.LastIndex(s.clusterArn, ":cluster/")]
}

func (s *scenario) describeTaskDefinition(reference string, include ...types.TaskDefinitionField) *ecs.DescribeTaskDefinitionOutput {
	described, err := s.ecs.DescribeTaskDefinition(s.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &reference, Include: include})
	s.must("DescribeTaskDefinition "+reference, err)
	return described
}

func (s *scenario) listTaskDefinitions(status types.TaskDefinitionStatus, sort types.SortOrder) []string {
	pages := ecs.NewListTaskDefinitionsPaginator(s.ecs, &ecs.ListTaskDefinitionsInput{
		FamilyPrefix: &s.family, Status: status, Sort: sort, MaxResults: aws.Int32(1),
	})
	return s.walk("ListTaskDefinitions", func() ([]string, bool, error) {
		page, err := pages.NextPage(s.ctx)
		if err != nil {
			return nil, false, err
		}
		return page.TaskDefinitionArns, pages.HasMorePages(), nil
	}, 1)
}

// typedErrors: each ECS error arrives as the SDK's typed exception (by its `__type`).
func (s *scenario) typedErrors() {
	nowhere := "go-sdk-nowhere-" + s.suffix
	_, err := s.ecs.ListTasks(s.ctx, &ecs.ListTasksInput{Cluster: &nowhere})
	notFound := failsWith[*types.ClusterNotFoundException](s, "ListTasks in a cluster that does not exist", err)
	s.expect("ClusterNotFoundException message", notFound.ErrorMessage(), "Cluster not found.")

	absent := "go-sdk-absent-" + s.suffix
	_, err = s.ecs.DescribeTaskDefinition(s.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &absent})
	unknown := failsWith[*types.ClientException](s, "DescribeTaskDefinition of a family that does not exist", err)
	s.expect("ClientException message", unknown.ErrorMessage(), "Unable to describe task definition.")

	_, err = s.ecs.ListContainerInstances(s.ctx, &ecs.ListContainerInstancesInput{
		Cluster: &s.cluster, Filter: aws.String("attribute:ecs.instance-type =="),
	})
	failsWith[*types.InvalidParameterException](s, "ListContainerInstances with an incomplete filter", err)

	_, err = s.ecs.UpdateService(s.ctx, &ecs.UpdateServiceInput{Cluster: &s.cluster, Service: aws.String("nowhere"), DesiredCount: aws.Int32(1)})
	failsWith[*types.ServiceNotFoundException](s, "UpdateService of a service that does not exist", err)
}

// containerInstances: every instance listed once by pages, as many as the cluster counts; a
// filter selects the c5.xlarge ones, whose description carries the attribute and resources.
func (s *scenario) containerInstances() {
	s.instances = s.listContainerInstances("")
	registered := s.describeCluster().RegisteredContainerInstancesCount
	s.expect("ListContainerInstances: as many as registeredContainerInstancesCount", len(s.instances), int(registered))
	for _, arn := range s.instances {
		s.expectTrue("container instance ARN names the cluster", strings.HasPrefix(arn, s.arnPrefix()+":container-instance/"+s.cluster+"/"), ": ", arn)
		s.expect("times "+arn+" is listed", count(s.instances, arn), 1)
	}

	c5 := s.listContainerInstances("attribute:ecs.instance-type == c5.xlarge")
	s.expectTrue("ListContainerInstances with a filter lists some c5.xlarge instances", len(c5) > 0 && len(c5) < len(s.instances), ": ", c5)
	unknown := s.arnPrefix() + ":container-instance/" + s.cluster + "/" + strings.Repeat("0", 32)
	described, err := s.ecs.DescribeContainerInstances(s.ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: &s.cluster, ContainerInstances: append(slices.Clone(c5), unknown),
	})
	s.must("DescribeContainerInstances", err)
	s.expect("DescribeContainerInstances failures", described.Failures, []types.Failure{{Arn: &unknown, Reason: aws.String("MISSING")}})
	s.expect("DescribeContainerInstances: number described", len(described.ContainerInstances), len(c5))
	for _, instance := range described.ContainerInstances {
		s.checkContainerInstance(instance, c5)
	}
}

func (s *scenario) checkContainerInstance(instance types.ContainerInstance, wanted []string) {
	arn := str(instance.ContainerInstanceArn)
	s.expectTrue("described instance was asked for", slices.Contains(wanted, arn), ": ", arn)
	s.present(arn+" ec2InstanceId", instance.Ec2InstanceId)
	s.expect(arn+" status, agentConnected", []any{str(instance.Status), instance.AgentConnected}, []any{"ACTIVE", true})
	s.timestamp(arn+" registeredAt", instance.RegisteredAt, time.Time{}) // when the node joined
	attributes := map[string]string{}
	for _, attribute := range instance.Attributes {
		attributes[str(attribute.Name)] = str(attribute.Value)
	}
	s.expect(arn+" attribute ecs.instance-type", attributes["ecs.instance-type"], "c5.xlarge")
	for _, name := range []string{"CPU", "MEMORY"} {
		registered := s.resource(arn+" registeredResources", instance.RegisteredResources, name, "INTEGER")
		remaining := s.resource(arn+" remainingResources", instance.RemainingResources, name, "INTEGER")
		s.expectTrue(fmt.Sprintf("%s %s: 0 < remaining <= registered", arn, name),
			registered.IntegerValue > 0 && remaining.IntegerValue <= registered.IntegerValue,
			fmt.Sprintf(": %d, %d", remaining.IntegerValue, registered.IntegerValue))
	}
	for _, name := range []string{"PORTS", "PORTS_UDP"} {
		s.resource(arn+" registeredResources", instance.RegisteredResources, name, "STRINGSET")
	}
}

func (s *scenario) resource(what string, resources []types.Resource, name, kind string) types.Resource {
	for _, resource := range resources {
		if str(resource.Name) == name {
			s.expect(what+" "+name+" type", str(resource.Type), kind)
			return resource
		}
	}
	s.failf("%s: no %s among %d resources", what, name, len(resources))
	return types.Resource{}
}

func (s *scenario) listContainerInstances(filter string) []string {
	input := &ecs.ListContainerInstancesInput{Cluster: &s.cluster, MaxResults: aws.Int32(3)}
	if filter != "" {
		input.Filter = &filter
	}
	pages := ecs.NewListContainerInstancesPaginator(s.ecs, input)
	return s.walk("ListContainerInstances", func() ([]string, bool, error) {
		page, err := pages.NextPage(s.ctx)
		if err != nil {
			return nil, false, err
		}
		return page.ContainerInstanceArns, pages.HasMorePages(), nil
	}, 3)
}

func (s *scenario) describeCluster() types.Cluster {
	described, err := s.ecs.DescribeClusters(s.ctx, &ecs.DescribeClustersInput{Clusters: []string{s.cluster}})
	s.must("DescribeClusters", err)
	s.expect("DescribeClusters: number of clusters", len(described.Clusters), 1)
	return described.Clusters[0]
}

// walk reads every page of a paginator through `next` (items, whether more pages follow), each
// page at most `pageSize` items long, and returns every item in order.
func (s *scenario) walk(what string, next func() ([]string, bool, error), pageSize int) []string {
	var items []string
	for more := true; more; {
		page, hasMore, err := next()
		s.must(what, err)
		if len(page) > pageSize {
			s.failf("%s: a page of %d items with maxResults %d", what, len(page), pageSize)
		}
		if page == nil {
			s.failf("%s: a page without its list (ECS sends [] when there is nothing)", what)
		}
		items = append(items, page...)
		more = hasMore
	}
	return items
}

func count(items []string, wanted string) int {
	n := 0
	for _, item := range items {
		if item == wanted {
			n++
		}
	}
	return n
}

func tagsOf(tags []types.Tag) map[string]string {
	byKey := map[string]string{}
	for _, tag := range tags {
		byKey[str(tag.Key)] = str(tag.Value)
	}
	return byKey
}
