// Package k8s_test checks chapter 6's Kubernetes manifests without a
// cluster, as chapter 4's test does: they decode strictly into the API's own
// types, and name the flags, ports, probes, stop bounds and certificate
// files the binaries and cmd/gencerts really have.
package k8s_test

import (
	"crypto/tls"
	"maps"
	"net"
	"os"
	"path"
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
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/gobookstore/grpc-microservices-go/ch06-best-practices/marketplace"
	"github.com/gobookstore/grpc-microservices-go/internal/proctest"
)

func TestMain(m *testing.M) { proctest.VerifyTestMain(m) }

const cmd = "github.com/gobookstore/grpc-microservices-go/ch06-best-practices/cmd/"

type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	budgets     map[string]*policyv1.PodDisruptionBudget
}

// manifests decodes every document of every file the kustomization lists,
// strictly: an unknown or duplicated field is an error, where a lenient
// decoder would silently drop a misspelt one.
func manifests(t *testing.T) objects {
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

	scheme, kinds := runtime.NewScheme(), runtime.NewSchemeBuilder(appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme)
	require.NoError(t, kinds.AddToScheme(scheme))
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	o := objects{map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*policyv1.PodDisruptionBudget{}}
	for _, file := range k.Resources {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(data), -1) {
			obj, _, err := decoder.Decode([]byte(doc), nil, nil)
			require.NoError(t, err, "%s", file)
			switch obj := obj.(type) {
			case *appsv1.Deployment:
				o.deployments[obj.Name] = obj
			case *corev1.Service:
				o.services[obj.Name] = obj
			case *policyv1.PodDisruptionBudget:
				o.budgets[obj.Name] = obj
			default:
				t.Errorf("%s: unexpected %T", file, obj)
			}
		}
	}
	require.Contains(t, o.deployments, "recommendations")
	require.Contains(t, o.deployments, "marketplace")
	return o
}

// selects reports whether s, which must select something, selects pod's labels.
func selects(t *testing.T, s *metav1.LabelSelector, pod map[string]string) bool {
	selector, err := metav1.LabelSelectorAsSelector(s)
	require.NoError(t, err)
	return !selector.Empty() && selector.Matches(labels.Set(pod))
}

func ptr[T any](v T) *T { return &v }

