// Package k8s_test checks the files a reader deploys against the code,
// without a cluster or a Docker engine: the Kubernetes manifests decode
// strictly into the API's own types, and they, the compose file and the
// Dockerfiles name the ports, probes, environment and images the binaries
// really have.
package k8s_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/marketplace"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

// manifests decodes every document of every file the kustomization lists,
// strictly: an unknown or duplicated field is an error, as a typo in a
// real manifest would be silently ignored by a lenient decoder.
func manifests(t *testing.T) (deployments map[string]*appsv1.Deployment, services map[string]*corev1.Service) {
	t.Helper()
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	data, err := os.ReadFile("kustomization.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, &k))
	assert.Equal(t, "Kustomization", k.Kind)
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	assert.ElementsMatch(t, files, k.Resources, "the kustomization lists every manifest")

	scheme := runtime.NewScheme()
	require.NoError(t, appsv1.AddToScheme(scheme))
	require.NoError(t, corev1.AddToScheme(scheme))
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	deployments, services = map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}
	for _, file := range k.Resources {
		f, err := os.Open(file)
		require.NoError(t, err)
		docs := k8syaml.NewYAMLReader(bufio.NewReader(f))
		for {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			require.NoError(t, err, "%s", file)
			switch o := obj.(type) {
			case *appsv1.Deployment:
				deployments[o.Name] = o
			case *corev1.Service:
				services[o.Name] = o
			default:
				t.Errorf("%s: unexpected %T", file, obj)
			}
		}
		require.NoError(t, f.Close())
	}
	return deployments, services
}

// defaultPort builds a binary and reads the default of its -addr flag from
// its -h, so the check compares with the code, not with a copy of it.
func defaultPort(t *testing.T, cmd string) int32 {
	t.Helper()
	bin := proctest.Build(t, "github.com/gobookstore/grpc-microservices-go/ch04-kubernetes/cmd/"+cmd)[0]
	_, usage, _ := proctest.Run(t, bin, []string{"-h"})
	m := regexp.MustCompile(`(?s)-addr string.*?\(default ":(\d+)"\)`).FindStringSubmatch(usage)
	require.NotNil(t, m, "no -addr default in:\n%s", usage)
	port, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return int32(port)
}

