package main

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table reads ghz's JSON report: this one is ghz v0.121.0's
// (tools/ghz), 20 calls against chapter 7's greeter (details trimmed).
func TestReadsGhzJSONReport(t *testing.T) {
	data, err := os.ReadFile("testdata/ghz-v0.121.0.json")
	require.NoError(t, err)
	var r ghzReport
	require.NoError(t, json.Unmarshal(data, &r))
	assert.Equal(t, 20, r.Count)
	assert.InDelta(t, 271.44, r.Rps, 0.01)
	assert.Equal(t, map[string]int{"OK": 20}, r.StatusDist)
	assert.Equal(t, 22726685*time.Nanosecond, r.percentile(50))
	assert.Equal(t, 48978568*time.Nanosecond, r.percentile(99))
	assert.Zero(t, r.percentile(42), "a percentile ghz does not report")
}