// What holds whatever the binaries' flags: rollouts and budgets keep pods
// ready, the pods run the Dockerfile's images unprivileged, the key
// material is read-only and each pod's own, and the Services find the pods.
func TestManifests(t *testing.T) {
	o := manifests(t)
	dockerfile, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	images := map[string]string{} // what the Dockerfile's comment tags each target
	for _, m := range regexp.MustCompile(`--target (\S+) -t (\S+) \.`).FindAllStringSubmatch(string(dockerfile), -1) {
		images[m[1]] = m[2]
	}
	for name, d := range o.deployments {
		t.Run(name, func(t *testing.T) {
			pod := d.Spec.Template
			assert.True(t, selects(t, d.Spec.Selector, pod.Labels), "the Deployment selects its pods")
			require.NotNil(t, d.Spec.Strategy.RollingUpdate)
			assert.Equal(t, ptr(intstr.FromInt32(0)), d.Spec.Strategy.RollingUpdate.MaxUnavailable, "a rollout never lowers the ready replicas")
			if name == "recommendations" { // the Marketplace finds its pods in DNS, at most every 30 s
				replicas := int32(1)
				if d.Spec.Replicas != nil {
					replicas = *d.Spec.Replicas
				}
				assert.GreaterOrEqual(t, time.Duration(replicas-1)*time.Duration(d.Spec.MinReadySeconds)*time.Second, 35*time.Second,
					"the last old pod outlives the first new one by more than a DNS refresh")
			}

			// One budget selects the pods, and lets a drain evict some but not all.
			var budgets []policyv1.PodDisruptionBudgetSpec
			for _, b := range o.budgets {
				if selects(t, b.Spec.Selector, pod.Labels) {
					budgets = append(budgets, b.Spec)
				}
			}
			require.Len(t, budgets, 1, "PodDisruptionBudgets that select the pods")
			require.NotNil(t, d.Spec.Replicas)
			require.NotNil(t, budgets[0].MaxUnavailable, "maxUnavailable: unlike minAvailable, it still allows one when scaled")
			replicas := int(*d.Spec.Replicas)
			allowed, err := intstr.GetScaledValueFromIntOrPercent(budgets[0].MaxUnavailable, replicas, true)
			require.NoError(t, err)
			assert.True(t, 1 <= allowed && allowed < replicas, "%d of %d pods may be evicted at once", allowed, replicas)

			// Unprivileged and read-only, as in chapter 4; no API token.
			require.NotNil(t, pod.Spec.SecurityContext)
			assert.Equal(t, ptr(true), pod.Spec.SecurityContext.RunAsNonRoot)
			assert.Equal(t, ptr(false), pod.Spec.AutomountServiceAccountToken)
			require.Len(t, pod.Spec.Containers, 1)
			c := pod.Spec.Containers[0]
			assert.Equal(t, images[name], c.Image, "the image the Dockerfile builds")
			require.NotNil(t, c.SecurityContext)
			assert.Equal(t, ptr(true), c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, ptr(false), c.SecurityContext.AllowPrivilegeEscalation)
			require.NotNil(t, c.SecurityContext.Capabilities)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
			assert.False(t, c.Resources.Limits.Memory().IsZero())
			assert.False(t, c.Resources.Limits.Cpu().IsZero())

			// Secrets: the files listed (never the whole Secret), no CA key,
			// no other pod's key; mounted whole and read-only, so renewals show.
			for _, v := range pod.Spec.Volumes {
				if v.Secret == nil {
					continue
				}
				require.NotEmpty(t, v.Secret.Items, "volume %s lists the Secret's files it takes", v.Name)
				assert.Equal(t, ptr(int32(0o440)), v.Secret.DefaultMode, "readable by the owner and fsGroup alone")
				for _, item := range v.Secret.Items {
					assert.NotEqual(t, "ca.key", item.Key, "the CA's key signs certificates: no pod holds it")
					if strings.HasSuffix(item.Key, ".key") {
						assert.Equal(t, name+".key", item.Key, "a pod holds its own key only")
					}
				}
			}
			for _, m := range c.VolumeMounts {
				assert.True(t, m.ReadOnly, "%s is read-only", m.Name)
				assert.Empty(t, m.SubPath, "%s: the kubelet never updates a subPath's files", m.Name)
			}
		})
	}

	// Recommendations is headless, for round robin, on the port the
	// Marketplace dials; each Service selects its Deployment's pods.
	require.Contains(t, o.services, "recommendations")
	recs := o.services["recommendations"].Spec
	assert.Equal(t, corev1.ClusterIPNone, recs.ClusterIP, "headless: the name resolves to every pod")
	require.Len(t, recs.Ports, 1)
	assert.Equal(t, marketplace.Port, strconv.Itoa(int(recs.Ports[0].Port)), "the Marketplace always dials this port")
	for name, svc := range o.services {
		require.Contains(t, o.deployments, name, "Service %s has a Deployment of its name", name)
		s := &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}
		assert.True(t, selects(t, s, o.deployments[name].Spec.Template.Labels), "Service %s selects its pods", name)
	}
}