func TestManifestsAgreeWithTheCode(t *testing.T) {
	deployments, services := manifests(t)
	require.Contains(t, deployments, "recommendations")
	require.Contains(t, deployments, "marketplace")
	ports := map[string]int32{}
	if testing.Short() {
		ports["recommendations"], ports["marketplace"] = 50051, 5000 // DESIGN's, unchecked
	} else {
		ports["recommendations"], ports["marketplace"] = defaultPort(t, "recommendations"), defaultPort(t, "marketplace")
	}
	compose := composeFile(t)

	for name, d := range deployments {
		t.Run(name, func(t *testing.T) {
			pod := d.Spec.Template
			assert.Equal(t, d.Spec.Selector.MatchLabels, selectorOf(pod.Labels, d.Spec.Selector.MatchLabels),
				"the Deployment's selector matches its pods' labels")
			require.Len(t, pod.Spec.Containers, 1)
			c := pod.Spec.Containers[0]
			assert.Equal(t, strings.ReplaceAll(compose.Services[name].Image, "${BOOKSTORE_TAG:-ch04}", "ch04"), c.Image,
				"the image the compose file builds")
			require.Len(t, c.Ports, 1)
			assert.Equal(t, ports[name], c.Ports[0].ContainerPort, "the binary's default port")

			// Probes: native gRPC health checking, or GET /healthz.
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				require.NotNil(t, p)
				if name == "recommendations" {
					require.NotNil(t, p.GRPC, "a gRPC probe")
					assert.Equal(t, ports[name], p.GRPC.Port)
				} else {
					require.NotNil(t, p.HTTPGet, "an HTTP probe")
					assert.Equal(t, "/healthz", p.HTTPGet.Path)
					assert.Equal(t, c.Ports[0].Name, p.HTTPGet.Port.String())
				}
			}
			// Environment: only names the code reads.
			for _, e := range c.Env {
				assert.Contains(t, []string{marketplace.HostEnv, "GOMEMLIMIT"}, e.Name)
				if e.Name == marketplace.HostEnv {
					assert.Contains(t, services, e.Value, "RECOMMENDATIONS_HOST names a Service")
				}
			}
			// Bounded, non-root, read-only.
			assert.False(t, c.Resources.Requests.Memory().IsZero())
			assert.False(t, c.Resources.Limits.Memory().IsZero())
			assert.False(t, c.Resources.Limits.Cpu().IsZero())
			require.NotNil(t, pod.Spec.SecurityContext)
			assert.Equal(t, ptr(true), pod.Spec.SecurityContext.RunAsNonRoot)
			require.NotNil(t, c.SecurityContext)
			assert.Equal(t, ptr(true), c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, ptr(false), c.SecurityContext.AllowPrivilegeEscalation)
			// The grace period outlasts the binary's own stop (its drain,
			// then its shutdown timeout), so Kubernetes never kills a pod
			// that is still stopping cleanly.
			require.NotNil(t, pod.Spec.TerminationGracePeriodSeconds)
			grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
			assert.Greater(t, grace, stopBound(t, name))
		})
	}
	require.NotNil(t, deployments["marketplace"].Spec.Replicas)
	assert.EqualValues(t, 3, *deployments["marketplace"].Spec.Replicas)

	// Each Service selects the pods of the Deployment of its name and
	// reaches the container's port.
	for name, svc := range services {
		d, ok := deployments[name]
		if !assert.True(t, ok, "Service %s has a Deployment", name) {
			continue
		}
		assert.Equal(t, svc.Spec.Selector, selectorOf(d.Spec.Template.Labels, svc.Spec.Selector))
		require.Len(t, svc.Spec.Ports, 1)
		assert.Equal(t, d.Spec.Template.Spec.Containers[0].Ports[0].Name, svc.Spec.Ports[0].TargetPort.String())
	}
	assert.Equal(t, corev1.ClusterIPNone, services["recommendations"].Spec.ClusterIP,
		"headless: the name resolves to every pod, for round robin")
	assert.EqualValues(t, marketplace.Port, strconv.Itoa(int(services["recommendations"].Spec.Ports[0].Port)),
		"the Marketplace always dials port 50051")
	assert.Equal(t, corev1.ServiceTypeLoadBalancer, services["marketplace"].Spec.Type)
}

func ptr[T any](v T) *T { return &v }

// stopBound reads how long a binary may take to stop from its main.go:
// the drain after it reports NOT_SERVING, plus its shutdown timeout.
func stopBound(t *testing.T, cmd string) time.Duration {
	t.Helper()
	src, err := os.ReadFile("../cmd/" + cmd + "/main.go")
	require.NoError(t, err)
	m := regexp.MustCompile(`const drain, shutdownTimeout = (\d+) \* time\.Second, (\d+) \* time\.Second`).FindSubmatch(src)
	require.NotNil(t, m, "no drain and shutdownTimeout in cmd/%s/main.go", cmd)
	var total time.Duration
	for _, n := range m[1:] {
		secs, err := strconv.Atoi(string(n))
		require.NoError(t, err)
		total += time.Duration(secs) * time.Second
	}
	return total
}

// selectorOf returns the labels among pod that selector names.
func selectorOf(pod, selector map[string]string) map[string]string {
	out := map[string]string{}
	for k := range selector {
		if v, ok := pod[k]; ok {
			out[k] = v
		}
	}
	return out
}

// compose is the part of docker-compose.yaml the checks read.
type compose struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		Networks    []string          `json:"networks"`
		Healthcheck struct {
			Test []string `json:"test"`
		} `json:"healthcheck"`
		Build struct {
			Context    string `json:"context"`
			Dockerfile string `json:"dockerfile"`
			Target     string `json:"target"`
		} `json:"build"`
	} `json:"services"`
}

