// Command conformance drives ecs-shim with the AWS SDK for Go v2, a client written in a second
// language, through one scenario: clusters, task definitions, tasks (waiters, an essential
// container that exits), a service rolled forward and deleted, typed errors, paginators and
// container instances. It exits non-zero with a message naming the step, what the SDK decoded
// and the last HTTP exchange at the first divergence from ECS behaviour.
//
//	go run . -endpoint http://127.0.0.1:8080
//
// Credentials and region come from the usual AWS environment variables (placeholders when
// unset: without --credentials the shim accepts any signature).
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("AWS_ENDPOINT_URL_ECS"),
		"the shim's URL (default $AWS_ENDPOINT_URL_ECS)")
	simulatedExit := flag.Bool("simulated-exit", true,
		"run the step whose container exits by itself (needs nodes that honour SIMULATED_RUN_SECONDS, as the local kwok cluster does)")
	timeout := flag.Duration("timeout", 5*time.Minute, "the whole scenario's time limit")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "conformance: give the shim's URL with -endpoint or AWS_ENDPOINT_URL_ECS")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client, wire, err := newClient(ctx, *endpoint)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: SDK configuration: %v\n", err)
		os.Exit(2)
	}
	s := &scenario{
		ctx:           ctx,
		ecs:           client,
		wire:          wire,
		started:       time.Now(),
		suffix:        uniqueSuffix(),
		simulatedExit: *simulatedExit,
	}
	os.Exit(s.run())
}

// newClient is an ECS client for `endpoint` that never retries, so that a server fault or a
// throttle is seen as the divergence it is instead of being papered over; its HTTP exchanges go
// through the returned recordingClient.
func newClient(ctx context.Context, endpoint string) (*ecs.Client, *recordingClient, error) {
	options := []func(*config.LoadOptions) error{config.WithRetryMaxAttempts(1)}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		options = append(options, config.WithCredentialsProvider(aws.CredentialsProviderFunc(
			func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
			})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, options...)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Region == "" {
		cfg.Region = cmp.Or(os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	}
	wire := &recordingClient{inner: cfg.HTTPClient}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = wire
	})
	return client, wire, nil
}

func uniqueSuffix() string {
	random := make([]byte, 5)
	if _, err := rand.Read(random); err != nil {
		panic(err)
	}
	return hex.EncodeToString(random)
}