// flags runs a built binary's -h, reads each flag's default from it, and
// applies the container's args (-name=value, as the manifests write them)
// over them. An arg the binary does not define fails, as it would at start.
func flags(t *testing.T, bin string, args []string) map[string]string {
	t.Helper()
	_, usage, code := proctest.Run(t, bin, []string{"-h"})
	require.Zero(t, code, usage)
	values := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  -([\w-]+).*\n\s+.*?(?:\(default (.+)\))?$`).FindAllStringSubmatch(usage, -1) {
		if s, err := strconv.Unquote(m[2]); err == nil {
			m[2] = s
		}
		values[m[1]] = m[2]
	}
	require.Contains(t, values, "addr", "no -addr in:\n%s", usage)
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		require.True(t, ok, "%q: write -name=value", a)
		require.Contains(t, values, name, "%q: the binary has no such flag", a)
		values[name] = value
	}
	return values
}

// port returns the port of a listen address, which must not name a host.
func port(t *testing.T, addr string) int32 {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	assert.Empty(t, host, "%s: listens on every interface, where the kubelet's probes arrive", addr)
	n, err := strconv.ParseInt(p, 10, 32)
	require.NoError(t, err)
	return int32(n)
}

// What the binaries decide: the flags they take, the ports they listen on,
// the health they serve, how long they take to stop, the files they read,
// and the names in the server certificate gencerts makes.
func TestManifestsAgreeWithTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries to read their flags")
	}
	o := manifests(t)
	bins := proctest.Build(t, cmd+"recommendations", cmd+"marketplace", cmd+"gencerts")
	certs := t.TempDir()
	out, errOut, code := proctest.Run(t, bins[2], []string{"-dir", certs})
	require.Zero(t, code, out+errOut)
	server, err := tls.LoadX509KeyPair(filepath.Join(certs, "recommendations.crt"), filepath.Join(certs, "recommendations.key"))
	require.NoError(t, err)

	for i, name := range []string{"recommendations", "marketplace"} {
		t.Run(name, func(t *testing.T) {
			pod := o.deployments[name].Spec.Template.Spec
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			f := flags(t, bins[i], c.Args)

			// Ports: the container declares exactly those the binary listens on.
			var listens, declared []int32
			for flag, addr := range f {
				if strings.HasSuffix(flag, "addr") && addr != "" {
					listens = append(listens, port(t, addr))
				}
			}
			named := map[string]int32{}
			for _, p := range c.Ports {
				declared, named[p.Name] = append(declared, p.ContainerPort), p.ContainerPort
			}
			assert.ElementsMatch(t, listens, declared, "the ports %s listens on", name)
			target := func(p intstr.IntOrString) int32 { // a port by number or by name
				if p.Type == intstr.Int {
					return p.IntVal
				}
				return named[p.StrVal]
			}
			require.Contains(t, o.services, name)
			assert.Equal(t, port(t, f["addr"]), target(o.services[name].Spec.Ports[0].TargetPort), "the Service's target")

			// Probes: gRPC health on the plaintext port (the main one asks
			// the kubelet for a certificate it has not got), or GET /healthz.
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				require.NotNil(t, p)
				if name == "recommendations" {
					require.NotNil(t, p.GRPC, "a gRPC probe")
					require.NotEmpty(t, f["health-addr"], "a plaintext health port")
					assert.Equal(t, port(t, f["health-addr"]), p.GRPC.Port)
				} else {
					require.NotNil(t, p.HTTPGet, "an HTTP probe")
					assert.Equal(t, "/healthz", p.HTTPGet.Path)
					assert.Equal(t, port(t, f["addr"]), target(p.HTTPGet.Port), "the web server's port")
				}
			}

			// SIGKILL comes after the preStop hook, the drain and the
			// shutdown bound: never in the middle of a clean stop.
			drain, err := time.ParseDuration(f["drain"])
			require.NoError(t, err)
			timeout, err := time.ParseDuration(f["shutdown-timeout"])
			require.NoError(t, err)
			stop := drain + timeout
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				stop += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			assert.Greater(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, stop)

			// mTLS: the three files the flags name are the Secret's files
			// mounted, no more, and gencerts writes each of them.
			secrets, mounted := map[string][]corev1.KeyToPath{}, map[string]string{} // path in the container -> the Secret's key
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					secrets[v.Name] = v.Secret.Items
				}
			}
			for _, m := range c.VolumeMounts {
				for _, item := range secrets[m.Name] {
					mounted[path.Join(m.MountPath, item.Path)] = item.Key
				}
			}
			files := []string{f["tls-cert"], f["tls-key"], f["tls-ca"]}
			require.NotContains(t, files, "", "mutual TLS: all three -tls-* flags")
			assert.ElementsMatch(t, files, slices.Collect(maps.Keys(mounted)), "the files -tls-* name")
			for _, key := range mounted {
				assert.FileExists(t, filepath.Join(certs, key), "a file gencerts writes")
			}

			// The Marketplace dials the recommendations Service by a name the
			// server's certificate holds, or the handshake fails.
			env := map[string]string{}
			for _, e := range c.Env {
				assert.Contains(t, []string{marketplace.HostEnv, "GOMEMLIMIT"}, e.Name, "a variable the code reads")
				env[e.Name] = e.Value
			}
			if name == "marketplace" {
				assert.Contains(t, o.services, env[marketplace.HostEnv], "$%s names a Service", marketplace.HostEnv)
				assert.Contains(t, server.Leaf.DNSNames, env[marketplace.HostEnv], "a name in the certificate gencerts makes")
			}
		})
	}
}
