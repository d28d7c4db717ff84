package main

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// divergence is what a failed check panics with; scenario.run recovers it and reports it.
type divergence struct{ message string }

func (s *scenario) failf(format string, args ...any) {
	panic(divergence{fmt.Sprintf(format, args...)})
}

// must stops the scenario on an error that a call ECS answers successfully returned.
func (s *scenario) must(what string, err error) {
	if err != nil {
		s.failf("%s: unexpected error: %v", what, err)
	}
}

func (s *scenario) expect(what string, got, want any) {
	if !reflect.DeepEqual(got, want) {
		s.failf("%s: got %s, want %s", what, show(got), show(want))
	}
}

func (s *scenario) expectTrue(what string, ok bool, detail ...any) {
	if !ok {
		s.failf("%s%s", what, fmt.Sprint(detail...))
	}
}

// show prints what a pointer points to, so a divergence reads as values, not addresses.
func show(value any) string {
	v := reflect.ValueOf(value)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nil (absent)"
		}
		return fmt.Sprintf("%#v", v.Elem().Interface())
	}
	return fmt.Sprintf("%#v", value)
}

func str(value *string) string {
	if value == nil {
		return ""
	}
	return *value
}

// present is the string a member must carry, non-empty.
func (s *scenario) present(what string, value *string) string {
	if value == nil || *value == "" {
		s.failf("%s: absent or empty", what)
	}
	return *value
}

func (s *scenario) absent(what string, value any) {
	v := reflect.ValueOf(value)
	if v.IsValid() && !v.IsZero() {
		s.failf("%s: should be absent, got %s", what, show(value))
	}
}

// emptyList checks a list member ECS sends as `[]`: the SDK decodes it as an empty slice, where
// an absent member is nil.
func emptyList[T any](s *scenario, what string, list []T) {
	if list == nil {
		s.failf("%s: absent, ECS sends an empty list", what)
	}
	if len(list) != 0 {
		s.failf("%s: should be empty, got %#v", what, list)
	}
}

// timestamp checks a timestamp the SDK decoded: present and no later than now; `since` (when
// not zero) is the earliest it can be.
func (s *scenario) timestamp(what string, value *time.Time, since time.Time) time.Time {
	if value == nil || value.IsZero() {
		s.failf("%s: timestamp absent or zero", what)
	}
	const skew = time.Minute
	if value.After(time.Now().Add(skew)) || value.Before(time.Date(2014, 11, 13, 0, 0, 0, 0, time.UTC)) {
		s.failf("%s: implausible timestamp %s", what, value.UTC().Format(time.RFC3339Nano))
	}
	if !since.IsZero() && value.Before(since.Add(-skew)) {
		s.failf("%s: %s is before %s", what, value.UTC().Format(time.RFC3339Nano), since.UTC().Format(time.RFC3339Nano))
	}
	return *value
}

// enum checks a value of one of the SDK's enum types is one the SDK knows.
func enum[T ~string](s *scenario, what string, value T, known []T) T {
	if !slices.Contains(known, value) {
		s.failf("%s: %q is not one of %v", what, value, known)
	}
	return value
}

// failsWith checks that `err` is the ECS error whose SDK type is E, a client fault with a
// message and a request id, and returns it.
func failsWith[E smithy.APIError](s *scenario, what string, err error) E {
	var typed E
	if err == nil {
		s.failf("%s: succeeded, want %T", what, typed)
	}
	if !errors.As(err, &typed) {
		s.failf("%s: got %v, want %T", what, err, typed)
	}
	if typed.ErrorFault() != smithy.FaultClient {
		s.failf("%s: %s should be a client fault", what, typed.ErrorCode())
	}
	if strings.TrimSpace(typed.ErrorMessage()) == "" {
		s.failf("%s: %s without a message", what, typed.ErrorCode())
	}
	var response *awshttp.ResponseError
	if !errors.As(err, &response) || response.ServiceRequestID() == "" {
		s.failf("%s: %s without an x-amzn-RequestId", what, typed.ErrorCode())
	}
	if status := response.HTTPStatusCode(); status != 400 {
		s.failf("%s: %s with HTTP status %d, want 400", what, typed.ErrorCode(), status)
	}
	return typed
}
