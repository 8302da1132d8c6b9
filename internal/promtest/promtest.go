// Package promtest asks a running Prometheus for the value of a query, as
// chapter 5's tests of its monitoring do, whether Prometheus runs as a
// process or in a container.
package promtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Query asks the Prometheus at addr (host:port) for the instant value of
// the PromQL query q, and returns a map per sample: its labels, and its
// value under "value". It returns nil while Prometheus cannot answer
// (still starting, say), for tests that wait until it can.
func Query(addr, q string) []map[string]string {
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections() // no idle connection left for goleak
	resp, err := client.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var answer struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"` // [time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&answer) != nil {
		return nil
	}
	var samples []map[string]string
	for _, r := range answer.Data.Result {
		r.Metric["value"], _ = r.Value[1].(string)
		samples = append(samples, r.Metric)
	}
	return samples
}
