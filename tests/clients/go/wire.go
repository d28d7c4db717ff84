package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// recordingClient wraps the SDK's HTTP client, keeping the last exchange so that a divergence
// can be reported with the request and the response exactly as they crossed the wire.
type recordingClient struct {
	inner aws.HTTPClient
	mu    sync.Mutex
	last  string
}

func (c *recordingClient) Do(request *http.Request) (*http.Response, error) {
	sent, err := readAll(&request.Body)
	if err != nil {
		return nil, err
	}
	exchange := fmt.Sprintf("POST %s %s\n  request: %s", request.URL, request.Header.Get("X-Amz-Target"), clip(sent))
	response, err := c.inner.Do(request)
	if err != nil {
		c.record(exchange + "\n  transport error: " + err.Error())
		return nil, err
	}
	received, err := readAll(&response.Body)
	if err != nil {
		return nil, err
	}
	c.record(fmt.Sprintf("%s\n  response: %d %s", exchange, response.StatusCode, clip(received)))
	return response, nil
}

func (c *recordingClient) record(exchange string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = exchange
}

// Last is the most recent exchange, or a note that there was none.
func (c *recordingClient) Last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == "" {
		return "(no request was sent)"
	}
	return c.last
}

// readAll reads a body and puts an identical, unread one in its place.
func readAll(body *io.ReadCloser) ([]byte, error) {
	if *body == nil || *body == http.NoBody {
		return nil, nil
	}
	content, err := io.ReadAll(*body)
	(*body).Close()
	*body = io.NopCloser(bytes.NewReader(content))
	return content, err
}

func clip(content []byte) string {
	const limit = 4000
	text := strings.TrimSpace(string(content))
	if len(text) > limit {
		return text[:limit] + fmt.Sprintf("... (%d bytes)", len(content))
	}
	return text
}