func composeFile(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile("../docker-compose.yaml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(data, &c))
	return c
}

// The compose file: both services on one user-defined network, the
// Marketplace finding Recommendations by its service name, only the
// Marketplace's port published (so Recommendations can scale), a
// healthcheck each, built from the repository root.
func TestComposeFile(t *testing.T) {
	c := composeFile(t)
	require.Len(t, c.Services, 2)
	recs, mkt := c.Services["recommendations"], c.Services["marketplace"]
	assert.Equal(t, "recommendations", mkt.Environment[marketplace.HostEnv])
	assert.Empty(t, recs.Ports, "recommendations publishes no port, so it can run as several replicas")
	assert.Equal(t, []string{"${MARKETPLACE_PORT:-5000}:5000"}, mkt.Ports)
	for name, s := range c.Services {
		assert.Equal(t, []string{"bookstore"}, s.Networks, name)
		assert.Equal(t, "..", s.Build.Context, "%s: built from the repository root", name)
		assert.Equal(t, "ch04-kubernetes/Dockerfile", s.Build.Dockerfile)
		assert.Equal(t, name, s.Build.Target, "the Dockerfile's stage for %s", name)
		assert.Equal(t, "bookstore/"+name+":${BOOKSTORE_TAG:-ch04}", s.Image)
		require.NotEmpty(t, s.Healthcheck.Test, name)
		assert.Equal(t, []string{"CMD", "/healthcheck"}, s.Healthcheck.Test[:2], name)
	}
	assert.Equal(t, []string{"-grpc", "localhost:50051"}, recs.Healthcheck.Test[2:])
	assert.Equal(t, []string{"-http", "http://localhost:5000" + "/healthz"}, mkt.Healthcheck.Test[2:])
}

// The Dockerfile: the base images as build arguments whose defaults are
// the real ones; one build stage with the modules the binaries import
// downloaded in a layer of their own before the source is copied, static
// binaries; then a distroless stage per service, run as a non-root user,
// exposing the binary's default port.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	stages := map[string][]string{} // stage name -> its lines; "" before the first FROM
	var stage string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if from, ok := strings.CutPrefix(l, "FROM "); ok {
			image, name, _ := strings.Cut(from, " AS ")
			stage = name
			stages[stage] = []string{image}
			continue
		}
		stages[stage] = append(stages[stage], l)
	}
	assert.Equal(t, []string{"ARG GO_IMAGE=golang:1.26", "ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot"}, stages[""])

	build := stages["build"]
	require.NotEmpty(t, build)
	assert.Equal(t, "${GO_IMAGE}", build[0])
	at := func(line string) int {
		i := slices.Index(build, line)
		assert.GreaterOrEqual(t, i, 0, "no line %q in the build stage", line)
		return i
	}
	// The modules downloaded are those the binaries import, no more.
	download := slices.IndexFunc(build, func(l string) bool { return strings.HasPrefix(l, `RUN ["go", "mod", "download"`) })
	require.GreaterOrEqual(t, download, 0, "a go mod download step")
	if !testing.Short() {
		var argv []string
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(build[download], "RUN ")), &argv))
		cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}",
			"../cmd/recommendations", "../cmd/marketplace", "../cmd/healthcheck")
		out, err := cmd.Output()
		require.NoError(t, err)
		var mods []string
		for _, m := range strings.Fields(string(out)) {
			if !slices.Contains(mods, m) {
				mods = append(mods, m)
			}
		}
		assert.ElementsMatch(t, mods, argv[3:], "the modules the binaries import")
	}
	assert.Less(t, at("COPY go.mod go.sum ./"), download)
	assert.Less(t, download, at("COPY . ."), "modules before the source")
	assert.Less(t, at("ENV CGO_ENABLED=0"), at(`RUN ["go", "build", "-trimpath", "-o", "/out/", "./ch04-kubernetes/cmd/recommendations", "./ch04-kubernetes/cmd/marketplace", "./ch04-kubernetes/cmd/healthcheck"]`))

	for name, port := range map[string]string{"recommendations": "50051", "marketplace": "5000"} {
		assert.Equal(t, []string{
			"${RUNTIME_IMAGE}",
			"COPY --from=build /out/" + name + " /out/healthcheck /",
			"USER 65532:65532",
			"EXPOSE " + port,
			`ENTRYPOINT ["/` + name + `"]`,
		}, stages[name])
	}
}
